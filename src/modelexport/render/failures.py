"""Failing cells grouped by cause, for the failure lists of RESULTS.md, index.html and results.json.

A group is one stage, one cause with the row's model type written generically (:mod:`.causes`),
and one verdict against the record: Optimum's "unsupported architecture" sentence over a hundred
model types is one group, listed once over its cells.
"""

from __future__ import annotations

from dataclasses import dataclass

from .causes import filled, templated
from .expected import Verdict
from .results import Results
from .schema import Row


@dataclass(frozen=True)
class FailureGroup:
    """Failing cells with one stage, one cause (model type aside) and one verdict, in row order."""

    stage: str
    template: str  # the cause with each row's model type as MODEL
    verdict: Verdict | None
    rows: tuple[Row, ...]

    @property
    def cause(self) -> str:
        """The cause as shown: the exact text when every row is of one model type."""
        models = {row.model for row in self.rows}
        return filled(self.template, models.pop()) if len(models) == 1 else self.template


def failure_groups(results: Results) -> list[FailureGroup]:
    """Every failing row of ``results`` in a group, groups in order of their first row."""
    found: dict[tuple[str, str, Verdict | None], list[Row]] = {}
    for row in results.rows:
        failure = row.failure() if row.status() == "fail" else None
        if failure:
            key = (failure[0], templated(failure[1], row.model), results.verdict(row))
            found.setdefault(key, []).append(row)
    return [FailureGroup(stage, text, kind, tuple(rows)) for (stage, text, kind), rows in found.items()]
