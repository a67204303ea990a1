"""The export pipeline: load -> plan -> capture -> tag -> verify -> package, one stage runner, one error
path, every task over the parts of its plan (a single-file task is a one-part plan).

Backends are tried in the order given (``auto``: :data:`~modelexport.common.AUTO_ORDER`) on the same
loaded model, plan and PyTorch references; each attempt writes into its own directory inside the
staging directory, so a failed attempt leaves nothing behind for the next. :class:`ExportStatus`
records every stage (status, seconds, message); it is the CLI's summary and a matrix cell's row.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import onnx

from .axis_ranges import AxisLimits, limits_needed, ranges_record
from .axis_ranges import merged as merged_ranges
from .backends import Backend, Captured, capture_graph, get_backend
from .backends.fixed_axes import FixedAxes
from .common import IOSpec, identifier
from .errors import (
    CaptureError,
    LoadError,
    ModelExportError,
    ModelRunError,
    PackageError,
    TagError,
    Terminated,
    VerifyError,
    causes,
    first_line,
    root_cause,
    subject,
    without_subject,
)
from .generative.merge import merge_decoders, merged_report
from .graph import name_dynamic_axes, rename_values, strip_node_metadata
from .hierarchy import HierarchyReport, tag_model
from .inputs import larger_image_sets
from .io_spec import has_dynamic_image_size
from .loading import LoadedModel, load
from .options import ExportOptions
from .packaging import METADATA_FILE, save_configs, save_onnx, sidecar_name, write_json
from .parts import Part, Plan
from .patches import patched
from .plan import make_plan
from .staging import check_not_source, staging_dir
from .verify import References, references, verify_plan
from .version import __version__

Stage = Literal["load", "capture", "tag", "verify", "package"]
STAGES: tuple[Stage, ...] = ("load", "capture", "tag", "verify", "package")
_STAGE_ERRORS: dict[str, type[ModelExportError]] = {
    "load": LoadError,
    "capture": CaptureError,
    "tag": TagError,
    "verify": VerifyError,
    "package": PackageError,
}
ProgressCallback = Callable[[str], None]


@dataclass
class StageResult:
    status: Literal["pending", "ok", "failed", "skipped"] = "pending"
    seconds: float = 0.0
    message: str = ""


@dataclass
class ExportStatus:
    """One record per export: a field per stage, plus what came out."""

    source: str
    task: str | None = None
    exporter: str = "auto"
    stages: dict[str, StageResult] = field(default_factory=lambda: {s: StageResult() for s in STAGES})
    output_dir: str | None = None
    verification: dict[str, Any] | None = None
    hierarchy: dict[str, Any] | None = None
    # With ``exporter="auto"``: why the first backend was given up (``None`` when it worked).
    fallback_from: str | None = None
    # Model code replaced by a traceable equivalent while capturing (modelexport.patches).
    patches: list[str] = field(default_factory=list)
    # Why ``pixel_values`` has a static height and width although the model takes other sizes
    # (``None`` when they are dynamic, or static because PyTorch itself refuses other sizes).
    fixed_image_size: str | None = None
    # Batch or sequence axes exported at one size because the model's code fixes them (torch.export
    # says so): ``{"sizes": {axis: size}, "why": ...}``; ``None`` when every axis is as Optimum's.
    fixed_axes: dict[str, Any] | None = None
    # Dynamic axes the model's code bounds, as the backend found them (torch.export's range
    # constraints): ``{axis: {"min", "max", "limits_checks"}}``, ``limits_checks`` true where the
    # check inputs were made no larger than ``max``; ``None`` when nothing bounds an axis.
    axis_ranges: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return all(s.status in ("ok", "skipped") for s in self.stages.values())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def _stage(
    status: ExportStatus, name: Stage, progress: ProgressCallback | None, hint: str | None = None
) -> Iterator[None]:
    """Run one stage: time it, record it, turn any unexpected exception into the stage's error."""
    if progress:
        progress(name)
    result = status.stages[name]
    start = time.perf_counter()
    try:
        yield
    except ModelExportError as e:
        result.status, result.message = "failed", e.one_line()
        raise
    except Exception as e:
        interrupt = _interrupt_behind(e)
        if interrupt is not None:  # SIGINT / SIGTERM inside a library (e.g. a C extension's import)
            raise interrupt from e
        # torch.onnx ends its first line with "Next steps:", a list the cause below replaces.
        detail = f"{type(e).__name__}: {first_line(e).removesuffix('Next steps:').rstrip()}"
        cause = root_cause(e)
        if cause:
            detail = f"{detail.rstrip('.')}; caused by {cause.rstrip('.')}."
        result.status, result.message = "failed", detail
        where = subject(status.source, status.task, status.exporter)
        raise _STAGE_ERRORS[name](f"{where}: {detail}", hint=hint) from e
    finally:
        result.seconds = round(time.perf_counter() - start, 3)
    result.status = "ok"


