"""The data index.html carries: every cell once, in a compact JSON form its script reads.

Strings that repeat (errors, stages, output names) are stored once in ``strings`` and referred to
by position; what every cell of an env shares (versions, commit, machine) is stored with the env,
and a cell carries its own only where it differs. A cell's keys:

    i  [row, env, column] indexes        s  status index          v  verdict index, unless as recorded
    d  worst max|Δ| shown in the table    g  failing stage (str)
    m  error and cause (str), the row's model type written ``‹model›`` (:mod:`.causes`)
    x  the record's line, if it differs (str)                      t / T  export / whole cell seconds (0.1 s)
    b  ONNX bytes                          o / p  ORT / Optimum max|Δ| per output: [[name (str), Δ], ...]
                                           (p is 1 when it is the same as o)
    k  [atol, rtol] where not the env's   h  [nodes tagged, from their own module's scope]
    r  optional per-check records: [[name (str), [key (str), value, key (str), value, ...]], ...],
       each over its name's ``recordDefaults`` (the same form: the values every record of the name has)
    y  each record's one line: [[title (str), line (str)], ...]     (``render.records``)
    u  seconds before the env's UTC
    V / C / M  versions / commit (str) / machine, where not the env's
    a  (``auto`` column) the index of the cell it stands for

``(str)`` values are indexes into ``strings``; a cell's id is ``model-task-column``.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from .causes import templated
from .expected import Verdict
from .records import summaries
from .results import AUTO_COLUMN, Environment, Results
from .schema import STATUSES, VERSION_KEYS, ParityCheck, Row

DEFAULT_COLUMNS = (AUTO_COLUMN, "optimum")  # what the page shows until the reader picks others
VERDICTS: tuple[Verdict | None, ...] = (None, "expected", "regression", "new pass", "changed", "unrecorded")


class _Strings:
    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        if text not in self._index:
            self._index[text] = len(self.items)
            self.items.append(text)
        return self._index[text]


def _figure(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.3g}")


def _tenths(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def _outputs(check: ParityCheck, strings: _Strings) -> list[list[float | int]]:
    return [[strings(name), float(f"{diff:.3g}")] for name, diff in check.max_abs_diff.items()]


def _versions(versions: dict[str, str]) -> dict[str, str]:
    """In the order every table shows them."""
    known = {k: versions[k] for k in VERSION_KEYS if k in versions}
    return {**known, **{k: v for k, v in versions.items() if k not in known}}


def _machine(machine: dict[str, Any]) -> str:
    return f"{machine.get('platform', '?')}, {machine.get('cpu_count', '?')} CPUs"


def _same_or(ort: list[Any], optimum: list[Any]) -> list[Any] | int | None:
    return 1 if optimum and optimum == ort else (optimum or None)


def _record_items(record: Any) -> list[tuple[str, Any]]:
    items = record.items() if isinstance(record, dict) else [("value", record)]
    return [(k, _figure(v) if isinstance(v, float) else v) for k, v in items]


def shared_records(rows: list[Row]) -> dict[str, dict[str, Any]]:
    """Per record name, the most common value of each key every record of that name has."""
    shared: dict[str, dict[str, Any]] = {}
    for name in sorted({n for r in rows for n in r.records}):
        found = [dict(_record_items(r.records[name])) for r in rows if name in r.records]
        common = set(found[0]).intersection(*found[1:])
        values = {}
        for key in (k for k in found[0] if k in common):
            counted = Counter(json.dumps(f[key], sort_keys=True) for f in found)
            values[key] = json.loads(counted.most_common(1)[0][0])
        if len(found) > 1 and values:
            shared[name] = values
    return shared


def _pairs(items: Any, strings: _Strings) -> list[Any]:
    return [x for key, value in items for x in (strings(key), value)]


def _records(row: Row, strings: _Strings, shared: dict[str, dict[str, Any]]) -> list[Any] | None:
    """The row's records, each without what its name's defaults say, names and keys in ``strings``."""
    out: list[Any] = []
    for name in sorted(row.records):
        base = shared.get(name, {})
        own = [(k, v) for k, v in _record_items(row.records[name]) if k not in base or base[k] != v]
        out.append([strings(name), _pairs(own, strings)])
    return out or None


def _tolerance(row: Row) -> list[float] | None:
    check = row.ort_parity
    return None if check.atol is None else [check.atol, check.rtol or 0.0]


def _cell(
    results: Results,
    row: Row,
    where: int,
    env: Environment,
    tolerance: Any,
    strings: _Strings,
    shared: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    cell: dict[str, Any] = {"i": where, "s": STATUSES.index(row.status())}
    kind = results.verdict(row)
    if kind not in (None, "expected"):
        cell["v"] = VERDICTS.index(kind)
        expected = results.expected.get(row.env, {}).get(row.case_id)
        if expected is not None:
            cell["x"] = strings(expected.line(row.case_id).split(" ", 1)[1])
    failure = row.failure() if row.status() == "fail" else None
    if failure:
        cell["g"], cell["m"] = strings(failure[0]), strings(templated(failure[1], row.model))
    elif row.status() == "n/a":
        cell["m"] = strings(templated(f"{row.export.error_type}: {row.export.error}", row.model))
    ort, optimum = _outputs(row.ort_parity, strings), _outputs(row.optimum_parity, strings)
    shown = _figure(row.worst_diff())
    optional: dict[str, Any] = {
        # the page takes the figure from the per-output ones where it is their largest
        "d": None if shown == max((d for _, d in optimum or ort), default=None) else shown,
        "t": _tenths(row.export.seconds),
        "T": _tenths(row.seconds),
        "b": row.onnx_bytes,
        "o": ort or None,
        "p": _same_or(ort, optimum),
        "k": _tolerance(row) if _tolerance(row) != tolerance else None,
        "r": _records(row, strings, shared),
        # a record's one-line summary where it explains a failure; "r" holds every record whole
        "y": [[strings(t), strings(line)] for t, line in summaries(row).items()] or None
        if row.status() == "fail"
        else None,
        "V": _versions(row.versions) if row.versions != env.versions else None,
        "C": strings(row.commit or "?") if row.commit != env.commit else None,
        "M": _machine(row.machine) if row.machine != env.machine else None,
    }
    if row.hierarchy:
        optional["h"] = [row.hierarchy.get("nodes_total"), row.hierarchy.get("nodes_from_source")]
    cell.update({k: v for k, v in optional.items() if v is not None})
    return cell


def _common_tolerance(rows: list[Row]) -> list[float] | None:
    found = Counter(json.dumps(_tolerance(r)) for r in rows)
    return json.loads(found.most_common(1)[0][0]) if found else None


def position(data: dict[str, Any], cell: dict[str, Any]) -> tuple[int, int, int]:
    """(row, env, column) indices of a cell of the page's data; its ``i`` is
    ``(row x envs + env) x columns + column``."""
    envs, columns = len(data["envs"]), len(data["columns"])
    return cell["i"] // (envs * columns), cell["i"] // columns % envs, cell["i"] % columns


def page_data(results: Results) -> tuple[dict[str, Any], dict[tuple[str, str], int]]:
    """The page's data, and the index of each row's cell in it (by ``Row.key``)."""
    envs, columns, model_tasks = results.envs(), results.columns(), results.model_tasks()
    environments = {e.name: e for e in results.environments()}
    row_of = {mt: n for n, mt in enumerate(model_tasks)}
    tolerances = {env: _common_tolerance([r for r in results.rows if r.env == env]) for env in envs}
    strings = _Strings()
    shared = shared_records(results.rows)
    cells: list[dict[str, Any]] = []
    index: dict[tuple[str, str], int] = {}

    def at(row: int, env: int, column: int) -> int:
        return (row * len(envs) + env) * len(columns) + column

    for row in results.rows:
        where = at(row_of[(row.model, row.task)], envs.index(row.env), columns.index(row.column))
        index[row.key] = len(cells)
        cells.append(_cell(results, row, where, environments[row.env], tolerances[row.env], strings, shared))
    if AUTO_COLUMN in columns:
        for (model, task), n in row_of.items():
            for e, env in enumerate(envs):
                chosen = results.cell(env, model, task, AUTO_COLUMN)
                if chosen is not None:
                    cells.append({"i": at(n, e, columns.index(AUTO_COLUMN)), "a": index[chosen.key]})
    data = {
        "envs": [
            {
                "name": e.name,
                "versions": _versions(e.versions),
                "machine": _machine(e.machine),
                "commit": e.commit,
                "utc": e.utc,
                "record": e.name in results.expected,
                "tolerance": tolerances[e.name],
            }
            for e in (environments[name] for name in envs)
        ],
        "columns": columns,
        "defaultColumns": [c for c in DEFAULT_COLUMNS if c in columns] or columns,
        "statuses": list(STATUSES),
        "verdicts": list(VERDICTS),
        "rows": [list(mt) for mt in model_tasks],
        "recordDefaults": [[strings(n), _pairs(v.items(), strings)] for n, v in shared.items()],
        "strings": strings.items,
        "cells": cells,
    }
    return data, index
