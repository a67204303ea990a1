"""Write the published files from a results directory (the impure edge of the renderers), and fold
a sharded run's per-shard results files into one compact file per env."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserInputError
from .compact import compact_text
from .expected import read_records
from .html import render_html
from .jsonout import render_json
from .markdown import render_markdown
from .results import Results, load_results

SHARD_GLOB = "*.shard-*.jsonl"  # <env>.shard-I-of-N.jsonl, what ``pytest matrix/ --shard I/N`` writes

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


def consolidate(results: Results, results_dir: str | Path) -> tuple[list[Path], list[Path]]:
    """Write each env's merged rows to ``results_dir/<env>.jsonl`` (compact) and remove the shard
    files they came from; returns (written, removed)."""
    directory = Path(results_dir)
    shards = sorted(directory.glob(SHARD_GLOB))
    written = []
    for env in results.envs():
        path = directory / f"{env}.jsonl"
        write_atomic(path, compact_text(r for r in results.rows if r.env == env))
        written.append(path)
    for path in shards:
        path.unlink()
    return written, shards


@dataclass
class Rendered:
    """What ``modelexport matrix render`` did."""

    results: Results
    written: list[Path] = field(default_factory=list)
    consolidated: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)


def cli_render(
    results_dir: str | Path,
    out_dir: str | Path,
    expected_dir: str | Path | None = None,
    *,
    fold_shards: bool = False,
) -> Rendered:
    """Merge ``results_dir/*.jsonl`` (shard files too), compare with the records under
    ``expected_dir``, and write the published matrix into ``out_dir``."""
    source = Path(results_dir)
    if not source.is_dir():
        raise UserInputError(f"no results directory at {source}.", hint="run the matrix first (tox -e ...).")
    results = load_results([source])
    if not results.rows:
        raise UserInputError(f"no results rows in {source}/*.jsonl.", hint="run the matrix first.")
    results = results.with_expected(read_records(expected_dir, results.envs()))
    done = Rendered(results, write_reports(results, out_dir))
    if fold_shards:
        done.consolidated, done.removed = consolidate(results, source)
    return done
