"""How long the matrix takes on N runners, predicted from recorded cell times, to size CI.

Each job runs one shard of one env (``tox -e ENV -- --shard I/S``) with ``workers`` pytest-xdist
workers; a shard's predicted wall time is its start-up (:data:`SETUP_SECONDS`) plus its groups
scheduled longest first on those workers. For all envs together, shards are added one at a time to
the env whose slowest shard is slowest, up to :data:`JOBS_PER_RUNNER` jobs a runner; the jobs run
longest first, at most N at once (the CI's ``max-parallel``), a runner taking the next job when it
frees; the plan keeps the number of shards whose run ends soonest. Installing each env's libraries
is not included: it depends on the CI cache, not on the matrix.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UserInputError
from .cases import Case
from .shards import group_of, group_seconds, partition, schedule_wall
from .timing import CellTimes

# A run's fixed start-up before its first cell (pytest, collection, xdist workers, the fork
# server's imports and dynamo warm-up), measured by benchmarks/bench_matrix.py on this machine.
SETUP_SECONDS = 25.0
# Jobs a plan may queue per runner: more, shorter jobs fill the runners more evenly, each paying
# its start-up.
JOBS_PER_RUNNER = 3


@dataclass(frozen=True)
class ShardPlan:
    """One runner's job: its cells, their summed seconds and its predicted wall time."""

    env: str
    index: int
    count: int
    cells: int
    work_seconds: float
    wall_seconds: float


@dataclass(frozen=True)
class EnvPlan:
    """One env split into shards."""

    env: str
    shards: tuple[ShardPlan, ...]
    untimed: int

    @property
    def wall_seconds(self) -> float:
        return max(s.wall_seconds for s in self.shards)

    @property
    def work_seconds(self) -> float:
        return sum(s.work_seconds for s in self.shards)

    @property
    def mean_wall(self) -> float:
        return sum(s.wall_seconds for s in self.shards) / len(self.shards)


def plan_env(
    env: str, cases: Sequence[Case], times: CellTimes, shards: int, workers: int, setup: float = SETUP_SECONDS
) -> EnvPlan:
    """``env``'s cells in ``shards`` shards, each predicted on ``workers`` workers."""
    units = group_seconds(cases, env, times)
    cells_per_group: dict[str, int] = {}
    for case in cases:
        cells_per_group[group_of(case)] = cells_per_group.get(group_of(case), 0) + 1
    plans = []
    for index, names in enumerate(partition(units, shards), start=1):
        durations = [units[n] for n in names]
        wall = setup + schedule_wall(durations, workers) if names else 0.0
        cells = sum(cells_per_group[n] for n in names)
        plans.append(ShardPlan(env, index, shards, cells, sum(durations), wall))
    untimed = sum(not times.is_recorded(env, c) for c in cases)
    return EnvPlan(env, tuple(plans), untimed)


def allocate(
    envs: Sequence[str],
    cases: Sequence[Case],
    times: CellTimes,
    runners: int,
    workers: int,
    setup: float = SETUP_SECONDS,
) -> list[EnvPlan]:
    """Shard ``envs`` so that their jobs, run longest first on ``runners`` runners, end soonest."""
    if runners < 1 or not envs:
        raise UserInputError(
            f"cannot plan {len(envs)} envs on {runners} runners.", hint="pass --runners 1 or more."
        )
    plans = {env: plan_env(env, cases, times, 1, workers, setup) for env in envs}
    best = (queued_wall(plans.values(), runners), dict(plans))
    while sum(len(p.shards) for p in plans.values()) < JOBS_PER_RUNNER * max(runners, len(envs)):
        slowest = max(envs, key=lambda e: (plans[e].wall_seconds, e))
        more = plan_env(slowest, cases, times, len(plans[slowest].shards) + 1, workers, setup)
        if more.wall_seconds >= plans[slowest].wall_seconds:
            break  # one group is the slowest job: more shards cannot help
        plans[slowest] = more
        wall = queued_wall(plans.values(), runners)
        if wall < best[0]:
            best = (wall, dict(plans))
    return [best[1][env] for env in envs]


