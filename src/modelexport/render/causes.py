"""A failure's cause with the row's model type written generically.

Optimum's exporter fails 134 rows of one env with one sentence that names the model type ("Trying
to export a altclip model, that is a custom or unsupported architecture, ..."): the same cause, 550
characters each time. With the model type replaced by :data:`MODEL` those causes are one text,
which the compact results files store once and the failure lists (:mod:`.failures`) show once,
over the cells it explains. The model type is replaced where it stands as a whole name (not inside another word:
``opt`` in ``optimum`` stays), and only in text that does not already hold :data:`MODEL`, so
:func:`filled` gives back the exact original.
"""

from __future__ import annotations

import re

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
