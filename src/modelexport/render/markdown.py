"""RESULTS.md: the matrix as Markdown: summary, what differs from the expectations record, one table
per env (model × task by column), environments and failures with their causes."""

from __future__ import annotations

from collections.abc import Mapping

from .expected import Verdict
from .failures import failure_groups
from .records import record_summary, tag_state
from .results import Results
from .schema import BACKENDS, FIRST_DIVERGENCE, TAGS, VERSION_KEYS, Row, Status
from .survival import survival_lines
from .tag_tally import tag_check_lines

MARKS: dict[Status, str] = {"pass": "✅", "ort-only": "🔷", "fail": "❌", "n/a": "➖"}
MEANINGS: dict[Status, str] = {
    "pass": "exported; ONNX Runtime matches PyTorch; `ORTModelFor<Task>` loads it and matches PyTorch "
    "at atol = rtol = 1e-4",
    "ort-only": "exported and ONNX Runtime matches PyTorch; Optimum cannot be imported in this env "
    "(or has no class for these files), so its load and run were not checked",
    "fail": "a check failed; the stage is named and the error is listed under Failures",
    "n/a": "not run: the exporter itself cannot be imported in this env (Optimum's, where optimum fails "
    "to import), or this env's transformers has no such model type",
}


# How a cell that differs from its record is marked (after its status mark).
VERDICT_MARKS: dict[Verdict, str] = {
    "regression": "🔻",
    "new pass": "🔺",
    "changed": "🔄",
    "unrecorded": "🆕",
}
VERDICT_LABELS: dict[Verdict, tuple[str, str]] = {  # one, several
    "regression": ("regression", "regressions"),
    "new pass": ("new pass", "new passes"),
    "changed": ("changed", "changed"),
    "unrecorded": ("not in the record", "not in the record"),
}
VERDICT_MEANINGS: dict[Verdict, str] = {
    "regression": "regression: the record expects this cell to pass",
    "new pass": "new pass: the record expects this cell to fail",
    "changed": "changed: another status, or a failure at another stage, than the record's",
    "unrecorded": "not in the record (a new cell)",
}


def fmt_diff(value: float | None) -> str:
    """A max|Δ| as it appears in every rendering."""
    return "" if value is None else f"{value:.1e}"


def cell_text(row: Row | None, marks: Mapping[Status, str] = MARKS) -> str:
    """What one table cell says: mark and max|Δ|, or mark and failing stage."""
    if row is None:
        return ""
    status = row.status()
    if status == "fail":
        stage = (row.failure() or ("", ""))[0]
        check = {"ort": row.ort_parity, "optimum": row.optimum_parity}.get(stage.split(" ")[0])
        diff = fmt_diff(check.worst()) if check else ""
        return f"{marks[status]} {stage} {diff}".strip()
    if status == "n/a":
        return marks[status]
    return f"{marks[status]} {fmt_diff(row.worst_diff())}".strip()


def marked_text(results: Results, row: Row | None) -> str:
    """:func:`cell_text` with the cell's mark against the record, if it differs from it."""
    text = cell_text(row)
    kind = results.verdict(row) if row is not None else None
    return f"{text} {VERDICT_MARKS[kind]}" if kind in VERDICT_MARKS else text


def record_line(results: Results) -> str | None:
    """``Against the record: ...`` in one sentence, or ``None`` when no env has a record."""
    if not results.expected:
        return None
    compared = [r for r in results.rows if r.env in results.expected]
    counts = {kind: 0 for kind in VERDICT_MARKS}
    for _, kind in results.changes():
        counts[kind] += 1
    same = len(compared) - sum(counts.values())
    parts = ", ".join(f"{n} {VERDICT_LABELS[k][n != 1]}" for k, n in counts.items())
    envs = len(results.expected)
    where = f"matrix/expected/, {envs} env{'s' if envs != 1 else ''}"
    return f"Against the record ({where}): {same} of {len(compared)} cells as recorded; {parts}."


