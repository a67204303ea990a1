"""index.html: one static, self-contained page (inline CSS, vanilla JS and the data, no network).

The cells travel once, as compact JSON (:mod:`.htmldata`); the page's script draws the matrix for
the envs and columns a reader picks, filters it by a search and a status, and opens any cell's
details (error and cause, record, timings, versions, commit, per-output figures, and whatever
optional records a row carries). The summary, environments and failures are plain HTML.
"""

from __future__ import annotations

import json
from html import escape
from importlib.resources import files

from .expected import Verdict
from .failures import failure_groups
from .htmldata import DEFAULT_COLUMNS, page_data
from .markdown import (
    AUTO_NOTE,
    MEANINGS,
    VERDICT_MEANINGS,
    record_line,
    short_commit,
    summary_line,
    summary_table,
)
from .results import Results
from .schema import STATUSES, VERSION_KEYS, Row, Status

CSS_CLASS: dict[Status, str] = {"pass": "s-pass", "ort-only": "s-ort", "fail": "s-fail", "n/a": "s-na"}
# Plain glyphs, not emoji: they render in any font (the colour carries the rest).
GLYPHS: dict[Status, str] = {"pass": "✓", "ort-only": "✓", "fail": "✗", "n/a": "–"}
VERDICT_GLYPHS: dict[Verdict, str] = {"regression": "▼", "new pass": "▲", "changed": "↻", "unrecorded": "★"}


def _asset(name: str) -> str:
    return files("modelexport.render").joinpath("templates").joinpath(name).read_text(encoding="utf-8")


def _td(text: object, cls: str = "") -> str:
    attrs = f' class="{cls}"' if cls else ""
    return f"<td{attrs}>{escape(str(text))}</td>"


def _thead(names: list[str]) -> str:
    return "<thead><tr>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr></thead>"


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
    return f'<table id="environments">{head}<tbody>{"".join(body)}</tbody></table>'


def _checkboxes(name: str, values: list[str], checked: list[str]) -> str:
    boxes = "".join(
        f'<label><input type="checkbox" name="{name}" value="{escape(v)}"'
        f"{' checked' if v in checked else ''}> {escape(v)}</label>"
        for v in values
    )
    return f'<fieldset id="pick-{name}"><legend>{name}</legend>{boxes}</fieldset>'


def _controls(results: Results) -> str:
    options = '<option value="">any status</option>' + "".join(
        f'<option value="{s}">{GLYPHS[s]} {s}</option>' for s in STATUSES
    )
    if results.expected:
        options += '<option value="changed">differs from the record</option>'
    columns = results.columns()
    default = [c for c in DEFAULT_COLUMNS if c in columns] or columns
    return (
        '<div class="controls" id="controls">'
        '<label>Search <input id="q" type="search" placeholder="model, task, error…"></label>'
        f'<label>Status <select id="status">{options}</select></label>'
        f"{_checkboxes('envs', results.envs(), results.envs())}"
        f"{_checkboxes('columns', columns, default)}"
        '<span id="row-count" aria-live="polite"></span></div>'
    )


def _legend(results: Results) -> str:
    spans = [
        f'<span class="{CSS_CLASS[s]}" title="{escape(MEANINGS[s])}">{GLYPHS[s]} {s}</span>' for s in STATUSES
    ]
    if results.expected:
        spans += [
            f'<span class="v-{k.replace(" ", "-")}" title="{escape(VERDICT_MEANINGS[k])}">{g} {escape(k)}</span>'
            for k, g in VERDICT_GLYPHS.items()
        ]
    return f'<p class="legend">{"".join(spans)}</p>'


def _failures(results: Results, index: dict[tuple[str, str], int]) -> str:
    """One item per failing cell; a cause shared by several model types or tasks once, with its
    cells in a list below it."""
    items = []
    for group in failure_groups(results):
        label = "known" if group.verdict == "expected" else (group.verdict or "")
        tag = f' <span class="tag v-{label.replace(" ", "-")}">{escape(label)}</span>' if label else ""
        cause = f"<b>{escape(group.stage)}</b>: {escape(group.cause)}{tag}"

        def cell(row: Row) -> str:
            return (
                f'<li data-cell="{index[row.key]}" data-env="{escape(row.env)}" tabindex="0">'
                f"<code>{escape(row.env)}</code> · <code>{escape(row.case_id)}</code>"
            )

        if len({row.case_id for row in group.rows}) == 1:
            items += [f"{cell(row)} — {cause}</li>" for row in group.rows]
            continue
        cells = "".join(f"{cell(row)}</li>" for row in group.rows)
        items.append(
            f'<li class="group"><span class="cause">{len(group.rows)} cells — {cause}</span><ul>{cells}</ul></li>'
        )
    return f'<ul id="failures">{"".join(items)}</ul>' if items else "<p>None.</p>"


def _data_script(data: object) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    return f'<script type="application/json" id="matrix-data">{text}</script>'


def render_html(results: Results) -> str:
    """The whole of index.html; a pure function of ``results``."""
    data, index = page_data(results)
    record = record_line(results)
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>modelexport compatibility matrix</title>",
        f"<style>\n{_asset('matrix.css')}</style>\n</head>\n<body>",
        '<main id="page">',
        "<h1>modelexport compatibility matrix</h1>",
        f'<p class="summary">{escape(summary_line(results))}</p>',
        f'<p class="record">{escape(record)}</p>' if record else "",
        f'<p class="muted">Newest row: {escape(results.generated_utc() or "none")} (UTC). '
        "Pick envs and columns, search (all words must match), click a cell for its details.</p>",
        _legend(results),
        "<h2>Summary</h2>",
        f'<p class="muted">Model × task rows per status. {escape(AUTO_NOTE.replace("`", ""))}</p>',
        _summary(results),
        "<h2>Matrix</h2>",
        _controls(results),
        "<noscript><p>The matrix table is drawn by this page's script; RESULTS.md has it as text.</p></noscript>",
        '<div class="scroll"><table id="matrix"></table></div>',
        "<h2>Failures</h2>",
        _failures(results, index),
        "<h2>Environments</h2>",
        _environments(results),
        "</main>",
        '<aside id="details" hidden><button type="button" id="close" aria-label="close">×</button>'
        '<div id="details-body"></div></aside>',
        _data_script(data),
        f"<script>\n{_asset('matrix.js')}</script>\n</body>\n</html>\n",
    ]
    return "\n".join(p for p in parts if p)
