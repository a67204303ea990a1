"""The matrix harness as ratios within one run: overhead, shard balance, shards against one run.

    python benchmarks/bench_matrix.py run [PYTEST ARGS]        # harness overhead of one run (<= 10 %)
    python benchmarks/bench_matrix.py shards [--count 2] [PYTEST ARGS]
                                   # the run unsharded (and its overhead), then its shards one after
                                   # the other (<= 10 % apart)
    python benchmarks/bench_matrix.py balance [--count 8]      # predicted shard balance (<= 1.15 x mean)
    python benchmarks/bench_matrix.py startup [--rounds 3]     # a run's fixed start-up (the plan's setup)
    python benchmarks/bench_matrix.py summarize FILE.jsonl     # figures from a finished run's rows

``run`` times ``pytest -n auto matrix/`` (with the arguments given, e.g. ``--shard 1/4`` or ``-k``)
writing its rows to a temporary directory (the published results are not touched), and reports
the harness overhead ``(wall x workers - sum of export seconds) / (wall x workers)``: everything a
worker spends besides exporting (start-up, fork, the checks, idle at the end), and where it went.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def load_rows(path: Path) -> list:
    from modelexport.render.compact import read_rows

    return read_rows(path)


def breakdown(rows: list) -> dict[str, object]:
    """Summed export and whole-cell seconds per column."""
    export: dict[str, float] = defaultdict(float)
    cell: dict[str, float] = defaultdict(float)
    for row in rows:
        export[row.column] += row.export.seconds or 0.0
        cell[row.column] += row.seconds or 0.0
    return {
        "export_seconds": {k: round(v, 1) for k, v in export.items()},
        "cell_seconds": {k: round(v, 1) for k, v in cell.items()},
    }


def overhead(wall: float, workers: int, rows: list) -> dict[str, object]:
    """The harness overhead of a run and its parts, as fractions of wall x workers."""
    capacity = wall * workers
    exports = sum(r.export.seconds or 0.0 for r in rows)
    cells = sum(r.seconds or 0.0 for r in rows)
    return {
        "wall_seconds": round(wall, 1),
        "workers": workers,
        "cells": len(rows),
        "sum_export_seconds": round(exports, 1),
        "sum_cell_seconds": round(cells, 1),
        "overhead": round((capacity - exports) / capacity, 4),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "target": 0.10,
        "in_cells_besides_export": round((cells - exports) / capacity, 4),
        "outside_cells": round((capacity - cells) / capacity, 4),
        **breakdown(rows),
    }


def workers() -> int:
    return os.cpu_count() or 1  # what -n auto starts


def timed_run(pytest_args: list[str], results: Path) -> tuple[float, list]:
    """Run the matrix (rows into ``results``), return its wall time and rows."""
    # Named as the env this venv matches, so the recorded times and the record of optimum-latest apply;
    # the rows go to a temporary directory, never to matrix/results.
    env = dict(os.environ, MODELEXPORT_MATRIX_RESULTS=str(results))
    env.setdefault("MODELEXPORT_MATRIX_ENV", "optimum-latest")
    env.setdefault("MODELEXPORT_MATRIX_EXPECTED", str(ROOT / "matrix" / "expected"))
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-n",
        "auto",
        "--dist",
        "loadgroup",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    targets = [] if any(a.startswith("matrix/") for a in pytest_args) else ["matrix/"]
    start = time.perf_counter()
    subprocess.run([*command, *targets, *pytest_args], cwd=ROOT, env=env, check=False)
    wall = time.perf_counter() - start
    rows = [row for path in sorted(results.glob("*.jsonl")) for row in load_rows(path)]
    return wall, rows


def run(pytest_args: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
        wall, rows = timed_run(pytest_args, Path(tmp))
    figures = {
        "what": f"pytest -n auto matrix/ {' '.join(pytest_args)}".strip(),
        **overhead(wall, workers(), rows),
    }
    print(json.dumps(figures, indent=2))
    return figures


def shards(count: int, pytest_args: list[str]) -> dict[str, object]:
    """The same cells unsharded, then as ``count`` shards one after the other."""
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        whole, rows = timed_run(pytest_args, Path(tmp) / "whole")
        parts = []
        for index in range(1, count + 1):
            wall, part_rows = timed_run(
                [*pytest_args, "--shard", f"{index}/{count}"], Path(tmp) / f"s{index}"
            )
            parts.append((wall, len(part_rows)))
    figures = {
        "what": f"matrix/ {' '.join(pytest_args)}: unsharded, then {count} shards in turn",
        "unsharded_seconds": round(whole, 1),
        "unsharded_cells": len(rows),
        "shard_seconds": [round(w, 1) for w, _ in parts],
        "shard_cells": [n for _, n in parts],
        "shards_over_unsharded": round(sum(w for w, _ in parts) / whole, 3),
        "target": "within 10 %",
        "unsharded_overhead": overhead(whole, workers(), rows),
    }
    print(json.dumps(figures, indent=2))
    return figures


def balance(count: int, envs: list[str]) -> dict[str, object]:
    """Predicted shard times at ``count`` shards from the committed results, per env."""
    from modelexport.matrix.cases import build_cases
    from modelexport.matrix.plan import plan_env
    from modelexport.matrix.timing import CellTimes
    from modelexport.render import load_results

    results = load_results([ROOT / "matrix" / "results"])
    times, cases = CellTimes.from_rows(results.rows), build_cases()
    figures: dict[str, object] = {"what": f"predicted shards at N = {count}", "target": 1.15}
    for env in envs or results.envs():
        plan = plan_env(env, cases, times, count, workers(), setup=0.0)
        work = [s.work_seconds for s in plan.shards]
        walls = [s.wall_seconds for s in plan.shards]
        figures[env] = {
            "slowest_over_mean_work": round(max(work) / (sum(work) / count), 4),
            "slowest_over_mean_wall": round(max(walls) / (sum(walls) / count), 4),
            "shard_work_seconds": [round(w, 1) for w in work],
        }
    print(json.dumps(figures, indent=2))
    return figures


def startup(rounds: int) -> dict[str, object]:
    """A run's fixed cost: the wall of ``pytest -n auto`` on one fast cell less that cell's seconds."""
    cell = "matrix/test_matrix.py::test_cell[convnext-image-classification-torchscript]"
    found = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
            wall, rows = timed_run([cell], Path(tmp))
        found.append(wall - sum(r.seconds or 0.0 for r in rows))
    figures = {"what": f"start-up of pytest -n auto matrix/ (one {cell.split('[')[1][:-1]} cell)"}
    figures |= {
        "startup_seconds": [round(s, 1) for s in found],
        "median": round(sorted(found)[len(found) // 2], 1),
        "load_average": [round(x, 1) for x in os.getloadavg()],  # the machine is shared: say how busy
    }
    print(json.dumps(figures, indent=2))
    return figures


def summarize(path: Path) -> None:
    rows = load_rows(path)
    times = sorted(datetime.fromisoformat(r.utc.replace("Z", "+00:00")) for r in rows if r.utc)
    wall = (times[-1] - times[0]).total_seconds() if len(times) > 1 else 0.0
    figures = {"what": f"rows of {path.name} (first to last completion: a lower bound of the wall)"}
    print(json.dumps({**figures, **overhead(wall, workers(), rows)}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("run", help="overhead of one matrix run here; other arguments go to pytest")
    shards_p = sub.add_parser(
        "shards", help="unsharded against its shards in turn; other arguments go to pytest"
    )
    shards_p.add_argument("--count", type=int, default=2)
    balance_p = sub.add_parser("balance", help="predicted shard balance from the committed results")
    balance_p.add_argument("--count", type=int, default=8)
    balance_p.add_argument("--env", action="append", default=[])
    startup_p = sub.add_parser("startup", help="a run's fixed start-up: one fast cell")
    startup_p.add_argument("--rounds", type=int, default=3)
    sum_p = sub.add_parser("summarize", help="figures from a results .jsonl")
    sum_p.add_argument("results", type=Path)
    args, pytest_args = parser.parse_known_args()
    if args.mode not in ("run", "shards") and pytest_args:
        parser.error(f"unrecognized arguments: {' '.join(pytest_args)}")
    if args.mode == "run":
        run(pytest_args)
    elif args.mode == "shards":
        shards(args.count, pytest_args)
    elif args.mode == "balance":
        balance(args.count, args.env)
    elif args.mode == "startup":
        startup(args.rounds)
    else:
        summarize(args.results)


if __name__ == "__main__":
    main()
