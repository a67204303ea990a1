"""Do the hierarchy tags survive what users do next, and are they right? Every zoo row of this env.

Run: ``python benchmarks/bench_tag_survival.py [--out results.jsonl] [--only bert,gpt2]
[--rows bert:text-classification,t5:text2text-generation-with-past] [--backends torchscript,dynamo]``
(``--only``: every task of those architectures; ``--rows``: those rows only). For every zoo (architecture, task), each backend exports it
(modelexport.run_export), then:

* the cell's tag checks (:func:`modelexport.matrix.tag_checks.check_tags`, with the other
  backend's export for the weight-op agreement);
* each ONNX file goes through ONNX Runtime's graph optimizations saved to disk
  (``optimized_model_filepath``, basic and extended levels), ``onnxruntime.transformers.optimizer``
  (the model's own fusion type where ORT has one, else ``bert``; Python fusions only, opt_level 0),
  ``onnxruntime.quantization.quantize_dynamic``, and, for encoder-decoders, Optimum's
  ``merge_decoders`` of the two decoder files. The share of nodes carrying every ``modelexport.*``
  key and ``namespace`` is measured as the tool wrote the file and after
  :func:`modelexport.hierarchy.restore_tags`.

One JSON line per (row, backend) goes to ``--out``; a Markdown summary to stdout
(``--table`` reads a results file back and prints the tables without running anything).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from modelexport import run_export
from modelexport.hierarchy.survival import TOOLS, error_text
from modelexport.loading import load
from modelexport.matrix.cell_records import measure_export
from modelexport.matrix.tag_checks import check_tags
from modelexport.zoo import cached_build, list_archs


def run_row(name: str, task: str, backends: list[str], work: Path) -> list[dict[str, Any]]:
    source = cached_build(name, task)
    exports: dict[str, Path] = {}
    rows: dict[str, dict[str, Any]] = {}
    for backend in backends:
        out = work / f"{name}-{task}-{backend}"
        row: dict[str, Any] = {"model": name, "task": task, "backend": backend}
        started = time.perf_counter()
        try:
            run_export(str(source), out, task=task, exporter=backend, force=True)
            exports[backend] = out
        except Exception as e:
            row["export_error"] = error_text(e)
        row["export_seconds"] = round(time.perf_counter() - started, 2)
        rows[backend] = row
    model = load(str(source), task).model if exports else None
    for backend, out in exports.items():
        others = [b for b in exports if b != backend]
        other = exports[others[0]] if others else None
        rows[backend]["tag_check"] = check_tags(out, model, other).to_json()
        rows[backend]["survival"] = measure_export(out, source, task, backend)
    for out in exports.values():
        shutil.rmtree(out, ignore_errors=True)
    return list(rows.values())


def _share(records: dict[str, Any], key: str) -> str:
    good = [r for r in records.values() if "error" not in r]
    if not records:
        return "n/a"
    if not good:
        return "error"
    nodes = sum(r["nodes"] for r in good)
    value = sum(r[key] * r["nodes"] for r in good) / max(nodes, 1)
    return f"{value:.0%}" + ("*" if len(good) < len(records) else "")


def table(rows: list[dict[str, Any]]) -> list[str]:
    """Per row and backend: survival before -> after restore_tags, per tool."""
    header = ["model", "task", "backend", "tag check", *TOOLS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if "export_error" in row:
            lines.append(
                f"| {row['model']} | {row['task']} | {row['backend']} | export failed | "
                + " | ".join("" for _ in TOOLS)
                + " |"
            )
            continue
        check = row["tag_check"]
        verdict = "ok" if check["ok"] else f"FAIL: {check['error']}"
        cells = []
        for tool in TOOLS:
            records = row["survival"][tool]
            cells.append(
                "n/a" if not records else f"{_share(records, 'before')} → {_share(records, 'after')}"
            )
        lines.append(
            f"| {row['model']} | {row['task']} | {row['backend']} | {verdict} | " + " | ".join(cells) + " |"
        )
    return lines


def totals(rows: list[dict[str, Any]]) -> list[str]:
    """Node-weighted survival per tool and backend over every row, and the tag-check tally."""
    lines = ["| backend | tag checks ok | " + " | ".join(TOOLS) + " |", "|" + "---|" * (len(TOOLS) + 2)]
    for backend in sorted({r["backend"] for r in rows}):
        mine = [r for r in rows if r["backend"] == backend and "export_error" not in r]
        ok = sum(1 for r in mine if r["tag_check"]["ok"])
        cells = []
        for tool in TOOLS:
            merged = {
                f"{r['model']}-{r['task']}-{f}": v for r in mine for f, v in r["survival"][tool].items()
            }
            cells.append(f"{_share(merged, 'before')} → {_share(merged, 'after')} ({len(merged)} files)")
        lines.append(f"| {backend} | {ok}/{len(mine)} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tag-survival.jsonl"))
    parser.add_argument("--only", default="", help="comma-separated architecture names")
    parser.add_argument("--rows", default="", help="comma-separated architecture:task rows")
    parser.add_argument("--backends", default="torchscript,dynamo")
    parser.add_argument("--table", action="store_true", help="print the tables of --out and exit")
    args = parser.parse_args()
    if not args.table:
        torch.set_num_threads(1)
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        only = {n for n in args.only.split(",") if n}
        wanted = {tuple(r.split(":", 1)) for r in args.rows.split(",") if r}
        done = set()
        if args.out.is_file():  # resume: rows already measured are kept
            done = {(r["model"], r["task"]) for r in map(json.loads, args.out.read_text().splitlines())}
        backends = args.backends.split(",")
        with tempfile.TemporaryDirectory() as tmp, args.out.open("a") as sink:
            for spec in list_archs():
                for task in spec.tasks:
                    skipped = (only and spec.name not in only) or (wanted and (spec.name, task) not in wanted)
                    if skipped or (spec.name, task) in done:
                        continue
                    try:
                        rows = run_row(spec.name, task, backends, Path(tmp))
                    except Exception:
                        traceback.print_exc()
                        continue
                    for row in rows:
                        sink.write(json.dumps(row) + "\n")
                    sink.flush()
                    print(f"{spec.name} {task}: done", file=sys.stderr, flush=True)
    rows = [json.loads(line) for line in args.out.read_text().splitlines()]
    print("\n".join(totals(rows)))
    print()
    print("\n".join(table(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
