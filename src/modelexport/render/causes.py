"""A failure's cause with the row's model type written generically.

Optimum's exporter fails 134 rows of one env with one sentence that names the model type ("Trying
to export a altclip model, that is a custom or unsupported architecture, ..."): the same cause, 550
characters each time. With the model type replaced by :data:`MODEL` those causes are one text,
which the compact results files store once and the failure lists show once, over the cells it
explains. The model type is replaced where it stands as a whole name (not inside another word:
``opt`` in ``optimum`` stays), and only in text that does not already hold :data:`MODEL`, so
:func:`filled` gives back the exact original.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .expected import Verdict
    from .results import Results
    from .schema import Row

MODEL = "‹model›"


def _pattern(model: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(model)}(?![\w-])")


def templated(text: str, model: str) -> str:
    """``text`` with ``model`` written as :data:`MODEL` (``text`` itself when it cannot be)."""
    if not model or MODEL in text:
        return text
    return _pattern(model).sub(MODEL, text)


def filled(template: str, model: str) -> str:
    """The text :func:`templated` made ``template`` from, for ``model``."""
    return template.replace(MODEL, model)


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
