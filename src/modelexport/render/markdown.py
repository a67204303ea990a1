"""RESULTS.md: the matrix as a Markdown table (model × task by env × backend), legend and failures."""

from __future__ import annotations

from collections.abc import Mapping

from .results import Results
from .schema import VERSION_KEYS, Row, Status

MARKS: dict[Status, str] = {"pass": "✅", "ort-only": "🔷", "fail": "❌", "n/a": "➖"}
MEANINGS: dict[Status, str] = {
    "pass": "exported; ONNX Runtime matches PyTorch; `ORTModelFor<Task>` loads it and matches PyTorch "
    "at atol = rtol = 1e-4",
    "ort-only": "exported and ONNX Runtime matches PyTorch; Optimum cannot be imported in this env, "
    "so its load and run were not checked",
    "fail": "a check failed; the stage is named and the error is listed under Failures",
    "n/a": "the exporter itself cannot be imported in this env (Optimum's, where optimum fails to import)",
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
        check = {"ort parity": row.ort_parity, "optimum parity": row.optimum_parity}.get(stage)
        diff = fmt_diff(check.worst()) if check else ""
        return f"{marks[status]} {stage} {diff}".strip()
    if status == "n/a":
        return marks[status]
    return f"{marks[status]} {fmt_diff(row.worst_diff())}".strip()


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


def _matrix(results: Results) -> list[str]:
    envs, columns = results.envs(), results.columns()
    header = ["model", "task"] + [f"{env}<br>{col}" for env in envs for col in columns]
    body = [
        [model, task] + [cell_text(results.cell(env, model, task, col)) for env in envs for col in columns]
        for model, task in results.model_tasks()
    ]
    return _table(header, body)


def _environments(results: Results) -> list[str]:
    header = ["env", *VERSION_KEYS, "machine", "commit", "UTC"]
    body = []
    for env in results.environments():
        machine = f"{env.machine.get('platform', '?')}, {env.machine.get('cpu_count', '?')} CPUs"
        versions = [env.versions.get(key, "?") for key in VERSION_KEYS]
        body.append([env.name, *versions, machine, short_commit(env.commit), env.utc])
    return _table(header, body)


def _failures(results: Results) -> list[str]:
    lines = []
    for row in results.rows:
        failure = row.failure() if row.status() == "fail" else None
        if failure:
            stage, message = failure
            lines.append(f"- `{row.env}` · `{row.case_id}` — **{stage}**: {message}")
    unavailable = {(r.env, r.optimum_load.error or "") for r in results.rows if not r.optimum_available}
    for env, error in sorted(unavailable):
        lines.append(f"- `{env}` · Optimum cannot be imported: {error}")
    return lines or ["None."]


def render_markdown(results: Results) -> str:
    """The whole of RESULTS.md; a pure function of ``results``."""
    legend = _table(["mark", "meaning"], [[MARKS[s] + " " + s, MEANINGS[s]] for s in MARKS])
    lines = [
        "# Compatibility matrix",
        "",
        f"**{summary_line(results)}**",
        "",
        "Each cell: one model × task exported by one backend (`torchscript`, `dynamo`: modelexport, "
        "and `auto`, derived from those two; "
        "`optimum`: Optimum's own `main_export`, for comparison) in one environment, then loaded and "
        "compared with PyTorch at a new input shape. The number is the largest max|Δ| over outputs "
        "(Optimum-run where Optimum ran, plain ONNX Runtime otherwise). A blank cell was not run.",
        f"Newest row: {results.generated_utc() or 'none'} (UTC).",
        "",
        "## Legend",
        "",
        *legend,
        "",
        "## Summary",
        "",
        "Model × task rows per status, by env and column. " + AUTO_NOTE,
        "",
        *_table(*summary_table(results)),
        "",
        "## Matrix",
        "",
        *_matrix(results),
        "",
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
