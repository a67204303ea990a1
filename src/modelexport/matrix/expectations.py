"""The matrix's record of expected cell statuses: where it lives, how a run compares with it, and
how a run's results update it (the record's format: :mod:`modelexport.render.expected`).

A run is green when every cell it ran matches ``matrix/expected/<env>.txt``: a known failure is an
expected failure (pytest's strict xfail, its recorded cause the reason), a regression or an
unexpected pass fails the run, and the run ends by naming those cells and the one command that
records the new state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..render.expected import (
    Expectation,
    Verdict,
    expectation_of,
    format_record,
    is_mismatch,
    parse_record,
    record_path,
    verdict,
)
from ..render.schema import Row

UPDATE_COMMAND = "modelexport matrix expect --env {env}"


class ExpectedCellFailure(AssertionError):
    """A cell failed the way its record says it does (pytest reports it as xfail)."""


def update_command(env: str) -> str:
    """The one command that records ``env``'s latest results as its expectations."""
    return UPDATE_COMMAND.format(env=env)


def load_record(directory: str | Path, env: str) -> dict[str, Expectation] | None:
    """``env``'s record, or ``None`` when it has none (every cell is then expected to pass)."""
    path = record_path(directory, env)
    if not path.is_file():
        return None
    return parse_record(path.read_text(encoding="utf-8"), str(path))


@dataclass(frozen=True)
class Update:
    """What recording an env's results changed."""

    env: str
    path: Path
    written: int
    changed: int
    added: int
    removed: int


def updated_record(
    old: Mapping[str, Expectation], rows: Iterable[Row], known: Iterable[str] | None
) -> dict[str, Expectation]:
    """``old`` with each row's cell recorded as it is now; cells outside ``known`` (the zoo's current
    cells, when given) dropped. Cells without a row keep their line: a partial run updates part;
    so does an ``unstable`` cell (one run says nothing against it)."""
    record = dict(old)
    for row in rows:
        kept = old.get(row.case_id)
        record[row.case_id] = kept if kept is not None and kept.unstable else expectation_of(row)
    if known is not None:
        keep = set(known)
        record = {cell: e for cell, e in record.items() if cell in keep}
    return record


def write_update(directory: str | Path, env: str, rows: Sequence[Row], known: Iterable[str] | None) -> Update:
    """Record ``rows`` (one env's merged results) into ``directory/<env>.txt``."""
    path = record_path(directory, env)
    old = load_record(directory, env) or {}
    new = updated_record(old, rows, known)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_record(env, new, update_command(env)), encoding="utf-8", newline="\n")
    # Compared as written: a long cause is cut in the file, so the parsed one is not the row's whole.
    changed = sum(1 for cell in new if cell in old and old[cell].line(cell) != new[cell].line(cell))
    return Update(env, path, len(new), changed, len(set(new) - set(old)), len(set(old) - set(new)))


def xfail_reason(expected: Expectation) -> str:
    """The reason a known failure is expected, as pytest shows it."""
    return f"known failure, recorded: {expected.stage}: {expected.cause or '(no cause recorded)'}"


def mismatch_message(cell: str, kind: Verdict, expected: Expectation | None, row: Row) -> str:
    """One line saying how ``row`` differs from its record."""
    failure = row.failure() if row.status() == "fail" else None
    now = f"fails at {failure[0]}: {failure[1]}" if failure else row.status()
    was = expected.describe() if expected else "pass (not in the record)"
    return f"{kind}: {cell} expected {was}; now {now}"


@dataclass
class RunComparison:
    """A run's cells against the record, gathered as they finish, for the end-of-run summary."""

    env: str
    record: Mapping[str, Expectation] | None
    where: Path
    verdicts: dict[str, tuple[Verdict, str]]

    @classmethod
    def start(
        cls, env: str, record: Mapping[str, Expectation] | None, directory: str | Path
    ) -> RunComparison:
        return cls(env, record, record_path(directory, env), {})

    def add(self, row: Row) -> Verdict:
        """Compare one finished cell; returns its verdict."""
        expected = (self.record or {}).get(row.case_id)
        kind = verdict(expected, row) if self.record is not None else "unrecorded"
        message = mismatch_message(row.case_id, kind, expected, row)
        self.verdicts[row.case_id] = (kind, message if is_mismatch(kind, row) else "")
        return kind

    def summary(self) -> list[str]:
        """The lines the run ends with: counts, each mismatching cell, and the update command."""
        counts: dict[str, int] = {}
        for kind, _ in self.verdicts.values():
            counts[kind] = counts.get(kind, 0) + 1
        red = sorted(message for _, message in self.verdicts.values() if message)
        head = f"matrix expectations ({self.where}): {len(self.verdicts)} cells compared"
        head += "".join(f", {n} {kind}" for kind, n in sorted(counts.items()))
        lines = [head]
        if self.record is None:
            lines.append(f"no record for env {self.env}: every cell was expected to pass.")
        lines += [f"  {message}" for message in red]
        if red or self.record is None:
            lines.append(f"If the new state is right, record it with: {update_command(self.env)}")
        return lines