def short_commit(commit: str | None) -> str:
    """12 hex digits, keeping a ``+dirty`` mark."""
    if not commit:
        return "?"
    sha, plus, rest = commit.partition("+")
    return sha[:12] + plus + rest


def summary_line(results: Results) -> str:
    """Counts in one sentence; the README quotes it."""
    counts = results.counts()
    models = {row.model for row in results.rows}
    parts = ", ".join(f"{counts[s]} {s}" for s in counts)
    return (
        f"{len(results.rows)} cells in {len(results.envs())} environments over "
        f"{len(results.model_tasks())} model × task rows from {len(models)} models: {parts}."
    )


def count_text(counts: Mapping[Status, int], marks: Mapping[Status, str] = MARKS) -> str:
    """``"150 ✅ · 18 ❌"``: the non-zero counts of one summary cell, in status order."""
    return " · ".join(f"{n} {marks[s]}" for s, n in counts.items() if n) or "–"


def summary_table(results: Results, marks: Mapping[Status, str] = MARKS) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-env summary: model × task rows per status in each column."""
    columns = results.columns()
    counts = results.column_counts()
    body = [[env, *(count_text(counts[env][c], marks) for c in columns)] for env in results.envs()]
    return ["env", *columns], body


AUTO_NOTE = (
    '`auto` is derived, not run: it shows what `exporter="auto"` (the default) gives, the '
    "`torchscript` cell where TorchScript exported and ONNX Runtime matched PyTorch, else the "
    "`dynamo` cell."
)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in body]
    return lines


def tags_text(results: Results, env: str, model: str, task: str) -> str:
    """The tag checks of a model × task row's exports by each backend: ✅ when every one passed,
    else the backends whose checks failed (❌) or could not run (❔); blank without a record."""
    states = {b: tag_state(results.cell(env, model, task, b)) for b in BACKENDS}
    states = {b: s for b, s in states.items() if s != ""}
    if not states:
        return ""
    failed = [b for b, s in states.items() if s is False]
    unknown = [b for b, s in states.items() if s is None]
    parts = ([f"❌ {' '.join(failed)}"] if failed else []) + ([f"❔ {' '.join(unknown)}"] if unknown else [])
    return " ".join(parts) or "✅"


TAGS_NOTE = (
    " The `tags` column sums up the tag checks of each backend's export (✅ every one passed; "
    "❌ / ❔ the backends whose checks failed / could not run); a cell's own are in index.html."
)


def _has_tags(results: Results, env: str) -> bool:
    return any(TAGS in r.records for r in results.rows if r.env == env)


def _matrix(results: Results) -> list[str]:
    columns = results.columns()
    lines: list[str] = []
    for env in results.envs():
        tags = _has_tags(results, env)
        body = [
            [
                model,
                task,
                *(marked_text(results, results.cell(env, model, task, c)) for c in columns),
                *([tags_text(results, env, model, task)] if tags else []),
            ]
            for model, task in results.model_tasks()
        ]
        header = ["model", "task", *columns, *(["tags"] if tags else [])]
        lines += [f"### {env}", "", *_table(header, body), ""]
    return lines


def _changes(results: Results) -> list[str]:
    lines = []
    for row, kind in results.changes():
        expected = results.expected[row.env].get(row.case_id)
        failure = row.failure() if row.status() == "fail" else None
        now = f"fails at {failure[0]}: {failure[1]}" if failure else row.status()
        was = expected.describe() if expected else "not recorded"
        lines.append(f"- {VERDICT_MARKS[kind]} {kind} · `{row.env}` · `{row.case_id}` — was {was}; now {now}")
    return lines or ["Every cell is as recorded."]


def _environments(results: Results) -> list[str]:
    header = ["env", *VERSION_KEYS, "machine", "commit", "UTC"]
    body = []
    for env in results.environments():
        machine = f"{env.machine.get('platform', '?')}, {env.machine.get('cpu_count', '?')} CPUs"
        versions = [env.versions.get(key, "?") for key in VERSION_KEYS]
        body.append([env.name, *versions, machine, short_commit(env.commit), env.utc])
    return _table(header, body)


MESSAGE_CHARS = 300  # of a failure's message here; index.html and the results files keep it whole


def _failures(results: Results) -> list[str]:
    """One item per cause: a cell that failed that way (naming every env where it did), or, for a
    cause shared by several model types or tasks, the cause once with its cells below it."""
    lines = []
    for group in failure_groups(results):
        message = group.cause
        if len(message) > MESSAGE_CHARS:
            message = message[: MESSAGE_CHARS - 1].rstrip() + "…"
        kind = group.verdict
        if kind is None:
            label = ""
        elif kind == "expected":
            label = " *(known)*"
        else:
            label = f" {VERDICT_MARKS[kind]} *({kind})*"
        cases: dict[tuple[str, str], list[str]] = {}
        for row in group.rows:
            divergence = (
                record_summary(FIRST_DIVERGENCE, row.records[FIRST_DIVERGENCE])
                if FIRST_DIVERGENCE in row.records
                else ""
            )
            cases.setdefault((row.case_id, divergence), []).append(row.env)
        if len(cases) == 1:
            ((case, divergence), envs), *_ = cases.items()
            lines.append(f"- {_envs(envs)} · `{case}` — **{group.stage}**: {message}{label}")
            if divergence:
                lines.append(f"  - first divergent module: {divergence}")
            continue
        lines.append(f"- **{group.stage}** on {len(cases)} cells{label}: {message}")
        for (case, divergence), envs in cases.items():
            found = f" — first divergent module: {divergence}" if divergence else ""
            lines.append(f"  - {_envs(envs)} · `{case}`{found}")
    unavailable = {(r.env, r.optimum_load.error or "") for r in results.rows if not r.optimum_available}
    for env, error in sorted(unavailable):
        lines.append(f"- `{env}` · Optimum does not run these cells: {error}")
    return lines or ["None."]


def _envs(envs: list[str]) -> str:
    return ", ".join(f"`{e}`" for e in envs)


def _legend(with_record: bool) -> list[str]:
    body = [[MARKS[s] + " " + s, MEANINGS[s]] for s in MARKS]
    body += [[VERDICT_MARKS[k], VERDICT_MEANINGS[k]] for k in VERDICT_MARKS if with_record]
    return _table(["mark", "meaning"], body)


def render_markdown(results: Results) -> str:
    """The whole of RESULTS.md; a pure function of ``results``."""
    record = record_line(results)
    lines = [
        "# Compatibility matrix",
        "",
        f"**{summary_line(results)}**",
        "",
        *([record, ""] if record else []),
        "Each cell: one model × task exported by one backend (`torchscript`, `dynamo`: modelexport, "
        "and `auto`, derived from those two; "
        "`optimum`: Optimum's own `main_export`, for comparison) in one environment, then loaded and "
        "compared with PyTorch at a new input shape. The number is the largest max|Δ| over outputs "
        "(Optimum-run where Optimum ran, plain ONNX Runtime otherwise). A blank cell was not run. "
        "[index.html](index.html) shows the same cells with pickers, search and each cell's details."
        + (TAGS_NOTE if any(TAGS in r.records for r in results.rows) else ""),
        f"Newest row: {results.generated_utc() or 'none'} (UTC).",
        "",
        "## Legend",
        "",
        *_legend(record is not None),
        "",
        "## Summary",
        "",
        "Model × task rows per status, by env and column. " + AUTO_NOTE,
        "",
        *_table(*summary_table(results)),
        "",
        *(["## Against the record", "", *_changes(results), ""] if record else []),
        "## Matrix",
        "",
        *_matrix(results),
        *tag_check_lines(results.rows, _table),
        *survival_lines(results.rows, _table),
        "## Environments",
        "",
        *_environments(results),
        "",
        "## Failures",
        "",
        *_failures(results),
        "",
    ]
    return "\n".join(lines)
