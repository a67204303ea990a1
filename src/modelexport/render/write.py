"""Write the three published files from a results directory (the impure edge of the renderers)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import UserInputError
from .html import render_html
from .jsonout import render_json
from .markdown import render_markdown
from .results import Results, load_results

OUTPUTS = {"RESULTS.md": render_markdown, "results.json": render_json, "index.html": render_html}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file and rename, so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; published files are world-readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(results: Results, out_dir: str | Path) -> list[Path]:
    """Render ``results`` into RESULTS.md, results.json and index.html under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, render in OUTPUTS.items():
        write_atomic(out / name, render(results))
        written.append(out / name)
    return written


def cli_render(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Merge ``results_dir/*.jsonl`` and write the published matrix into ``out_dir``."""
    source = Path(results_dir)
    if not source.is_dir():
        raise UserInputError(f"no results directory at {source}.", hint="run the matrix first (tox -e ...).")
    results = load_results([source])
    if not results.rows:
        raise UserInputError(f"no results rows in {source}/*.jsonl.", hint="run the matrix first.")
    return write_reports(results, out_dir)
