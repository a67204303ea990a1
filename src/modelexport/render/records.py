"""One line for each optional record a row carries (``Row.records``), as every renderer shows it.

The records a cell writes are known by name (:data:`~modelexport.render.schema.TAGS`,
:data:`~modelexport.render.schema.FIRST_DIVERGENCE`); a value they leave out is its default (zero,
empty, ``None``). A record of any other name is shown as its ``ok`` / ``error`` or its fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .schema import FIRST_DIVERGENCE, FIXED_SIZES, TAG_SURVIVAL, TAGS, Row

TITLES = {
    TAGS: "tag checks",
    FIRST_DIVERGENCE: "first divergent module",
    FIXED_SIZES: "fixed sizes",
    TAG_SURVIVAL: "tag survival",
}


def _share(record: Mapping[str, Any], key: str) -> float:
    value = record.get(key)
    return float(value) if isinstance(value, (int, float)) else 0.0


def tag_summary(record: Mapping[str, Any]) -> str:
    """``ok: root 0.0 %, inferred 1.2 %, inherited 13.3 %``, or the first failure, or why not run."""
    shares = ", ".join(
        f"{label} {_share(record, key):.1%}"
        for label, key in (
            ("root", "root_share"),
            ("inferred", "inferred_share"),
            ("inherited", "inherited_share"),
        )
    )
    agreement = record.get("agreement")
    if isinstance(agreement, (int, float)):
        shares += f", weight ops agree {agreement:.0%}"
    elif record.get("agreement_not_run"):
        shares += f", weight ops not compared: {record['agreement_not_run']}"
    ok = record.get("ok")
    if ok is None:
        return f"not run: {record.get('error') or 'no reason given'}"
    return f"ok: {shares}" if ok else f"failed: {record.get('error') or 'no reason given'} ({shares})"


def divergence_summary(record: Mapping[str, Any]) -> str:
    """``bert.encoder.layer.1.output (BertOutput) in model.onnx, its own nodes max|Δ| 3.1e-02``."""
    if record.get("error"):
        return str(record["error"])
    module = record.get("module")
    if record.get("found_by") == "run":  # ONNX Runtime could not run the file at all
        if module is None:
            refused = f"refuses input {record['input']}" if record.get("input") else "fails"
            return f"none: ONNX Runtime {refused} before any module runs ({record.get('message')})"
        where = f"{record.get('op')} node '{record.get('node')}'"
        return f"{module or '(the model itself)'} in {record.get('file')}, where ONNX Runtime stops ({where})"
    if module is None:
        return "none: " + str(record.get("note") or "every module's outputs match PyTorch")
    text = f"{module or '(the model itself)'}"
    if record.get("class"):
        text += f" ({record['class']})"
    if record.get("file"):
        text += f" in {record['file']}"
    local = record.get("local_max_abs")
    if isinstance(local, (int, float)):
        text += f", its own nodes max|Δ| {local:.1e}"
    if record.get("derived_input"):
        text += f", from its input {record['derived_input']}"
    return text


def survival_counts(value: Any) -> tuple[int, int, int] | None:
    """``(nodes, tagged before, tagged after)`` of one tool's entry in a tag-survival record, or
    None where the entry is the tool's error."""
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1]), int(value[2])
    return None


# Renders a table from its header and rows (markdown's ``_table``), for the sections built apart.
TableRenderer = Callable[[list[str], list[list[str]]], list[str]]
SHOWN = 8  # rows a section's line names before "and N more"


def named(rows: list[str]) -> str:
    """The first :data:`SHOWN` of ``rows``, comma-separated, and how many more there are."""
    more = f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
    return ", ".join(rows[:SHOWN]) + more


def share_text(nodes: int, before: int, after: int) -> str:
    """``0% → 100%``: the share of ``nodes`` tagged as a tool wrote them → after restore_tags."""
    return f"{before / nodes:.0%} → {after / nodes:.0%}" if nodes else "no nodes"


def survival_summary(record: Mapping[str, Any]) -> str:
    """``ort-basic 0% → 100%, quantize-dynamic 83% → 100%, transformers-optimizer failed (...)``:
    per tool, the share of nodes tagged as the tool wrote them → after restore_tags."""
    if record.get("error"):
        return str(record["error"])
    parts = []
    for tool, value in record.items():
        counts = survival_counts(value)
        if counts is None:
            parts.append(f"{tool} failed ({value})")
            continue
        parts.append(f"{tool} {share_text(*counts)}")
    return ", ".join(parts) or "no file measured"


def record_summary(name: str, record: Any) -> str:
    """One line for the record ``name`` of a row."""
    if not isinstance(record, Mapping):
        return str(record)
    if name == TAGS:
        return tag_summary(record)
    if name == FIRST_DIVERGENCE:
        return divergence_summary(record)
    if name == TAG_SURVIVAL:
        return survival_summary(record)
    if "ok" in record:
        state = {True: "ok", False: "failed", None: "not run"}.get(record["ok"], str(record["ok"]))
        return f"{state}: {record['error']}" if record.get("error") else state
    return ", ".join(f"{k} {v}" for k, v in record.items())


def summaries(row: Row) -> dict[str, str]:
    """``{title: line}`` for each record of ``row``, in name order."""
    return {TITLES.get(name, name): record_summary(name, row.records[name]) for name in sorted(row.records)}


def tag_state(row: Row | None) -> bool | str | None:
    """The row's tag checks: True / False (passed / failed), None (not run), ``""`` (no record)."""
    record = row.records.get(TAGS) if row is not None else None
    if not isinstance(record, Mapping):
        return ""
    ok = record.get("ok")
    return ok if isinstance(ok, bool) else None