def _interrupt_behind(error: BaseException) -> BaseException | None:
    """The KeyboardInterrupt or Terminated an exception was raised from, if any."""
    return next((c for c in causes(error) if isinstance(c, KeyboardInterrupt | Terminated)), None)


def _versions() -> dict[str, str]:
    import onnxruntime
    import torch
    import transformers

    return {
        "modelexport": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


@dataclass
class _Written:
    """What one backend's attempt produced: per file, its inputs as written and its tag summary."""

    ios: dict[str, IOSpec] = field(default_factory=dict)
    hierarchy: dict[str, dict[str, Any]] = field(default_factory=dict)


def _capture(
    part: Part, layout: str, model: Any, backend: Backend, opset: int, work: Path
) -> tuple[Captured, list[str]]:
    """Trace one part with identifier names under the patches in scope, then give its values
    Optimum's names and axes."""
    inputs = {identifier(k): v for k, v in part.trace.items()}
    with patched(model, backend.name, layout) as applied:
        captured = capture_graph(backend, part.module, inputs, part.io.traced(), opset, work)
    names = [*part.io.input_names, *part.io.output_names]
    rename_values(captured.proto.graph, {identifier(n): n for n in names})
    name_dynamic_axes(captured.proto, part.io)
    return captured, applied


def _assemble(plan: Plan, captured: dict[str, Captured], reports: dict[str, HierarchyReport]) -> None:
    """Join the parts each merge names into one file (its graph, weights and hierarchy), in place."""
    for merge in plan.merges:
        first, past = captured.pop(merge.without_past), captured.pop(merge.with_past)
        merged = merge_decoders(first.proto, past.proto, (first.weights, past.weights), merge.flag)
        captured[merge.file] = Captured(merged.proto, weights=merged.weights)
        reports[merge.file] = merged_report(merged.proto, reports.pop(merge.without_past))
        reports.pop(merge.with_past)


def _graph_io(part: Part, proto: onnx.ModelProto) -> IOSpec:
    """``part.io`` less the inputs the exporter dropped as unused (the decoder with past reads no
    ``encoder_hidden_states``: cross-attention comes from the cache)."""
    present = {v.name for v in proto.graph.input}
    return replace(part.io, inputs=tuple(t for t in part.io.inputs if t.name in present))


def _summary(per_file: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A one-file export's tag summary; for several files, their sums, each file's own under ``files``."""
    if len(per_file) == 1:
        return next(iter(per_file.values()))
    keys = ("nodes_total", "nodes_from_source", "nodes_inherited", "nodes_unresolved", "nodes_on_root")
    total: dict[str, Any] = {k: sum(int(s.get(k, 0)) for s in per_file.values()) for k in keys}
    total["backend"] = next((s.get("backend") for s in per_file.values()), None)
    total["source_fraction"] = round(total["nodes_from_source"] / max(total["nodes_total"], 1), 4)
    return {**total, "files": per_file}


class _Run:
    """One export: the loaded model, its plan and references (made once), and the attempts."""

    def __init__(self, status: ExportStatus, options: ExportOptions, progress: ProgressCallback | None):
        self.status, self.options, self.progress = status, options, progress
        self.loaded: LoadedModel | None = None
        self.plan: Plan | None = None
        self.refs: References | None = None
        self.fixed_image_size = False
        self.fixed_axes: dict[str, int] = {}
        # Axes whose check inputs are made no larger than the model's code allows, and PyTorch's
        # failure on the check inputs while it is not known yet whether the bounds explain it.
        self.axis_limits: dict[str, int] = {}
        self.run_error: ModelRunError | None = None
        self.run_error_at_check_sizes = False
        # With several backends, a graph failing only at other image sizes is not fixed at once:
        # another backend may export it at every size. The backends that could be are kept here.
        self.defer_fixed_image_size = False
        self.fixable_at_image_size: list[str] = []

    def load(self, output_dir: Path) -> LoadedModel:
        with _stage(self.status, "load", self.progress):
            options = self.options
            loaded = load(self.status.source, options.task, trust_remote_code=options.trust_remote_code)
            if loaded.files_dir is not None:
                check_not_source(output_dir, loaded.files_dir)
            self.status.task = loaded.task.name
        self.loaded = loaded
        return loaded

    def _plan(self, loaded: LoadedModel, defer_run_error: bool = False) -> tuple[Plan, References | None]:
        """The plan and PyTorch's outputs on its check inputs, before anything is traced, from the
        model as the user has it; a model PyTorch cannot run on them is a ModelRunError, kept in
        ``run_error`` with ``defer_run_error`` (references ``None``) until the capture tells
        whether the model's code bounds an axis the check inputs exceed."""
        if self.plan is None or self.refs is None:
            self.run_error = None
            try:
                if self.plan is None:
                    self.plan = make_plan(
                        loaded,
                        merge_decoders=self.options.merge_decoders,
                        fixed_image_size=self.fixed_image_size,
                        fixed_axes=self.fixed_axes,
                        axis_limits=self.axis_limits,
                    )
                self.refs = references(self.plan)
            except ModelExportError:
                raise
            except Exception as e:
                error = ModelRunError(
                    f"{subject(self.status.source, self.status.task)}: PyTorch itself fails on synthetic "
                    f"inputs: {type(e).__name__}: {first_line(e)}",
                    hint="the model needs inputs this task does not provide; check --task.",
                )
                error.__cause__ = e
                # Only a failure at the check inputs' sizes may be a bound of the model's code that
                # the capture finds; a model that fails on the trace inputs too fails for any backend.
                # (A generative plan's check inputs are its own prompts and steps: never limited.)
                self.run_error_at_check_sizes = (
                    self.plan is not None
                    and not self.plan.task.generative
                    and _runs_on_trace_inputs(self.plan)
                )
                if self.plan is None or not (defer_run_error and self.run_error_at_check_sizes):
                    raise error from e
                self.run_error = error
        return self.plan, self.refs

    def attempt(self, backend: Backend, out: Path, hint: str | None) -> _Written:
        """Capture, tag and verify every part with ``backend`` into ``out``; raises on failure.

        A model whose code fixes a batch or sequence axis that Optimum's names declare dynamic
        (torch.export says so: Funnel's pooling fixes the traced sequence length) is exported again
        with that axis at that one size, which its check inputs then use and the metadata records,
        rather than not at all. The second failure, if any, is the one raised."""
        try:
            return self._attempt_at_image_size(backend, out, hint)
        except CaptureError as e:
            fixed = e.__cause__ if isinstance(e.__cause__, FixedAxes) else None
            if fixed is None or self.fixed_axes or self.loaded is None or self.loaded.task.generative:
                raise
            if self.progress:
                self.progress(f"{backend.name}: {fixed.reason}; exporting at that size")
            _empty(out)
            self.fixed_axes, self.plan, self.refs = fixed.sizes, None, None
            try:
                written = self._attempt_at_image_size(backend, out, hint)
            except (CaptureError, VerifyError):
                self.fixed_axes, self.plan, self.refs = {}, None, None
                raise
            self.status.fixed_axes = {"sizes": dict(fixed.sizes), "why": f"{backend.name}: {fixed.reason}"}
            return written

    def _attempt_within_limits(self, backend: Backend, out: Path, hint: str | None) -> _Written:
        """:meth:`_attempt`, and once more with check inputs no larger than the model's code allows
        when the capture finds it bounds an axis below their size (CLIP-like text embeddings that
        refuse more tokens than they have positions, where the config does not say so)."""
        try:
            return self._attempt(backend, out, hint)
        except CaptureError as e:
            limits = e.__cause__ if isinstance(e.__cause__, AxisLimits) else None
            if limits is None or self.axis_limits:
                raise
            if self.progress:
                self.progress(f"{backend.name}: {limits}; checking within those sizes")
            _empty(out)
            self.axis_limits, self.plan, self.refs = dict(limits.sizes), None, None
            try:
                return self._attempt(backend, out, hint)
            except (CaptureError, VerifyError, ModelRunError):
                self.axis_limits, self.plan, self.refs = {}, None, None
                raise

    def _attempt_at_image_size(self, backend: Backend, out: Path, hint: str | None) -> _Written:
        """:meth:`_attempt`, and once more at the processor's image size when that is what fails.

        A graph that verifies at the processor's image size and fails at a larger one (the backend
        baked the traced height and width into a reshape, though PyTorch takes both sizes: MobileViT,
        BEiT with dynamo) is exported again with a static height and width, which ``pixel_values``
        then declares; the metadata says why. The second failure, if any, is the one raised."""
        try:
            return self._attempt_within_limits(backend, out, hint)
        except VerifyError as e:
            plan = self.plan
            if self.fixed_image_size or plan is None or not _fails_only_at_other_image_sizes(plan, e):
                raise
            if self.defer_fixed_image_size:
                self.fixable_at_image_size.append(backend.name)
                raise
            if self.progress:
                self.progress(
                    f"{backend.name}: the graph fails at another image size; exporting a fixed size"
                )
            _empty(out)
            self.fixed_image_size, self.plan, self.refs = True, None, None
            try:
                written = self._attempt_within_limits(backend, out, hint)
            except (CaptureError, VerifyError):
                self.fixed_image_size, self.plan, self.refs = False, None, None
                raise
            self.status.fixed_image_size = f"{backend.name}: {without_subject(e.message)}"
            return written

    def _attempt(self, backend: Backend, out: Path, hint: str | None) -> _Written:
        assert self.loaded is not None
        status, options, progress = self.status, self.options, self.progress
        opset = options.opset or backend.default_opset
        written = _Written()
        with _stage(status, "capture", progress, hint):
            defer = backend.reports_axis_ranges and not self.axis_limits
            plan, refs = self._plan(self.loaded, defer_run_error=defer)
            captured: dict[str, Captured] = {}
            status.patches = []
            try:
                for part in plan.parts:
                    captured[part.file], applied = _capture(
                        part, plan.task.layout, self.loaded.model, backend, opset, out
                    )
                    status.patches += [p for p in applied if p not in status.patches]
            except Exception as e:
                if self.run_error is not None:  # PyTorch failed first: that is the cause
                    raise self.run_error from e
                raise
            ranges = merged_ranges(c.axis_ranges for c in captured.values())
            # A generative plan makes its own check inputs (its prompts and steps): recorded only.
            needed = {} if plan.task.generative else limits_needed(plan, ranges)
            if needed and not self.axis_limits:
                raise AxisLimits(needed)  # made again with check inputs within the bounds
            if refs is None:
                assert self.run_error is not None
                raise self.run_error
            status.axis_ranges = ranges_record(ranges, self.axis_limits, backend.name)
        with _stage(status, "tag", progress):
            reports = {
                part.file: tag_model(
                    captured[part.file].proto,
                    part.module,
                    backend=backend.name,
                    scope_info=captured[part.file].scopes,
                )
                for part in plan.parts
            }
            _assemble(plan, captured, reports)
            for part in plan.written:
                proto = captured[part.file].proto
                if options.clean_onnx:
                    strip_node_metadata(proto)
                write_json(out / sidecar_name(part.file), reports[part.file].to_json())
                written.hierarchy[part.file] = reports[part.file].summary()
                written.ios[part.file] = _graph_io(part, proto)
                save_onnx(proto, out / part.file, captured[part.file].weights)  # the graph's one write
                del captured[part.file]
            status.hierarchy = _summary(written.hierarchy)
        with _stage(status, "verify", progress):
            result = verify_plan(plan, out, refs, atol=options.atol, rtol=options.rtol)
            status.verification = result.to_json()
            result.raise_if_failed(subject(status.source, status.task, backend.name))
        return written

    def package(self, out: Path, written: _Written, opset: int) -> None:
        assert self.loaded is not None and self.plan is not None
        loaded, status, options = self.loaded, self.status, self.options
        with _stage(status, "package", self.progress):
            if loaded.task.generative and loaded.generation_config is None:
                # Optimum's generate() reads it; the model has one even when the checkpoint has none.
                loaded.generation_config = getattr(loaded.model, "generation_config", None)
            saved = save_configs(loaded, out) if options.with_config else []
            ios = [written.ios[f] for f in self.plan.files]
            meta = {
                "source_model": loaded.source,
                "task": loaded.task.name,
                "ort_model_class": loaded.task.ort_class_for(ios[0].input_names, ios[0].output_names),
                "model_type": getattr(loaded.config, "model_type", None),
                "exporter": status.exporter,
                "exporter_fallback_from": status.fallback_from,
                "model_patches": status.patches,
                "fixed_image_size": status.fixed_image_size,
                "fixed_axes": status.fixed_axes,
                "axis_ranges": status.axis_ranges,
                "opset": opset,
                "clean_onnx": options.clean_onnx,
                "export_timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "versions": _versions(),
                "onnx_files": self.plan.files,
                # A generative export's io is per file, also when it is one file (model.onnx).
                "io": {f: written.ios[f].to_json() for f in self.plan.files}
                if self.plan.task.generative
                else ios[0].to_json(),
                "saved_preprocessors": saved,
                "preprocessor_notes": loaded.preprocessor_notes,
                "verification": status.verification,
                "hierarchy": status.hierarchy,
                "stages": {k: asdict(v) for k, v in status.stages.items()},
            }
            write_json(out / METADATA_FILE, meta)


def _runs_on_trace_inputs(plan: Plan) -> bool:
    """Does PyTorch run every part of ``plan`` on the inputs it is traced with?"""
    import torch

    try:
        with torch.no_grad():
            for part in plan.parts:
                part.module.run(part.trace)  # type: ignore[operator]
    except Exception:
        return False
    return True


def _empty(out: Path) -> None:
    """Remove what a failed attempt left in ``out`` (the attempt's own directory)."""
    for entry in list(out.iterdir()):
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def _fails_only_at_other_image_sizes(plan: Plan, error: VerifyError) -> bool:
    """A single-file plan whose images have a dynamic size, failing only on the input set with
    larger images (:func:`modelexport.inputs.larger_image_sets`)."""
    if len(plan.parts) != 1 or not has_dynamic_image_size(plan.parts[0].io):
        return False
    return bool(error.input_sets) and set(error.input_sets) <= set(larger_image_sets())


def _reset(status: ExportStatus, stages: Sequence[Stage]) -> None:
    for name in stages:
        status.stages[name] = StageResult()


def _move_up(attempt_dir: Path, out: Path) -> None:
    for entry in attempt_dir.iterdir():
        os.replace(entry, out / entry.name)
    attempt_dir.rmdir()


def run_pipeline(
    source: str,
    output_dir: Path,
    options: ExportOptions,
    backends: Sequence[str],
    progress: ProgressCallback | None = None,
) -> ExportStatus:
    """Export ``source`` into ``output_dir`` with the first of ``backends`` that captures and
    verifies; raise the last failure, naming what each backend did, when none does."""
    status = ExportStatus(source=source, task=options.task, exporter=options.exporter)
    run = _Run(status, options, progress)
    # A graph exported at every image size by a later backend beats one fixed at the processor's
    # size by an earlier one: with several backends, fixing the size is the last resort.
    run.defer_fixed_image_size = len(backends) > 1
    with staging_dir(output_dir, force=options.force) as out:
        run.load(output_dir)
        failures: list[tuple[str, ModelExportError]] = []
        for i, name in enumerate(backends):
            backend = get_backend(name)
            status.exporter = backend.name
            _reset(status, ("capture", "tag", "verify"))
            attempt_dir = out / f".attempt-{backend.name}"
            attempt_dir.mkdir()
            last = i == len(backends) - 1
            hint = None if len(backends) > 1 else f"try --exporter {_other(backend.name)}."
            try:
                written = run.attempt(backend, attempt_dir, hint)
            except (CaptureError, VerifyError) as e:
                shutil.rmtree(attempt_dir, ignore_errors=True)
                if isinstance(e, ModelRunError) and not (
                    run.run_error_at_check_sizes
                    and any(get_backend(n).reports_axis_ranges for n in backends[i + 1 :])
                ):
                    # No backend can trace a model PyTorch cannot run, unless one finds that the
                    # model's code bounds an axis the check inputs exceed.
                    raise
                failures.append((backend.name, e))
                if last and len(failures) == 1:
                    raise
                if last and not run.fixable_at_image_size:
                    raise _all_failed(status, failures) from e
                if not last:
                    if progress:
                        progress(f"{backend.name} failed ({e.stage}); retrying with {backends[i + 1]}")
                    continue
                backend, written = _at_fixed_image_size(run, status, attempt_dir, failures)
            _move_up(attempt_dir, out)
            earlier = list(backends)[: list(backends).index(backend.name)]
            fell_back = [e for n, e in failures if n in earlier]
            if fell_back:
                first = fell_back[0]
                status.fallback_from = f"{first.stage} failed: {first.message}"
            run.package(out, written, options.opset or backend.default_opset)
            break
    status.output_dir = str(output_dir)
    return status


def _at_fixed_image_size(
    run: _Run, status: ExportStatus, attempt_dir: Path, failures: list[tuple[str, ModelExportError]]
) -> tuple[Backend, _Written]:
    """Every backend failed; the first whose graph failed only at other image sizes exports again
    at the processor's size (the second failure, if any, joins the others in the error raised)."""
    backend = get_backend(run.fixable_at_image_size[0])
    first_failure = next(e for n, e in failures if n == backend.name)
    status.exporter = backend.name
    _reset(status, ("capture", "tag", "verify"))
    if run.progress:
        run.progress(f"{backend.name}: the graph fails at another image size; exporting a fixed size")
    attempt_dir.mkdir()
    run.defer_fixed_image_size, run.fixed_image_size, run.plan, run.refs = False, True, None, None
    try:
        written = run.attempt(backend, attempt_dir, None)
    except (CaptureError, VerifyError) as e:
        shutil.rmtree(attempt_dir, ignore_errors=True)
        raise _all_failed(status, failures) from e
    status.fixed_image_size = f"{backend.name}: {without_subject(first_failure.message)}"
    return backend, written


def _other(backend: str) -> str:
    return "dynamo" if backend == "torchscript" else "torchscript"


def _all_failed(status: ExportStatus, failures: list[tuple[str, ModelExportError]]) -> ModelExportError:
    """One error saying what each backend did (the last one's class, so its stage and exit code)."""
    tried = "; ".join(
        f"{name}: {e.stage} failed: {without_subject(e.message).rstrip('.')}" for name, e in failures
    )
    drift = any(isinstance(e, VerifyError) and e.drift for _, e in failures)
    hint = (
        "raise --atol if the drift is acceptable for you, or report this model."
        if drift
        else "report this model (--debug shows the tracebacks)."
    )
    last = failures[-1][1]
    # The last failure's class (its exit code; callers may catch it), but the stage of the whole export.
    error = type(last)(f"{subject(status.source, status.task)}: no backend exported it. {tried}.", hint=hint)
    error.stage = "export"
    return error
