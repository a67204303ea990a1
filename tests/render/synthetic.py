"""Deterministic matrix rows at the size the zoo is heading for, for the page and size tests."""

from __future__ import annotations

from dataclasses import replace

from modelexport.render.causes import filled, templated
from modelexport.render.expected import Expectation, expectation_of
from modelexport.render.schema import (
    FIRST_DIVERGENCE,
    TAGS,
    ExportOutcome,
    FilesCheck,
    LoadCheck,
    ParityCheck,
    Row,
)

ENVS = ("optimum-latest", "optimum-onnx-0.0", "transformers-oldest", "transformers-latest", "optimum-1.27")
NO_OPTIMUM = ("transformers-latest", "optimum-1.27")
TASKS = ("feature-extraction", "text-classification", "fill-mask")
VERSIONS = {
    "python": "3.11.7",
    "torch": "2.13.0+cpu",
    "transformers": "4.57.6",
    "optimum": "2.1.0",
    "optimum-onnx": "0.1.0",
    "onnx": "1.23.2",
    "onnxruntime": "1.32.0",
    "modelexport": "0.1.0",
}
COMMIT = "0123456789abcdef0123456789abcdef01234567"
STAGES = ("export", "ort parity", "optimum parity")


def _cell(model: str, task: str, env: str, column: str, n: int) -> Row:
    backend = "torchscript" if column == "optimum" else column
    exporter = "optimum" if column == "optimum" else "modelexport"
    ok = ParityCheck(ok=True, max_abs_diff={"logits": 1.5e-7 * (1 + n % 7)}, atol=1e-4, rtol=1e-4)
    row = Row(
        f"{model}-{task}-{column}",
        env,
        model,
        task,
        backend,
        exporter,
        ExportOutcome(ok=True, seconds=round(0.5 + (n % 9) * (6.0 if column == "dynamo" else 0.1), 3)),
        files=FilesCheck(ok=True),
        onnx_bytes=200_000 + n,
        ort_parity=ok,
        optimum_load=LoadCheck(ok=True),
        optimum_parity=ok,
        hierarchy={"backend": backend, "nodes_total": 200, "nodes_from_source": 180}
        if exporter == "modelexport"
        else None,
        records={TAGS: tag_record(n)} if exporter == "modelexport" else {},
        versions=VERSIONS,
        machine={"platform": "Linux x86_64", "cpu_count": 2, "processor": "x86_64"},
        commit=COMMIT,
        utc=f"2026-11-28T12:{n % 60:02d}:00Z",
        seconds=round(1.0 + (n % 9) * (6.0 if column == "dynamo" else 0.1), 3),
    )
    if env in NO_OPTIMUM:
        row.optimum_available = False
        row.optimum_load = LoadCheck(ok=None, error="ImportError: cannot import name 'is_offline_mode'")
        row.optimum_parity = ParityCheck()
        if exporter == "optimum":
            row.exporter_available = False
            row.export = ExportOutcome(False, "ImportError", "cannot import name 'is_offline_mode'")
        return row
    if n % 13 == 0:
        stage = STAGES[n % 3]
        if stage == "export":
            row.export = ExportOutcome(
                False, "CaptureError", f"capture failed: {model} data-dependent branch"
            )
            row.records = {}  # no export, no tags to check
        elif stage == "ort parity":
            row.ort_parity = ParityCheck(ok=False, max_abs_diff={"logits": 3.1e-3}, atol=1e-4, rtol=1e-4)
        else:
            row.optimum_parity = ParityCheck(ok=False, error=f"run: KeyError: '{model}_hidden_state'")
            row.records[FIRST_DIVERGENCE] = divergence(model)
    elif exporter == "modelexport" and n % 97 == 5:
        row.records[TAGS] = {
            **TAG_RECORD,
            "ok": False,
            "error": "alike siblings differ by more than 10%: encoder.layer (Layer): 0=40 1=20",
            "sibling_failures": ["encoder.layer (Layer): 0=40 1=20"],
        }
    return row


# A passing tag check as a cell records it (modelexport.matrix.cell_records.lean of a TagCheck).
TAG_RECORD = {"ok": True, "files": 1, "nodes": 200, "sibling_groups": 1, "inherited_share": 0.133}


def tag_record(n: int) -> dict[str, object]:
    """A passing tag check; every seventh with nodes on the root and inferred."""
    extra = {"root_share": 0.0125, "inferred_share": 0.05, "unresolved": 2} if n % 7 == 0 else {}
    return {**TAG_RECORD, "nodes": 200 + n % 50, **extra}


def divergence(model: str) -> dict[str, object]:
    """A first-divergence record as ``modelexport.diagnose.first_divergence`` gives it (lean)."""
    return {
        "module": f"{model}.encoder.layer.1.attention",
        "class": "BertAttention",
        "file": "model.onnx",
        "check": "batch",
        "found_by": "local",
        "local_max_abs": 0.0312,
        "output_max_abs": 0.0451,
        "tags": "modelexport",
    }


def synthetic_rows(models: int = 54) -> list[Row]:
    """``models`` x 3 tasks model x task rows, 5 envs x 3 columns each, some failing, some n/a."""
    rows = []
    n = 0
    for m in range(models):
        for task in TASKS:
            for env in ENVS:
                for column in ("torchscript", "dynamo", "optimum"):
                    n += 1
                    rows.append(_cell(f"model{m:03d}", task, env, column, n))
    return rows


def synthetic_record(rows: list[Row]) -> dict[str, dict[str, Expectation]]:
    """The record of ``rows``, then two cells each made a regression, a new pass and unrecorded."""
    record: dict[str, dict[str, Expectation]] = {}
    for row in rows:
        record.setdefault(row.env, {})[row.case_id] = expectation_of(row)
    latest = [r for r in rows if r.env == "optimum-latest"]
    failing = [r for r in latest if r.status() == "fail"]
    passing = [r for r in latest if r.status() == "pass"]
    for row in failing[:2]:
        record[row.env][row.case_id] = Expectation("pass")
    for row in passing[:2]:
        record[row.env][row.case_id] = Expectation("fail", "export", "an old failure")
    for row in passing[2:4]:
        del record[row.env][row.case_id]
    return record


def scaled(rows: list[Row], factor: int) -> list[Row]:
    """``rows`` ``factor`` times, each copy under other model names (``bert`` -> ``bert-x1``, in
    its export error too)."""
    out = []
    for k in range(factor):
        for row in rows:
            model = row.model if k == 0 else f"{row.model}-x{k}"
            column = row.backend if row.exporter == "modelexport" else row.exporter
            # a new model type's errors name that type, as the row's own name its own
            error = row.export.error and filled(templated(row.export.error, row.model), model)
            export = replace(row.export, error=error)
            out.append(replace(row, model=model, case_id=f"{model}-{row.task}-{column}", export=export))
    return out


UNSUPPORTED = (
    "ValueError: Trying to export a {} model, that is a custom or unsupported architecture, but no "
    "custom onnx configuration was passed as `custom_onnx_configs`."
)


def unsupported(model: str, task: str, env: str = "e") -> Row:
    """Optimum's exporter refusing a model type it does not register, as it says it."""
    return Row(
        case_id=f"{model}-{task}-optimum",
        env=env,
        model=model,
        task=task,
        backend="torchscript",
        exporter="optimum",
        export=ExportOutcome(False, "ValueError", UNSUPPORTED.format(model).removeprefix("ValueError: ")),
    )
