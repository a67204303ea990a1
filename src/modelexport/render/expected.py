"""The expectations record: each cell's expected status in one env, and how a row compares with it.

``matrix/expected/<env>.txt`` holds one cell a line, sorted, so a change of the record is a
reviewable diff::

    bert-text-classification-dynamo pass
    gpt2-text-generation-optimum fail optimum parity: max|Δ| beyond tolerance: logits 3.2e-03
    deepseek_v3-text-generation-optimum unstable ONNX Runtime's greedy tokens differ in some runs

A failing cell's line names the stage it fails at and the cause (shown as the reason a known
failure is expected; only the status and the stage are compared). A cell the record does not
list is expected to pass, like any new cell. An ``unstable`` cell, written by hand with what was
measured, passes in some runs and fails in others with nothing changed: either matches, and
recording a run's results keeps the line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import UserInputError
from .schema import STATUSES, Row, Status

Verdict = Literal["expected", "regression", "new pass", "changed", "unrecorded"]
# Verdicts that make a run red (and an unrecorded cell that fails: a new cell is expected to pass).
MISMATCHES: tuple[Verdict, ...] = ("regression", "new pass", "changed")
PASSING: tuple[Status, ...] = ("pass", "ort-only")
HEADER = (
    "# Expected status of every cell of env {env}, one cell a line: <cell> <status> [<stage>: <cause>]\n"
    "# or <cell> unstable <why> (by hand: a cell that passes in some runs and fails in others).\n"
    "# A matrix run passes when its cells match; update from the latest results with:\n"
    "#   {command}\n"
)


CAUSE_CHARS = 200  # of a cause in the record


@dataclass(frozen=True)
class Expectation:
    """One recorded cell: its status and, for a failure, the stage and cause."""

    status: Status
    stage: str | None = None
    cause: str | None = None
    unstable: str | None = None  # why the cell passes in some runs and fails in others

    def line(self, cell: str) -> str:
        """The record's line for ``cell`` (a cause of more than :data:`CAUSE_CHARS` cut there: a
        run is judged by status and stage, and the results keep the whole message)."""
        if self.unstable:
            return f"{cell} unstable {' '.join(self.unstable.split())}"
        if self.status == "fail":
            cause = " ".join((self.cause or "").split())
            if len(cause) > CAUSE_CHARS:
                cause = cause[: CAUSE_CHARS - 1].rstrip() + "…"
            return f"{cell} fail {self.stage or 'export'}: {cause}".rstrip(" ")
        return f"{cell} {self.status}"

    def describe(self) -> str:
        """``fail at export: ...`` / ``pass``: how messages quote the record."""
        if self.unstable:
            return f"unstable: {self.unstable}"
        return f"fail at {self.stage}: {self.cause}" if self.status == "fail" else self.status


def expectation_of(row: Row) -> Expectation:
    """What recording ``row`` as it is would write."""
    status = row.status()
    if status != "fail":
        return Expectation(status)
    stage, message = row.failure() or ("export", "")
    return Expectation("fail", stage, message)


def verdict(expected: Expectation | None, row: Row) -> Verdict:
    """How ``row`` compares with its record (``None``: the record does not list the cell)."""
    status = row.status()
    if expected is None:
        return "unrecorded"
    if expected.unstable:
        return "expected"
    if status == expected.status:
        if status != "fail":
            return "expected"
        stage = (row.failure() or ("", ""))[0]
        return "expected" if stage == expected.stage else "changed"
    if expected.status in PASSING and status == "fail":
        return "regression"
    if expected.status == "fail" and status in PASSING:
        return "new pass"
    return "changed"


def is_mismatch(kind: Verdict, row: Row) -> bool:
    """Whether a cell makes the run red: any difference, or an unrecorded cell that fails."""
    return kind in MISMATCHES or (kind == "unrecorded" and row.status() == "fail")


def parse_record(text: str, where: str) -> dict[str, Expectation]:
    """cell -> expectation from a record's text; a malformed line is an error naming ``where``."""
    found: dict[str, Expectation] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cell, _, rest = line.partition(" ")
        status, _, detail = rest.partition(" ")
        if status == "unstable" and detail.strip() and cell not in found:
            found[cell] = Expectation("pass", unstable=detail.strip())
            continue
        if status not in STATUSES or (status != "fail" and detail) or cell in found:
            raise UserInputError(
                f"{where}:{number}: expected '<cell> <status> [<stage>: <cause>]' with a status of "
                f"{', '.join(STATUSES)}, or '<cell> unstable <why>', once per cell; got {line[:120]!r}.",
                hint="fix the line, or write the record anew with 'modelexport matrix expect'.",
            )
        if status == "fail":
            stage, _, cause = detail.partition(":")
            found[cell] = Expectation("fail", stage.strip() or "export", cause.strip() or None)
        else:
            found[cell] = Expectation(status)
    return found


def format_record(env: str, cells: Mapping[str, Expectation], command: str) -> str:
    """The record file for ``env``: a header saying how to update it, then one line per cell, sorted."""
    lines = [cells[cell].line(cell) for cell in sorted(cells)]
    return HEADER.format(env=env, command=command) + "\n".join(lines) + "\n"


def record_path(directory: str | Path, env: str) -> Path:
    return Path(directory) / f"{env}.txt"


def read_records(directory: str | Path | None, envs: Iterable[str]) -> dict[str, dict[str, Expectation]]:
    """env -> its record, for each of ``envs`` that has a record file under ``directory``."""
    if directory is None:
        return {}
    records = {}
    for env in envs:
        path = record_path(directory, env)
        if path.is_file():
            records[env] = parse_record(path.read_text(encoding="utf-8"), str(path))
    return records
