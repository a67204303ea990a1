"""The matrix planned on N runners from the recorded cell times: the zoo today, and grown to a
number of model × task rows when the zoo has fewer (three times the 168 rows the committed results
time: 504).

    python benchmarks/bench_plan.py [--runners 20] [--rows 504]

The zoo's own cells come first; to reach ``--rows``, copies of its first model × task groups are
added (``bert`` -> ``bert-x1``), each with its original's recorded time. Cells never timed take
their column's median (``modelexport.matrix.timing``). Target: <= 15 min predicted wall for all
envs on 20 runners. The same planner as ``modelexport matrix plan``: jobs queue longest first,
20 at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from modelexport.matrix.cases import Case, build_cases  # noqa: E402
from modelexport.matrix.plan import SETUP_SECONDS, allocate, format_plan, plan_env, queued_wall  # noqa: E402
from modelexport.matrix.timing import CellTimes  # noqa: E402
from modelexport.render import load_results  # noqa: E402


def grown(cases: list[Case], times: CellTimes, rows: int) -> tuple[list[Case], CellTimes]:
    """``cases`` with copies of its first groups added until it has ``rows`` model x task rows."""
    groups = list(dict.fromkeys((c.model, c.task) for c in cases))
    out, recorded = list(cases), dict(times.recorded)
    envs = {env for env, _ in times.recorded}
    for n in range(max(0, rows - len(groups))):
        model, task = groups[n % len(groups)]
        for case in (c for c in cases if (c.model, c.task) == (model, task)):
            copy = replace(case, model=f"{case.model}-x{n // len(groups) + 1}")
            out.append(copy)
            for env in envs:
                if (env, case.id) in times.recorded:
                    recorded[(env, copy.id)] = times.recorded[(env, case.id)]
    return out, CellTimes(recorded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rows", type=int, default=504, help="model x task rows to grow the zoo to")
    args = parser.parse_args()
    results = load_results([ROOT / "matrix" / "results"])
    envs, base_cases, base_times = results.envs(), build_cases(), CellTimes.from_rows(results.rows)
    summary = {"runners": args.runners, "workers": args.workers, "setup_seconds": SETUP_SECONDS}
    today = len({(c.model, c.task) for c in base_cases})
    sizes = [("zoo today", today)] + (
        [(f"grown to {args.rows} rows", args.rows)] if args.rows > today else []
    )
    for label, rows in sizes:
        cases, times = grown(base_cases, base_times, rows)
        alone = [plan_env(env, cases, times, args.runners, args.workers) for env in envs]
        shared = allocate(envs, cases, times, args.runners, args.workers)
        untimed = sum(p.untimed for p in alone)
        print(f"== {label}: {rows} model x task rows, {len(cases)} cells per env ({untimed} untimed) ==")
        print(format_plan(alone, shared, args.runners, args.workers))
        print()
        summary[label] = {
            "model_task_rows": rows,
            "cells": len(cases) * len(envs),
            "untimed_cells": untimed,
            "wall_minutes": round(queued_wall(shared, args.runners) / 60, 2),
            "slowest_job_minutes": round(max(p.wall_seconds for p in shared) / 60, 2),
            "jobs": sum(len(p.shards) for p in shared),
            "shards": {p.env: len(p.shards) for p in shared},
        }
    summary["target_minutes"] = 15
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
