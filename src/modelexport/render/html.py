"""index.html: one static, self-contained page (inline CSS and vanilla JS, no network).

Two tables: the matrix (model × task by env × backend, colour-coded) and one row per cell with its
numbers and error, both sortable by clicking a header and filtered by a text box and a status menu.
"""

from __future__ import annotations

from html import escape
from importlib.resources import files

from .markdown import AUTO_NOTE, MEANINGS, cell_text, fmt_diff, short_commit, summary_line, summary_table
from .results import Results
from .schema import STATUSES, VERSION_KEYS, Row, Status

CSS_CLASS: dict[Status, str] = {"pass": "s-pass", "ort-only": "s-ort", "fail": "s-fail", "n/a": "s-na"}
# Plain glyphs, not emoji: they render in any font (the colour carries the rest).
GLYPHS: dict[Status, str] = {"pass": "✓", "ort-only": "✓", "fail": "✗", "n/a": "–"}


def _asset(name: str) -> str:
    return files("modelexport.render").joinpath("templates").joinpath(name).read_text(encoding="utf-8")


def _td(text: object, cls: str = "", sort: object = None, title: str = "") -> str:
    attrs = f' class="{cls}"' if cls else ""
    attrs += f' data-sort="{escape(str(sort))}"' if sort is not None else ""
    attrs += f' title="{escape(title)}"' if title else ""
    return f"<td{attrs}>{escape(str(text))}</td>"


def _thead(names: list[str]) -> str:
    return "<thead><tr>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr></thead>"


def _pivot_cell(row: Row | None) -> str:
    if row is None:
        return _td("", "cell")
    failure = row.failure()
    title = f"{failure[0]}: {failure[1]}" if failure and row.status() == "fail" else row.status()
    text = cell_text(row, GLYPHS)
    return _td(text, f"cell {CSS_CLASS[row.status()]}", sort=STATUSES.index(row.status()), title=title)


def _matrix(results: Results) -> str:
    envs, columns = results.envs(), results.columns()
    heads = [f"<th>{escape(env)}<br><small>{escape(col)}</small></th>" for env in envs for col in columns]
    head = "<thead><tr><th>model</th><th>task</th>" + "".join(heads) + "</tr></thead>"
    body = []
    for model, task in results.model_tasks():
        found = [results.cell(env, model, task, col) for env in envs for col in columns]
        statuses = " ".join(sorted({r.status() for r in found if r is not None}))
        tds = _td(model) + _td(task) + "".join(_pivot_cell(r) for r in found)
        body.append(f'<tr data-statuses="{escape(statuses)}">{tds}</tr>')
    table = f'<table id="matrix" class="sortable">{head}<tbody>{"".join(body)}</tbody></table>'
    return f'<div class="scroll">{table}</div>'


def _num(value: float | None, text: str) -> str:
    return _td(text, "num", sort="" if value is None else repr(value))


def _cells(results: Results) -> str:
    names = ["env", "model", "task", "exporter", "backend", "status"]
    names += ["ORT max|Δ|", "Optimum max|Δ|", "export s", "ONNX KiB", "failure"]
    body = []
    for row in results.rows:
        status = row.status()
        failure = row.failure() if status == "fail" else None
        why = f"{failure[0]}: {failure[1]}" if failure else ""
        if status == "n/a":
            why = f"{row.export.error_type}: {row.export.error}"
        seconds, size = row.export.seconds, row.onnx_bytes
        tds = [
            _td(row.env),
            _td(row.model),
            _td(row.task),
            _td(row.exporter),
            _td(row.backend),
            _td(f"{GLYPHS[status]} {status}", CSS_CLASS[status], sort=STATUSES.index(status)),
            _num(row.ort_parity.worst(), fmt_diff(row.ort_parity.worst())),
            _num(row.optimum_parity.worst(), fmt_diff(row.optimum_parity.worst())),
            _num(seconds, "" if seconds is None else f"{seconds:.1f}"),
            _num(size, "" if size is None else f"{size / 1024:.0f}"),
            _td(why, "err"),
        ]
        body.append(f'<tr data-status="{status}" id="{escape(row.env)}--{escape(row.case_id)}">')
        body.append("".join(tds) + "</tr>")
    return f'<table id="cells" class="sortable">{_thead(names)}<tbody>{"".join(body)}</tbody></table>'


def _summary(results: Results) -> str:
    header, rows = summary_table(results, {s: s for s in STATUSES})
    body = "".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in rows)
    return f'<table id="summary">{_thead(header)}<tbody>{body}</tbody></table>'


def _environments(results: Results) -> str:
    head = _thead(["env", *VERSION_KEYS, "machine", "commit", "UTC"])
    body = []
    for env in results.environments():
        machine = f"{env.machine.get('platform', '?')}, {env.machine.get('cpu_count', '?')} CPUs"
        tds = [_td(env.name), *(_td(env.versions.get(k, "?")) for k in VERSION_KEYS)]
        tds += [_td(machine), _td(short_commit(env.commit)), _td(env.utc)]
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f'<table id="environments" class="sortable">{head}<tbody>{"".join(body)}</tbody></table>'


def _controls() -> str:
    options = '<option value="">any</option>' + "".join(
        f'<option value="{s}">{GLYPHS[s]} {s}</option>' for s in STATUSES
    )
    return (
        '<div class="controls">'
        '<label>Filter <input id="q" type="search" placeholder="model, task, env, error…"></label>'
        f'<label>Status <select id="status">{options}</select></label>'
        '<span id="row-count" aria-live="polite"></span></div>'
    )


def render_html(results: Results) -> str:
    """The whole of index.html; a pure function of ``results``."""
    legend = "".join(
        f'<span class="{CSS_CLASS[s]}" title="{escape(MEANINGS[s])}">{GLYPHS[s]} {s}</span>' for s in STATUSES
    )
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>modelexport compatibility matrix</title>",
        f"<style>\n{_asset('matrix.css')}</style>\n</head>\n<body>",
        "<h1>modelexport compatibility matrix</h1>",
        f'<p class="summary">{escape(summary_line(results))}</p>',
        f'<p class="muted">Newest row: {escape(results.generated_utc() or "none")} (UTC). '
        "Click a header to sort; the filter matches any text in a row (all words must match).</p>",
        f'<p class="legend">{legend}</p>',
        "<h2>Summary</h2>",
        f'<p class="muted">Model × task rows per status. {escape(AUTO_NOTE.replace("`", ""))}</p>',
        _summary(results),
        _controls(),
        "<h2>Matrix</h2>",
        _matrix(results),
        "<h2>Cells</h2>",
        _cells(results),
        "<h2>Environments</h2>",
        _environments(results),
        f"<script>\n{_asset('matrix.js')}</script>\n</body>\n</html>\n",
    ]
    return "\n".join(parts)
