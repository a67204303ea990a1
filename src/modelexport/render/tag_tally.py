"""The tag-check records of a run (``Row.records["tags"]``), summed up per env and backend: exports
checked, passed, failed (each with its first failure) and not checked; and for dynamo, the weight-op
agreement with the TorchScript export of the same row: rows compared, the lowest share, and the
rows not compared with why."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from .records import TableRenderer, named
from .schema import TAGS, Row

NO_REASON = "no reason recorded (a row from before the matrix recorded one)"
# Why a dynamo row has no weight-op agreement, as the matrix's pytest plugin records it.
TORCHSCRIPT_FAILED = "the TorchScript export failed"
NOT_IN_RUN = "the TorchScript cell was not in this run"


@dataclass
class TagTally:
    """The tag checks of one env and backend."""

    exports: int = 0
    passed: int = 0
    failed: list[str] = field(default_factory=list)  # "<row>: <first failure>"
    not_run: list[str] = field(default_factory=list)  # "<row>: <why>"
    compared: int = 0  # rows with a weight-op agreement
    ops: int = 0  # weight ops compared, over those rows
    lowest: tuple[float, str] | None = None  # the lowest agreement and its row
    not_compared: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, row: Row, record: dict[str, object], torchscript_failed: bool = False) -> None:
        self.exports += 1
        name = f"{row.model} {row.task}"
        ok, error = record.get("ok"), record.get("error")
        if ok is True:
            self.passed += 1
        elif ok is False:
            self.failed.append(f"{name}: {error}")
        else:
            self.not_run.append(f"{name}: {error or 'no reason given'}")
        agreement = record.get("agreement")
        if isinstance(agreement, (int, float)):
            self.compared += 1
            matched = record.get("agreement_matched")
            self.ops += matched if isinstance(matched, int) else 0
            if self.lowest is None or agreement < self.lowest[0]:
                self.lowest = (float(agreement), name)
        elif row.backend == "dynamo":
            why = record.get("agreement_not_run") or (TORCHSCRIPT_FAILED if torchscript_failed else NO_REASON)
            self.not_compared[str(why)].append(name)

    def agreement_text(self) -> str:
        """``633 rows, 14,210 ops; lowest 96.0% (dab-detr object-detection)`` or ``…; all 100%``."""
        if not self.compared:
            return "n/a"
        assert self.lowest is not None
        share, row = self.lowest
        lowest = "all 100%" if share >= 1.0 else f"lowest {share:.1%} ({row})"
        return f"{self.compared} rows, {self.ops:,} ops; {lowest}"


def tag_tally(rows: Iterable[Row]) -> dict[tuple[str, str], TagTally]:
    """(env, backend) -> tally over the rows that carry a tag-check record."""
    rows = list(rows)
    failed = {(r.env, r.model, r.task) for r in rows if r.column == "torchscript" and not r.export.ok}
    out: dict[tuple[str, str], TagTally] = {}
    for row in rows:
        record = row.records.get(TAGS)
        if isinstance(record, dict):
            tally = out.setdefault((row.env, row.backend), TagTally())
            tally.add(row, record, (row.env, row.model, row.task) in failed)
    return out


def tag_check_lines(rows: Iterable[Row], table: TableRenderer) -> list[str]:
    """RESULTS.md's section: a table per env and backend, then each failure and each reason the
    weight ops were not compared; ``table`` renders a table."""
    tallies = tag_tally(rows)
    if not tallies:
        return []
    lines = [
        "## Tag checks",
        "",
        "Every export of ours has its tags checked in its cell (docs/hierarchy.md): each tag names a "
        "module of the model, siblings built alike get alike node counts, and the weight-carrying ops "
        "sit in the same module as in the other backend's export of the row (≥ 95%; compared on the "
        "dynamo row, against TorchScript's). A failed check fails the cell at stage `tags`.",
        "",
    ]
    header = ["env", "backend", "exports", "passed", "failed", "not run", "weight ops agree", "not compared"]
    body = [
        [
            env,
            backend,
            str(t.exports),
            str(t.passed),
            str(len(t.failed)),
            str(len(t.not_run)),
            t.agreement_text(),
            str(sum(len(v) for v in t.not_compared.values())) if backend == "dynamo" else "",
        ]
        for (env, backend), t in sorted(tallies.items())
    ]
    lines += [*table(header, body), ""]
    for (env, backend), t in sorted(tallies.items()):
        for item in t.failed:
            lines.append(f"- `{env}` · {backend} · failed: {item}")
        for item in t.not_run:
            lines.append(f"- `{env}` · {backend} · not run: {item}")
        for reason, names in sorted(t.not_compared.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            lines.append(
                f"- `{env}` · {backend} · weight ops not compared on {len(names)}: {reason} — {named(names)}"
            )
    return lines + ([""] if lines[-1] else [])
