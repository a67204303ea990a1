"""Predicted seconds of each cell, from the times its env's results recorded.

A row of schema 2 records the whole cell's wall time (``Row.seconds``); an older row only its
export's, to which :data:`CELL_OVERHEAD` is added. A cell never timed in its env gets the median of
the same cell's times in the other envs (a model's cost varies far more between models than
between library versions), else the median of its column (torchscript, dynamo, optimum) in its env,
else in every env, else :data:`FALLBACK`.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..render.schema import Row
from .cases import Case

# A cell's wall time besides its export (fork, PyTorch reference, ONNX Runtime and Optimum checks,
# row): 0.14-0.47 s measured on six models x three exporters (docs/performance.md).
CELL_OVERHEAD = 0.4
# Seconds of a cell whose column was never timed anywhere: the optimum-latest medians, rounded up.
FALLBACK = {"dynamo": 8.0, "torchscript": 1.0, "optimum": 1.0}
FALLBACK_OTHER = 5.0


def column_of(case: Case) -> str:
    """The matrix column of a case: its backend for ours, the exporter's name otherwise."""
    return case.backend if case.exporter == "modelexport" else case.exporter


def recorded_seconds(row: Row) -> float:
    """The cell's wall time as the row recorded it, or its export's plus :data:`CELL_OVERHEAD`."""
    if row.seconds is not None:
        return float(row.seconds)
    return float(row.export.seconds or 0.0) + CELL_OVERHEAD


@dataclass
class CellTimes:
    """Recorded seconds per (env, cell) and the medians that stand in for cells never timed."""

    recorded: dict[tuple[str, str], float] = field(default_factory=dict)
    _medians: dict[tuple[str | None, str], float] = field(default_factory=dict, init=False, repr=False)
    _elsewhere: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_rows(cls, rows: Iterable[Row]) -> CellTimes:
        return cls({row.key: recorded_seconds(row) for row in rows})

    def __post_init__(self) -> None:
        by_column: dict[tuple[str | None, str], list[float]] = {}
        by_cell: dict[str, list[float]] = {}
        for (env, cell), seconds in self.recorded.items():
            column = cell.rsplit("-", 1)[-1]
            by_column.setdefault((env, column), []).append(seconds)
            by_column.setdefault((None, column), []).append(seconds)
            by_cell.setdefault(cell, []).append(seconds)
        self._medians = {key: statistics.median(values) for key, values in by_column.items()}
        self._elsewhere = {cell: statistics.median(values) for cell, values in by_cell.items()}

    def seconds(self, env: str, case: Case) -> float:
        """The predicted seconds of ``case`` in ``env``."""
        return self.seconds_of(env, case.id, column_of(case))

    def seconds_of(self, env: str, cell: str, column: str | None = None) -> float:
        """The predicted seconds of the cell with id ``cell`` (its column: the id's last part)."""
        found = self.recorded.get((env, cell))
        if found is not None:
            return found
        elsewhere = self._elsewhere.get(cell)  # only other envs: this one has no record of it
        if elsewhere is not None:
            return elsewhere
        column = column or cell.rsplit("-", 1)[-1]
        for key in ((env, column), (None, column)):
            if key in self._medians:
                return self._medians[key]
        return FALLBACK.get(column, FALLBACK_OTHER)

    def is_recorded(self, env: str, case: Case) -> bool:
        return (env, case.id) in self.recorded

    def to_json(self) -> dict[str, float]:
        """``"env\\tcell" -> seconds``: what the controller hands its workers."""
        return {f"{env}\t{cell}": s for (env, cell), s in self.recorded.items()}

    @classmethod
    def from_json(cls, data: dict[str, float]) -> CellTimes:
        pairs = (key.split("\t", 1) for key in data)
        return cls({(env, cell): float(data[f"{env}\t{cell}"]) for env, cell in pairs})
