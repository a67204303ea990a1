"""Split the matrix's cells into shards of about equal predicted time, and predict a run's wall time.

A shard is a set of whole model × task groups (the three cells of one zoo model and task share its
build and run on one xdist worker): groups are dealt longest first, each to the shard with the
least predicted time so far (LPT, deterministic: ties go to the lower shard index). Within a run,
groups go to workers in the same longest-first order, so the last ones to finish are short.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..errors import UserInputError
from .cases import Case
from .timing import CellTimes

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        """``"2/8"``; anything else (``0/8``, ``9/8``, ``a/b``) is a one-line usage error."""
        found = _SPEC.match(text)
        if not found or not 1 <= int(found[1]) <= int(found[2]):
            raise UserInputError(
                f"--shard takes I/N with 1 <= I <= N (e.g. 2/8), not {text!r}.",
                hint="pass one shard of the N the run is split into.",
            )
        return cls(int(found[1]), int(found[2]))

    @property
    def label(self) -> str:
        """``2-of-8``: how a shard's results file is named."""
        return f"{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def group_of(case: Case) -> str:
    """The unit shards and xdist workers take whole: a zoo model's task."""
    return f"{case.model}-{case.task}"


def group_seconds(cases: Iterable[Case], env: str, times: CellTimes) -> dict[str, float]:
    """Predicted seconds per group."""
    found: dict[str, float] = {}
    for case in cases:
        key = group_of(case)
        found[key] = found.get(key, 0.0) + times.seconds(env, case)
    return found


def longest_first(units: Mapping[str, float]) -> list[str]:
    """Units by predicted time, longest first; ties by name, so every process agrees."""
    return sorted(units, key=lambda name: (-units[name], name))


def partition(units: Mapping[str, float], count: int) -> list[list[str]]:
    """``count`` disjoint lists of unit names covering ``units``, balanced by time (LPT)."""
    shards: list[list[str]] = [[] for _ in range(count)]
    heap = [(0.0, index) for index in range(count)]
    for name in longest_first(units):
        total, index = heapq.heappop(heap)
        shards[index].append(name)
        heapq.heappush(heap, (total + units[name], index))
    return shards


def schedule_wall(durations: Sequence[float], workers: int) -> float:
    """Wall time of running ``durations`` in the given order on ``workers``, each job going to the
    worker that frees first (what pytest-xdist's load-group scheduling does)."""
    free = [0.0] * max(1, workers)
    for duration in durations:
        start = heapq.heappop(free)
        heapq.heappush(free, start + duration)
    return max(free)


def select(cases: Sequence[Case], env: str, times: CellTimes, shard: ShardSpec | None) -> list[Case]:
    """The cases of ``shard`` (all when ``None``), ordered longest group first."""
    units = group_seconds(cases, env, times)
    chosen = longest_first(units) if shard is None else partition(units, shard.count)[shard.index - 1]
    rank = {name: position for position, name in enumerate(chosen)}
    kept = [case for case in cases if group_of(case) in rank]
    return sorted(kept, key=lambda case: rank[group_of(case)])  # stable: a group keeps its order
