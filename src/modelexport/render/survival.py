"""The tag-survival records of a run (``Row.records["tag_survival"]``), summed up per env and backend:
the share of nodes still tagged after each tool users run next, as the tool wrote its file and after
``restore_tags``, node-weighted over every export measured; and the tools' own errors, by cause."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..hierarchy.survival import TOOLS
from .records import TableRenderer, named, share_text, survival_counts
from .schema import TAG_SURVIVAL, Row


@dataclass
class ToolTally:
    """One tool over the exports of one env and backend."""

    exports: int = 0  # exports the tool ran on
    nodes: int = 0
    before: int = 0
    after: int = 0
    failed: int = 0  # exports where the tool itself failed

    def add(self, value: object) -> None:
        counts = survival_counts(value)
        if counts is None:
            self.failed += 1
            return
        self.exports += 1
        self.nodes += counts[0]
        self.before += counts[1]
        self.after += counts[2]

    def text(self) -> str:
        """``0% → 100% (640)``, with ``, 3 failed`` where the tool failed on some exports."""
        if not self.exports:
            return f"failed ({self.failed})" if self.failed else "n/a"
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{share_text(self.nodes, self.before, self.after)} ({self.exports}{failed})"


@dataclass
class SurvivalTally:
    """Every tool for one env and backend, and the errors the tools raised, by message."""

    exports: int = 0
    tools: dict[str, ToolTally] = field(default_factory=lambda: {t: ToolTally() for t in TOOLS})
    errors: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    examples: dict[tuple[str, str], str] = field(default_factory=dict)  # a cause's first error
    not_measured: list[str] = field(default_factory=list)


def cause_of(error: str) -> str:
    """A tool's error with what differs between models left out (quoted names, numbers), so one
    cause is one line: ``KeyError: '…'``, ``Graph is not a DAG: len(sorted_node_set)=N, …``."""
    text = re.sub(r"'[^']*'", "'…'", error)
    text = re.sub(r"\bnode [^\s,;]+", "node …", text)
    return re.sub(r"\b\d+\b", "N", text)


def tally(rows: Iterable[Row]) -> dict[tuple[str, str], SurvivalTally]:
    """(env, backend) -> tally over the rows that carry a tag-survival record."""
    out: dict[tuple[str, str], SurvivalTally] = {}
    for row in rows:
        record = row.records.get(TAG_SURVIVAL)
        if not isinstance(record, dict):
            continue
        entry = out.setdefault((row.env, row.backend), SurvivalTally())
        if record.get("error"):
            entry.not_measured.append(f"{row.case_id}: {record['error']}")
            continue
        entry.exports += 1
        for tool, value in record.items():
            if tool not in entry.tools:
                continue
            entry.tools[tool].add(value)
            if survival_counts(value) is None:
                cause = (tool, cause_of(str(value)))
                entry.errors[cause].append(f"{row.model} {row.task}")
                entry.examples.setdefault(cause, str(value))
    return out


def survival_lines(rows: Iterable[Row], table: TableRenderer) -> list[str]:
    """RESULTS.md's section: a table per env, then the tools' errors; ``table`` renders a table."""
    tallies = tally(rows)
    if not tallies:
        return []
    lines = [
        "## Tag survival",
        "",
        "Share of our exports' nodes that carry every `modelexport.*` tag and `namespace` after each "
        "tool users run next, as the tool wrote the file → after `modelexport.hierarchy.restore_tags`, "
        "node-weighted over the exports measured (their number in brackets; docs/tag-survival.md "
        "says how each tool is run). Measured by `pytest matrix/ --tag-survival`.",
        "",
    ]
    header = ["env", "backend", "exports", *TOOLS]
    body = [
        [env, backend, str(t.exports), *(t.tools[tool].text() for tool in TOOLS)]
        for (env, backend), t in sorted(tallies.items())
    ]
    lines += [*table(header, body), ""]
    for (env, backend), t in sorted(tallies.items()):
        for (tool, error), cells in sorted(t.errors.items(), key=lambda item: (-len(item[1]), item[0])):
            example = t.examples[(tool, error)]
            said = error if example == error else f"{error} (first: {example})"
            lines.append(f"- `{env}` · {backend} · {tool} failed on {len(cells)}: {said} — {named(cells)}")
        for item in t.not_measured:
            lines.append(f"- `{env}` · {backend} · not measured: {item}")
    return lines + ([""] if lines[-1] else [])