def queued_wall(plans: Iterable[EnvPlan], runners: int) -> float:
    """Wall time of every shard of ``plans`` run longest first, at most ``runners`` at once."""
    return schedule_wall([s.wall_seconds for s in ordered_shards(plans)], runners)


def ordered_shards(plans: Iterable[EnvPlan]) -> list[ShardPlan]:
    """Every shard of ``plans``, longest first: the order CI should start them in."""
    return sorted((s for p in plans for s in p.shards), key=lambda s: (-s.wall_seconds, s.env, s.index))


def default_workers() -> int:
    """This machine's size: one xdist worker per core, as ``pytest -n auto`` starts."""
    return os.cpu_count() or 1


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def format_plan(alone: Sequence[EnvPlan], shared: Sequence[EnvPlan], runners: int, workers: int) -> str:
    """The plan as text: each env alone on ``runners``, then all envs sharing them."""
    lines = [f"Predicted from recorded cell times; runners of {workers} workers (cores) each.", ""]
    lines.append(f"Each env alone on {runners} runners:")
    for plan in alone:
        lines.append(
            f"  {plan.env}: {sum(s.cells for s in plan.shards)} cells, "
            f"{_minutes(plan.work_seconds)} of work; slowest shard {_minutes(plan.wall_seconds)} "
            f"(mean {_minutes(plan.mean_wall)}, {plan.untimed} cells untimed)"
        )
    count = sum(len(p.shards) for p in shared)
    wall = queued_wall(shared, runners)
    envs = f"{len(shared)} env{'s' if len(shared) != 1 else ''}"
    lines += [
        "",
        f"All {envs} on {runners} runners ({count} jobs, longest first, at most {runners} at once): "
        f"predicted wall {_minutes(wall)}",
    ]
    for plan in shared:
        lines.append(
            f"  {plan.env}: {len(plan.shards)} shards, slowest {_minutes(plan.wall_seconds)} "
            f"(mean {_minutes(plan.mean_wall)})"
        )
    serial = sum(p.work_seconds for p in shared)
    lines.append(f"  (the same work on one runner: {_minutes(serial / workers)} + start-up)")
    return "\n".join(lines)


def jobs(shared: Sequence[EnvPlan]) -> list[dict[str, Any]]:
    """The CI fan-out, longest first: one ``{"env", "shard", "label"}`` per shard, for a GitHub
    Actions matrix run with ``max-parallel`` set to the runners."""
    return [
        {"env": s.env, "shard": f"{s.index}/{s.count}", "label": f"{s.index}-of-{s.count}"}
        for s in ordered_shards(shared)
    ]


def plan_json(
    alone: Sequence[EnvPlan],
    shared: Sequence[EnvPlan],
    runners: int,
    workers: int,
    setup: float = SETUP_SECONDS,
) -> dict[str, Any]:
    """The plan as data: the same figures as :func:`format_plan`, and the jobs."""

    def env_data(plan: EnvPlan) -> Mapping[str, Any]:
        return {
            "env": plan.env,
            "shards": len(plan.shards),
            "work_seconds": round(plan.work_seconds, 1),
            "wall_seconds": round(plan.wall_seconds, 1),
            "mean_wall_seconds": round(plan.mean_wall, 1),
            "untimed_cells": plan.untimed,
            "shard_wall_seconds": [round(s.wall_seconds, 1) for s in plan.shards],
        }

    return {
        "runners": runners,
        "workers": workers,
        "setup_seconds": setup,
        "alone": [env_data(p) for p in alone],
        "shared": [env_data(p) for p in shared],
        "wall_seconds": round(queued_wall(shared, runners), 1),
        "slowest_job_seconds": round(max(p.wall_seconds for p in shared), 1),
        "jobs": jobs(shared),
    }
