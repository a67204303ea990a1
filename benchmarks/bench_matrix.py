"""Wall time and throughput of the compatibility matrix for one env (target: <= 10 min).

Two modes:

    python benchmarks/bench_matrix.py run [--rows F] [-k EXPR]  # time `pytest -n auto matrix/` here, now
    python benchmarks/bench_matrix.py summarize FILE.jsonl  # figures from a finished run's rows

``run`` writes its rows to a temporary directory (the published results are not touched) and
reports wall time, cells per minute and where the time went (summed export seconds per exporter and
backend). ``summarize`` reads a results file written by ``tox -e <env>`` and reports the same
figures, with the wall time spanned by the rows' completion times (a lower bound of the run's wall
time: it leaves out start-up before the first cell finished).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def breakdown(rows: list[dict]) -> dict[str, object]:
    """Cell counts by status and summed export seconds per (exporter, backend)."""
    export_seconds: dict[str, float] = defaultdict(float)
    cells: dict[str, int] = defaultdict(int)
    for row in rows:
        key = f"{row['exporter']}/{row['backend']}"
        cells[key] += 1
        export_seconds[key] += float((row.get("export") or {}).get("seconds") or 0.0)
    return {
        "cells_by_exporter": dict(cells),
        "export_seconds": {k: round(v, 1) for k, v in export_seconds.items()},
    }


def report(title: str, wall: float, rows: list[dict]) -> dict[str, object]:
    figures = {
        "what": title,
        "wall_seconds": round(wall, 1),
        "wall_minutes": round(wall / 60, 2),
        "cells": len(rows),
        "cells_per_minute": round(len(rows) / (wall / 60), 1) if wall else None,
        "target_minutes": 10,
        **breakdown(rows),
    }
    print(json.dumps(figures, indent=2))
    return figures


def run(pytest_args: list[str], keep_rows: Path | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
        env = dict(os.environ, MODELEXPORT_MATRIX_RESULTS=tmp, MODELEXPORT_MATRIX_ENV="bench")
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "auto",
            "-q",
            "-p",
            "no:cacheprovider",
            "matrix/",
            *pytest_args,
        ]
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, check=False)
        wall = time.perf_counter() - start
        rows = load_rows(Path(tmp) / "bench.jsonl")
        if keep_rows:
            shutil.copyfile(Path(tmp) / "bench.jsonl", keep_rows)
    report(f"pytest -n auto matrix/ {' '.join(pytest_args)}".strip(), wall, rows)


def summarize(path: Path) -> None:
    rows = load_rows(path)
    times = sorted(datetime.fromisoformat(r["utc"].replace("Z", "+00:00")) for r in rows if r.get("utc"))
    wall = (times[-1] - times[0]).total_seconds() if len(times) > 1 else 0.0
    report(f"rows of {path.name} (first to last completion)", wall, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    run_p = sub.add_parser("run", help="time a matrix run in this environment; other arguments go to pytest")
    run_p.add_argument("--rows", type=Path, help="keep the run's rows in this .jsonl file")
    sum_p = sub.add_parser("summarize", help="figures from a results .jsonl")
    sum_p.add_argument("results", type=Path)
    args, pytest_args = parser.parse_known_args()
    if args.mode == "run":
        run(pytest_args, args.rows)
    elif pytest_args:
        parser.error(f"unrecognized arguments: {' '.join(pytest_args)}")
    else:
        summarize(args.results)


if __name__ == "__main__":
    main()
