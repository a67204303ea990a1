"""The compact results file: one env's rows as committed, about a sixth of their full JSON size.

A line holding ``"defaults"`` gives values the rows after it share (env, exporter, library versions,
machine, commit, tolerances, a common error, per record name the values of keys every such record
has); each row line then keeps only what differs from those
and from the schema's own defaults, without its derived ``case_id``, with max|Δ| figures and the
figures of its records to three significant digits (the verdicts are stored apart, in each check's
``ok``), and the tag summary's node counts only, as a list in :data:`NODE_COUNTS` order (its
derived fraction, module counts and per-file split are left to the full rows a run writes, which CI
keeps as artifacts). Optimum's max|Δ| figures, when they equal ONNX Runtime's (the same file run
through Optimum's classes), are written ``"="``; a row's time, as whole seconds after the defaults'
``utc`` (the group's earliest). An export error that two or more rows of a group share, once the
row's model type in it is written generically (:mod:`.causes`), is stored once in the defaults'
``errors`` and each row names it by its position there: Optimum's one "unsupported architecture"
sentence over a hundred model types, one model's capture error over its tasks. Rows are sorted, one
per line, so a re-run shows as a reviewable diff. A full row (what a run appends) is also a valid
line: it carries every field itself, so appending to a compact file needs no rewrite.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .causes import MODEL, filled, templated
from .schema import (
    SCHEMA_VERSION,
    ExportOutcome,
    FilesCheck,
    LoadCheck,
    ParityCheck,
    ResultsSchemaError,
    Row,
    case_id,
)

# Checks stored as one JSON object each: a row's own keys are merged over the defaults' keys.
NESTED: dict[str, dict[str, Any]] = {
    "export": {"ok": None, **{k: v for k, v in asdict(ExportOutcome(ok=False)).items() if k != "ok"}},
    "files": asdict(FilesCheck()),
    "ort_parity": asdict(ParityCheck()),
    "optimum_load": asdict(LoadCheck()),
    "optimum_parity": asdict(ParityCheck()),
}
# Top-level fields a defaults line may carry (replaced whole by a row that has its own).
SHAREABLE = ("env", "exporter", "versions", "machine", "commit", "exporter_available", "optimum_available")
# What a defaults line always names: its rows are grouped by these.
GROUPED = ("env", "exporter")
# Fields of a check never shared: per-output figures and timings.
UNSHARED = ("max_abs_diff", "missing", "seconds")
_ROW_DEFAULTS = {
    f.name: f.default_factory() if callable(f.default_factory) else f.default for f in fields(Row)
}
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # a row's ``utc``
DIGITS = 3  # significant digits of a max|Δ| in the compact form
# The tag summary's node counts kept in the compact form (zeros left out); the rest is derived, per
# file or per module.
NODE_COUNTS = ("nodes_total", "nodes_from_source", "nodes_inherited", "nodes_unresolved", "nodes_on_root")


SAME_AS_ORT = "="  # Optimum's max|Δ| figures are ONNX Runtime's


def _compact_hierarchy(summary: Mapping[str, Any]) -> list[int]:
    counts = [int(summary.get(k) or 0) for k in NODE_COUNTS]
    while counts and not counts[-1]:
        counts.pop()
    return counts


def _expand_hierarchy(counts: Mapping[str, Any] | list[int], backend: str | None) -> dict[str, Any]:
    if isinstance(counts, list):
        counts = dict(zip(NODE_COUNTS, counts, strict=False))
    summary: dict[str, Any] = {"backend": backend, **{k: int(counts.get(k, 0)) for k in NODE_COUNTS}}
    summary["source_fraction"] = round(summary["nodes_from_source"] / max(summary["nodes_total"], 1), 4)
    return summary


def _rounded(value: Any) -> Any:
    return float(f"{value:.{DIGITS}g}") if isinstance(value, float) else value


def _most_common(values: Iterable[Any]) -> Any:
    """The most frequent value (the first seen of equal ones, so a dict keeps its key order)."""
    counted: Counter[str] = Counter()
    first: dict[str, Any] = {}
    for value in values:
        key = json.dumps(value, sort_keys=True)
        counted[key] += 1
        first.setdefault(key, value)
    return first[counted.most_common(1)[0][0]]


def shared_defaults(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The value most rows have, for each shareable field, where it is not the schema's default."""
    defaults: dict[str, Any] = {}
    for key in SHAREABLE:
        value = _most_common(row.get(key) for row in rows)
        if key in GROUPED or value != _ROW_DEFAULTS.get(key):
            defaults[key] = value
    for key, schema in NESTED.items():
        for name in schema:
            if name in UNSHARED:
                continue
            value = _most_common(row[key].get(name) for row in rows)
            if value != schema[name]:
                defaults.setdefault(key, {})[name] = value
    records = _shared_records([row.get("records") or {} for row in rows])
    if records:
        defaults["records"] = records
    times = [row["utc"] for row in rows if _seconds(row.get("utc")) is not None]
    if times:
        defaults["utc"] = min(times)
    return defaults


