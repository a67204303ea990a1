"""A merged set of rows from several environments, and reading it from ``results/*.jsonl``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..common import AUTO, AUTO_ORDER, first_working
from .compact import read_rows
from .expected import Expectation, Verdict, is_mismatch, verdict
from .schema import BACKENDS, EXPORTERS, FIXED_SIZES, STATUSES, Row, Status

# A derived column: what ``exporter="auto"`` (the default) gives, from the backends' cells.
AUTO_COLUMN = AUTO


def _auto_kept(row: Row) -> bool:
    """What ``auto`` keeps a backend's export for: it exported and ONNX Runtime matched PyTorch."""
    return row.export.ok and row.ort_parity.ok is True


def _fixed_image_size(row: Row) -> bool:
    record = row.records.get(FIXED_SIZES)
    return isinstance(record, dict) and bool(record.get("image_size"))


def auto_row(rows: dict[str, Row | None]) -> Row | None:
    """The cell ``exporter="auto"`` stands for, by the export's own rule
    (:func:`~modelexport.common.first_working` over :data:`~modelexport.common.AUTO_ORDER`), with
    its last resort: a backend's export at the processor's fixed image size counts only when no
    backend exports at every size; then the first backend that fixed it stands for ``auto``."""
    ordered = [rows.get(b) for b in AUTO_ORDER]
    found = first_working(ordered, lambda r: _auto_kept(r) and not _fixed_image_size(r))
    if found is None or (_auto_kept(found) and not _fixed_image_size(found)):
        return found
    fixed = next((r for r in ordered if r is not None and _fixed_image_size(r)), None)
    return fixed or found


@dataclass(frozen=True)
class Environment:
    """What one env ran with, taken from its most recent row."""

    name: str
    versions: dict[str, str]
    machine: dict[str, Any]
    commit: str | None
    utc: str
    optimum_available: bool


@dataclass
class Results:
    """All rows of a matrix, one per (env, case_id), in a stable order."""

    rows: list[Row] = field(default_factory=list)
    # env -> cell -> its recorded expectation (:mod:`.expected`); envs without a record are absent.
    expected: dict[str, dict[str, Expectation]] = field(default_factory=dict)
    _by_cell: dict[tuple[str, str, str, str], Row] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.rows = sorted(self.rows, key=_row_order)

    def envs(self) -> list[str]:
        return sorted({row.env for row in self.rows})

    def columns(self) -> list[str]:
        """Columns within an env: our backends in a fixed order, ``auto`` (derived) when both
        backends ran, then Optimum's exporter."""
        present = {row.column for row in self.rows}
        if all(b in present for b in BACKENDS):
            present.add(AUTO_COLUMN)
        order = [*BACKENDS, AUTO_COLUMN, *EXPORTERS[1:]]
        return [c for c in order if c in present] + sorted(present - set(order))

    def column_counts(self) -> dict[str, dict[str, dict[Status, int]]]:
        """env -> column -> status -> number of model × task rows (the summary table)."""
        counts: dict[str, dict[str, dict[Status, int]]] = {}
        columns, model_tasks = self.columns(), self.model_tasks()
        for env in self.envs():
            counts[env] = {}
            for column in columns:
                found = [self.cell(env, m, t, column) for m, t in model_tasks]
                counter = Counter(r.status() for r in found if r is not None)
                counts[env][column] = {status: counter.get(status, 0) for status in STATUSES}
        return counts

    def model_tasks(self) -> list[tuple[str, str]]:
        return sorted({(row.model, row.task) for row in self.rows})

    def cell(self, env: str, model: str, task: str, column: str) -> Row | None:
        index = self._index()
        if column == AUTO_COLUMN:
            return auto_row({b: index.get((env, model, task, b)) for b in AUTO_ORDER})
        return index.get((env, model, task, column))

    def environments(self) -> list[Environment]:
        latest: dict[str, Row] = {}
        for row in self.rows:
            if row.env not in latest or row.utc >= latest[row.env].utc:
                latest[row.env] = row
        return [
            Environment(
                name=env,
                versions=row.versions,
                machine=row.machine,
                commit=row.commit,
                utc=row.utc,
                optimum_available=row.optimum_available,
            )
            for env, row in sorted(latest.items())
        ]

    def counts(self) -> dict[Status, int]:
        counter = Counter(row.status() for row in self.rows)
        return {status: counter.get(status, 0) for status in STATUSES}

    def generated_utc(self) -> str:
        """The time of the newest row: the render stays a pure function of its input."""
        return max((row.utc for row in self.rows), default="")

    def verdict(self, row: Row) -> Verdict | None:
        """How ``row`` compares with its env's record; ``None`` when the env has no record."""
        record = self.expected.get(row.env)
        return None if record is None else verdict(record.get(row.case_id), row)

    def changes(self) -> list[tuple[Row, Verdict]]:
        """Rows that differ from their record or are not in it, in row order."""
        found = [(row, self.verdict(row)) for row in self.rows]
        return [(row, kind) for row, kind in found if kind not in (None, "expected")]

    def mismatches(self) -> list[tuple[Row, Verdict]]:
        """The changes that make a run red (:func:`~.expected.is_mismatch`)."""
        return [(row, kind) for row, kind in self.changes() if is_mismatch(kind, row)]

    def with_expected(self, expected: dict[str, dict[str, Expectation]]) -> Results:
        """These rows compared with ``expected``."""
        return Results(list(self.rows), expected=expected)

    def _index(self) -> dict[tuple[str, str, str, str], Row]:
        if self._by_cell is None:
            self._by_cell = {(r.env, r.model, r.task, r.column): r for r in self.rows}
        return self._by_cell


def _row_order(row: Row) -> tuple[str, str, str, int, str]:
    column = [*BACKENDS, *EXPORTERS[1:]]
    rank = column.index(row.column) if row.column in column else len(column)
    return (row.model, row.task, row.env, rank, row.column)


def merge(rows: Iterable[Row]) -> Results:
    """Keep one row per (env, case_id): the newest by UTC time, the later one on a tie."""
    chosen: dict[tuple[str, str], Row] = {}
    for row in rows:
        old = chosen.get(row.key)
        if old is None or row.utc >= old.utc:
            chosen[row.key] = row
    return Results(list(chosen.values()))


def read_jsonl(path: Path) -> list[Row]:
    """Rows of one results file, compact or full (:mod:`.compact`); a malformed line is an error
    naming file and line, never skipped."""
    return read_rows(path)


def load_results(paths: Iterable[str | Path]) -> Results:
    """Merge results files; a directory stands for the ``*.jsonl`` files in it."""
    rows: list[Row] = []
    for path in map(Path, paths):
        files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
        for file in files:
            rows.extend(read_jsonl(file))
    return merge(rows)
