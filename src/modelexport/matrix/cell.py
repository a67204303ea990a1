"""One matrix cell, in-process: build the zoo model, export it once, run every check (and the tag
checks of our export, the first divergent module of a parity failure: ``cell_records``), return a Row.

``python -m modelexport.matrix.cell bert text-classification --backend dynamo`` runs a single cell
and prints its row, for debugging; the matrix runs cells through :mod:`modelexport.matrix.isolate`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import without_subject
from ..render.schema import ExportOutcome, LoadCheck, Row, first_line
from ..tasks import task_for
from ..verify import DEFAULT_ATOL
from .cases import Case
from .cell_records import add_records
from .checks import onnx_bytes, probe_import, run_checks
from .environment import current_commit, machine_info, package_versions, utc_now
from .generative_checks import run_generative_checks

OPTIMUM_RUNTIME = "optimum.onnxruntime:ORTModel"  # importable means ORTModelFor<Task> can be checked


@dataclass(frozen=True)
class CellSpec:
    """One case run in one env: where its files go, the commit under test, its torch threads."""

    case: Case
    env: str
    workdir: str
    commit: str | None = None
    threads: int = 1
    # The other backend's export of the same model and task, when its cell exported it in this run:
    # the tag checks then compare where both put the weight-carrying ops.
    other_export: str | None = None
    # Measure how our export's tags survive ONNX Runtime's optimizations, its transformer fusions,
    # quantization and Optimum's decoder merging (``cell_records.survival_record``).
    tag_survival: bool = False

    @property
    def case_id(self) -> str:
        return self.case.id

    def identity(self) -> dict[str, Any]:
        """The fields that name this cell in its row."""
        c = self.case
        return {
            "case_id": c.id,
            "env": self.env,
            "model": c.model,
            "task": c.task,
            "backend": c.backend,
            "exporter": c.exporter,
        }


def _export_modelexport(source: Path, out: Path, case: Case) -> dict[str, Any] | None:
    from ..errors import VerifyError
    from ..export import run_export

    # First as a user exports, with the cell's tolerance, so what the exporter does when its check
    # fails happens here too (a graph that drifts at other image sizes is exported at a fixed one).
    # The cell measures parity itself, with the same inputs for every exporter, and records it, so
    # an export whose own check still fails is made again without that check, to be measured.
    def export_at(atol: float, rtol: float) -> Any:
        return run_export(
            str(source), out, task=case.task, exporter=case.backend, force=True, atol=atol, rtol=rtol
        )[1]

    try:
        status = export_at(case.atol, case.rtol)
    except VerifyError:
        status = export_at(float("inf"), float("inf"))
    return status.hierarchy


def _export_optimum(source: Path, out: Path, case: Case) -> dict[str, Any] | None:
    from optimum.exporters.onnx import main_export

    shutil.rmtree(out, ignore_errors=True)
    # Optimum's own validation is off: the cell runs the same checks on every exporter's output.
    # No post-processing: it only merges an encoder-decoder's two decoders into one file, and
    # unmerged, Optimum's files have the layout modelexport writes and the checks know.
    main_export(
        str(source),
        out,
        task=case.task,
        do_validation=False,
        no_post_process=True,
        library_name="transformers",
    )
    return None


# exporter -> (module whose import makes it available, export function)
EXPORTERS: Mapping[str, tuple[str | None, Callable[[Path, Path, Case], dict[str, Any] | None]]] = {
    "modelexport": (None, _export_modelexport),
    "optimum": ("optimum.exporters.onnx:main_export", _export_optimum),
}


def _new_row(spec: CellSpec, exporter_error: str | None, optimum_error: str | None) -> Row:
    error = optimum_error or exporter_error
    import_errors = {"optimum": error} if error else {}
    return Row(
        **spec.identity(),
        export=ExportOutcome(ok=False),
        exporter_available=exporter_error is None,
        optimum_available=optimum_error is None,
        optimum_load=LoadCheck(ok=None, error=optimum_error),
        versions=package_versions(import_errors),
        machine=machine_info(),
        commit=spec.commit,
        utc=utc_now(),
    )


# An export error ends with its cause (modelexport.errors.root_cause): keep room for it.
ERROR_LIMIT = 600


def _failed(error: BaseException, prefix: str = "") -> tuple[str, str]:
    # Without the model's path first, so the limit is spent on the error and its cause.
    return type(error).__name__, prefix + first_line(without_subject(str(error)), ERROR_LIMIT)


def _absent_model_type(name: str) -> str | None:
    """Why the installed transformers has no model type for zoo architecture ``name``, else None.
    A missing head is not checked here: that can be the zoo's own fault, and stays a failure."""
    from ..zoo import ARCHS, absent_model_type

    spec = ARCHS.get(name)
    return None if spec is None else absent_model_type(spec)