def _seconds(utc: Any) -> float | None:
    """Seconds since the epoch of a row's ``utc`` (``2026-12-01T06:19:38Z``), None if it is not one."""
    if not isinstance(utc, str) or not utc:
        return None
    try:
        return datetime.strptime(utc, UTC_FORMAT).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def _shared_records(all_records: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per record name, the most common value of each key every record of that name has."""
    shared: dict[str, dict[str, Any]] = {}
    names = sorted({name for records in all_records for name in records})
    for name in names:
        found = [_compact_record(r[name]) for r in all_records if isinstance(r.get(name), Mapping)]
        if len(found) < 2:
            continue
        common = set(found[0]).intersection(*found[1:])
        values = {key: _most_common(record[key] for record in found) for key in found[0] if key in common}
        if values:
            shared[name] = values
    return shared


def compact_row(full: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``full`` (a ``Row.to_dict()``) without what ``defaults`` and the schema already say."""
    out: dict[str, Any] = {}
    for key, value in full.items():
        if key in ("schema_version", "case_id"):
            continue
        if key in NESTED:
            own = _compact_check(key, value, defaults.get(key, {}))
            if (
                key == "optimum_parity"
                and own.get("max_abs_diff")
                and own["max_abs_diff"] == out.get("ort_parity", {}).get("max_abs_diff")
            ):
                own["max_abs_diff"] = SAME_AS_ORT
            if own:
                out[key] = own
        elif key == "hierarchy" and value is not None:
            out[key] = _compact_hierarchy(value)
        elif key == "utc" and _seconds(value) is not None and _seconds(defaults.get("utc")) is not None:
            out[key] = round(_seconds(value) - _seconds(defaults["utc"]))  # type: ignore[operator]
        elif key == "records":
            if value:
                out[key] = _own_records(value, defaults.get("records", {}))
        elif key in defaults:
            if value != defaults[key]:
                out[key] = value
        elif value != _ROW_DEFAULTS.get(key):
            out[key] = value
    return out


def _own_records(records: Mapping[str, Any], shared: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Each record without the values its name's defaults give (an empty record still says it ran)."""
    out: dict[str, Any] = {}
    for name, record in records.items():
        record = _compact_record(record)
        base = shared.get(name, {})
        if isinstance(record, Mapping):
            record = {k: v for k, v in record.items() if k not in base or base[k] != v}
        out[name] = record
    return out


def _compact_record(record: Any) -> Any:
    """A record with its figures to three significant digits (its other values as they are)."""
    if not isinstance(record, Mapping):
        return record
    return {k: _rounded(v) for k, v in record.items()}


def _compact_check(key: str, value: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    own = {}
    for name, item in value.items():
        if name == "max_abs_diff":
            item = {output: _rounded(diff) for output, diff in item.items()}
        base = defaults[name] if name in defaults else NESTED[key].get(name)
        if item != base:
            own[name] = item
    return own


def expand_row(line: Mapping[str, Any], defaults: Mapping[str, Any], version: int) -> dict[str, Any]:
    """The full dict form of a compact row line read under ``defaults``."""
    data: dict[str, Any] = {"schema_version": line.get("schema_version", version)}
    for key, value in defaults.items():
        if key not in NESTED and key not in ("records", "errors"):
            data[key] = value
    for key, value in line.items():
        if key not in NESTED:
            data[key] = value
    if isinstance(line.get("utc"), int) and _seconds(defaults.get("utc")) is not None:
        base = _seconds(defaults["utc"]) or 0.0
        data["utc"] = datetime.fromtimestamp(base + line["utc"], tz=timezone.utc).strftime(UTC_FORMAT)
    if isinstance(line.get("records"), Mapping) and "case_id" not in line:  # a compact line
        shared = defaults.get("records", {})
        data["records"] = {
            name: {**shared[name], **own} if name in shared and isinstance(own, Mapping) else own
            for name, own in line["records"].items()
        }
    for key in NESTED:
        if key in line or key in defaults:
            data[key] = {**defaults.get(key, {}), **line.get(key, {})}
    export = data.get("export")
    if isinstance(export, dict) and type(export.get("error")) is int:
        export["error"] = filled(defaults["errors"][export["error"]], str(data.get("model")))
    optimum = data.get("optimum_parity")
    if isinstance(optimum, dict) and optimum.get("max_abs_diff") == SAME_AS_ORT:
        optimum["max_abs_diff"] = dict(data.get("ort_parity", {}).get("max_abs_diff") or {})
    if isinstance(line.get("hierarchy"), list) or (
        isinstance(line.get("hierarchy"), Mapping) and "source_fraction" not in line["hierarchy"]
    ):
        data["hierarchy"] = _expand_hierarchy(line["hierarchy"], data.get("backend"))
    if "case_id" not in data and all(k in data for k in ("model", "task", "backend", "exporter")):
        data["case_id"] = case_id(data["model"], data["task"], data["backend"], data["exporter"])
    return data


def compact_lines(rows: Iterable[Row]) -> list[str]:
    """The compact file's lines for ``rows``: per env and exporter, a defaults line, then its rows
    sorted by model, task and column."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: (r.env, r.exporter, r.model, r.task, r.column)):
        groups.setdefault((row.env, row.exporter), []).append(row.to_dict())
    lines = []
    for full_rows in groups.values():
        errors = _shared_errors(full_rows)
        defaults = shared_defaults(full_rows)
        if errors:
            defaults["errors"] = errors
        lines.append(_dump({"schema_version": SCHEMA_VERSION, "defaults": defaults}))
        lines += [_dump(compact_row(full, defaults)) for full in full_rows]
    return lines


def _shared_errors(full_rows: list[dict[str, Any]]) -> list[str]:
    """The export errors (model type written generically) two or more of ``full_rows`` share, in
    order of first use; each such row's error becomes its position in that list."""
    found: dict[str, list[dict[str, Any]]] = {}
    for full in full_rows:
        export, model = full.get("export") or {}, full.get("model")
        error = export.get("error")
        if isinstance(error, str) and isinstance(model, str) and MODEL not in error:
            found.setdefault(templated(error, model), []).append(export)
    shared = [text for text, exports in found.items() if len(exports) > 1]
    for number, text in enumerate(shared):
        for export in found[text]:
            export["error"] = number
    return shared


def _dump(data: Mapping[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def parse_lines(lines: Iterable[str], where: str) -> Iterator[Row]:
    """Rows from the lines of a results file (compact, full, or both); errors name ``where`` and the line."""
    defaults: dict[str, Any] = {}
    version = SCHEMA_VERSION
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ResultsSchemaError("a results line must be a JSON object.")
            if "defaults" in data:
                defaults, version = dict(data["defaults"]), data.get("schema_version", SCHEMA_VERSION)
                continue
            yield Row.from_dict(expand_row(data, defaults, version))
        except (json.JSONDecodeError, ResultsSchemaError) as e:
            raise ResultsSchemaError(
                f"{where}:{number}: {e}", hint="delete the line or re-run that environment."
            ) from e


def read_rows(path: Path) -> list[Row]:
    """Every row of one results file, in file order."""
    return list(parse_lines(path.read_text(encoding="utf-8").splitlines(), str(path)))


def compact_text(rows: Iterable[Row]) -> str:
    """The whole compact file for ``rows``."""
    return "\n".join(compact_lines(rows)) + "\n"