def run_cell(spec: CellSpec) -> Row:
    """Run one cell; every failure is recorded in the returned row, nothing is raised."""
    import torch

    torch.set_num_threads(max(1, spec.threads))
    case = spec.case
    module, export = EXPORTERS[case.exporter]
    exporter_error = probe_import(module) if module else None
    optimum_error = probe_import(OPTIMUM_RUNTIME)
    row = _new_row(spec, exporter_error, optimum_error)
    if exporter_error:
        kind, _, message = exporter_error.partition(": ")
        row.export = ExportOutcome(ok=False, error_type=kind, error=message)
        return row
    absent = _absent_model_type(case.model)
    if absent:  # not a failure of any exporter: nothing here can build the model
        row.exporter_available = False
        row.export = ExportOutcome(ok=False, error_type="ModelTypeUnavailable", error=absent)
        return row
    try:
        from ..zoo import cached_build

        source = cached_build(case.model, case.task)
    except Exception as e:
        row.export = ExportOutcome(False, *_failed(e, "zoo build: "))
        return row
    out = Path(spec.workdir) / spec.case_id
    started = time.perf_counter()
    try:
        row.hierarchy = export(source, out, case)
    except Exception as e:
        row.export = ExportOutcome(False, *_failed(e), seconds=round(time.perf_counter() - started, 3))
        return row
    row.export = ExportOutcome(ok=True, seconds=round(time.perf_counter() - started, 3))
    row.onnx_bytes = onnx_bytes(out)
    import transformers

    # The task's spec for this model: Whisper's speech recognition is generative, a CTC model's not.
    generative = task_for(case.task, transformers.AutoConfig.from_pretrained(source)).generative
    suite = run_generative_checks if generative else run_checks
    optimum = optimum_error is None
    checks = suite(out, source, case.task, case.exporter, case.atol, case.rtol, optimum)
    row.files, row.ort_parity = checks[0], checks[1]
    if optimum:
        row.optimum_load, row.optimum_parity = checks[2], checks[3]
        # Not run, with a reason: Optimum has no class for these files (an encoder-decoder's base
        # model with its cache); the cell is judged on ONNX Runtime alone, like an env without Optimum.
        row.optimum_available = not (row.optimum_load.ok is None and row.optimum_load.error)
    other = Path(spec.other_export) if spec.other_export else None
    add_records(row, out, source, case.atol, case.rtol, other, tag_survival=spec.tag_survival)
    row.utc = utc_now()
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("task")
    parser.add_argument("--backend", default="torchscript")
    parser.add_argument("--exporter", default="modelexport", choices=sorted(EXPORTERS))
    parser.add_argument("--env", default="local")
    parser.add_argument("--workdir", default="matrix/.work/local")
    parser.add_argument("--atol", type=float, default=DEFAULT_ATOL)
    parser.add_argument("--tag-survival", action="store_true", help="measure the tags' survival too")
    args = parser.parse_args(argv)
    case = Case(args.model, args.task, args.backend, args.exporter, atol=args.atol)
    spec = CellSpec(case, args.env, args.workdir, commit=current_commit(), tag_survival=args.tag_survival)
    row = run_cell(spec)
    json.dump(row.to_dict(), sys.stdout, indent=2)
    print(f"\nstatus: {row.status()}", file=sys.stderr)
    return 0 if row.status() in ("pass", "ort-only") else 1


if __name__ == "__main__":
    sys.exit(main())
