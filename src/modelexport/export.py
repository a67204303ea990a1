"""The export pipeline: load -> capture -> tag -> verify -> package, one stage runner, one error path.

:class:`ExportStatus` records every stage (status, seconds, message); it is the CLI's summary and a
matrix cell's row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, TypeVar

import onnx

from . import __version__
from .backends import AUTO_EXPORTER, DEFAULT_BACKEND, BackendName, capture_graph, get_backend, wrap
from .errors import (
    CaptureError,
    LoadError,
    ModelExportError,
    ModelRunError,
    PackageError,
    TagError,
    VerifyError,
    first_line,
    root_cause,
    subject,
)
from .generative import export_generative, is_generative_task
from .hierarchy import TorchScriptScopes, strip_node_metadata, tag_model
from .inputs import IOSpec, build_io_spec, make_inputs, name_dynamic_axes
from .loading import LoadedModel, load
from .packaging import (
    HIERARCHY_FILE,
    METADATA_FILE,
    ONNX_FILE,
    save_configs,
    save_onnx,
    write_json,
)
from .staging import check_not_source, staging_dir
from .verify import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    Verification,
    compare_outputs,
    onnxruntime_outputs,
    pytorch_outputs,
)

Stage = Literal["load", "capture", "tag", "verify", "package"]
STAGES: tuple[Stage, ...] = ("load", "capture", "tag", "verify", "package")
_STAGE_ERRORS: dict[str, type[ModelExportError]] = {
    "load": LoadError,
    "capture": CaptureError,
    "tag": TagError,
    "verify": VerifyError,
    "package": PackageError,
}
T = TypeVar("T")


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
    exporter: str = DEFAULT_BACKEND
    stages: dict[str, StageResult] = field(default_factory=lambda: {s: StageResult() for s in STAGES})
    output_dir: str | None = None
    verification: dict[str, Any] | None = None
    hierarchy: dict[str, Any] | None = None
    # With ``exporter="auto"``: why the first backend was given up (``None`` when it worked).
    fallback_from: str | None = None
    # Model code replaced by a traceable equivalent while capturing (modelexport.backends.patches).
    patches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.status in ("ok", "skipped") for s in self.stages.values())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


ProgressCallback = Callable[[str], None]


@contextmanager
def _stage(status: ExportStatus, name: Stage, progress: ProgressCallback | None) -> Iterator[None]:
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
        # torch.onnx ends its first line with "Next steps:", a list the cause below replaces.
        detail = f"{type(e).__name__}: {first_line(e).removesuffix('Next steps:').rstrip()}"
        cause = root_cause(e)
        if cause:
            detail = f"{detail.rstrip('.')}; caused by {cause.rstrip('.')}."
        result.status, result.message = "failed", detail
        where = subject(status.source, status.task, status.exporter)
        other = "dynamo" if status.exporter == "torchscript" else "torchscript"
        hint = f"try --exporter {other}." if name == "capture" else None
        raise _STAGE_ERRORS[name](f"{where}: {detail}", hint=hint) from e
    finally:
        result.seconds = round(time.perf_counter() - start, 3)
    result.status = "ok"


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


def _metadata(
    loaded: LoadedModel, io: IOSpec, status: ExportStatus, opset: int, clean_onnx: bool, saved: list[str]
) -> dict[str, Any]:
    return {
        "source_model": loaded.source,
        "task": loaded.task.name,
        "ort_model_class": loaded.task.ort_class,
        "model_type": getattr(loaded.config, "model_type", None),
        "exporter": status.exporter,
        "exporter_fallback_from": status.fallback_from,
        "model_patches": status.patches,
        "opset": opset,
        "clean_onnx": clean_onnx,
        "export_timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "io": io.to_json(),
        "saved_preprocessors": saved,
        "preprocessor_notes": loaded.preprocessor_notes,
        "verification": status.verification,
        "hierarchy": status.hierarchy,
        "stages": {k: asdict(v) for k, v in status.stages.items()},
    }


def _tag(
    proto: onnx.ModelProto,
    module: Any,
    backend: BackendName,
    clean_onnx: bool,
    out: Path,
    scopes: TorchScriptScopes | None = None,
) -> dict[str, Any]:
    """Tag every node with its module (unless ``clean_onnx``); hierarchy.json is written either way."""
    report = tag_model(proto, module, backend=backend, scope_info=scopes)
    if clean_onnx:
        strip_node_metadata(proto)
    write_json(out / HIERARCHY_FILE, report.to_json())
    summary: dict[str, Any] = report.summary()
    return summary


def _reference(module: Any, inputs: dict[str, Any], io: IOSpec, status: ExportStatus) -> dict[str, Any]:
    """PyTorch's outputs at the verification shape; a model that cannot run is a ModelRunError."""
    try:
        return pytorch_outputs(module, inputs, io.output_names)
    except Exception as e:
        shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in inputs.items())
        raise ModelRunError(
            f"{subject(status.source, status.task)}: PyTorch itself fails on synthetic inputs ({shapes}): "
            f"{type(e).__name__}: {first_line(e)}",
            hint="the model needs inputs this task does not provide; check --task.",
        ) from e


@dataclass(frozen=True)
class ExportOptions:
    """How to export, whatever the backend: the keywords of :func:`run_export`, in one place."""

    task: str | None = None
    opset: int | None = None
    clean_onnx: bool = False
    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL
    force: bool = False
    with_config: bool = True
    trust_remote_code: bool = False


def _run_one_backend(
    model_name_or_path: str,
    output_dir: str | Path,
    exporter: str,
    options: ExportOptions,
    progress: ProgressCallback | None = None,
    fallback_from: str | None = None,
) -> tuple[Path, ExportStatus]:
    """Run every stage with one backend; return the output directory and the status record."""
    output_dir = Path(output_dir).expanduser().resolve()
    backend = get_backend(exporter)
    task, clean_onnx, atol, rtol = options.task, options.clean_onnx, options.atol, options.rtol
    with_config, trust_remote_code = options.with_config, options.trust_remote_code
    status = ExportStatus(
        source=str(model_name_or_path), task=task, exporter=backend.name, fallback_from=fallback_from
    )
    opset = options.opset or backend.default_opset
    local = Path(str(model_name_or_path)).expanduser()
    if local.is_dir():
        check_not_source(output_dir, local)
    with staging_dir(output_dir, force=options.force) as out:
        with _stage(status, "load", progress):
            loaded = load(model_name_or_path, task, trust_remote_code=trust_remote_code)
            if loaded.files_dir is not None:
                check_not_source(output_dir, loaded.files_dir)
            status.task = loaded.task.name
            generative = is_generative_task(loaded.task.name)
            if not generative:
                io = build_io_spec(loaded.model, loaded.task, loaded.tokenizer)
                module = wrap(loaded.model, io)
                args = (io, loaded.model, loaded.task, loaded.config, loaded.preprocessors)
                trace_inputs, check_inputs = make_inputs(*args, "export"), make_inputs(*args, "verify")
        if generative:  # the one dispatch point: several ONNX files and a KV cache (modelexport.generative)
            export_generative(
                loaded,
                out,
                status,
                backend,
                opset,
                clean_onnx=clean_onnx,
                atol=atol,
                rtol=rtol,
                with_config=with_config,
                progress=progress,
            )
            status.output_dir = str(output_dir)
            return output_dir, status  # leaving staging_dir() moves the files into place
        with _stage(status, "capture", progress):
            # The reference is taken before tracing, from the model as the user has it.
            reference = _reference(module, check_inputs, io, status)
            captured = capture_graph(backend, module, trace_inputs, io, opset, out)
            status.patches = list(captured.patches)
            name_dynamic_axes(captured.proto, io)
        with _stage(status, "tag", progress):
            status.hierarchy = _tag(captured.proto, module, backend.name, clean_onnx, out, captured.scopes)
            save_onnx(captured.proto, out / ONNX_FILE, captured.weights)  # the graph's one write
            del captured
        with _stage(status, "verify", progress):
            actual = onnxruntime_outputs(out / ONNX_FILE, {k: v.numpy() for k, v in check_inputs.items()})
            shapes = {k: list(v.shape) for k, v in check_inputs.items()}
            result: Verification = compare_outputs(reference, actual, shapes, atol=atol, rtol=rtol)
            status.verification = result.to_json()
            result.raise_if_failed(subject(model_name_or_path, loaded.task.name, backend.name))
        with _stage(status, "package", progress):
            saved = save_configs(loaded, out) if with_config else []
            write_json(out / METADATA_FILE, _metadata(loaded, io, status, opset, clean_onnx, saved))
    status.output_dir = str(output_dir)
    return output_dir, status


def run_export(
    model_name_or_path: str,
    output_dir: str | Path,
    *,
    task: str | None = None,
    exporter: str = DEFAULT_BACKEND,
    opset: int | None = None,
    clean_onnx: bool = False,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    force: bool = False,
    with_config: bool = True,
    trust_remote_code: bool = False,
    progress: ProgressCallback | None = None,
) -> tuple[Path, ExportStatus]:
    """Run every stage; return the output directory and the status record (raises on failure).

    ``exporter="auto"`` (the default) tries TorchScript, the faster exporter, and falls back to
    dynamo when TorchScript cannot capture the model or its graph does not match PyTorch; the
    metadata records which backend produced the file and why the first was given up.
    ``with_config=False`` writes no config or preprocessor files (Optimum then cannot load the
    directory); ``progress`` is called with each stage's name as it starts.
    """
    options = ExportOptions(task, opset, clean_onnx, atol, rtol, force, with_config, trust_remote_code)
    if exporter != AUTO_EXPORTER:
        get_backend(exporter)  # a bad name is a usage error before any work
        return _run_one_backend(model_name_or_path, output_dir, exporter, options, progress)
    try:
        return _run_one_backend(model_name_or_path, output_dir, "torchscript", options, progress)
    except (CaptureError, VerifyError) as first:
        if isinstance(first, ModelRunError):
            raise  # no backend can trace a model PyTorch cannot run
        if progress:
            progress(f"torchscript failed ({first.stage}); retrying with dynamo")
        try:
            reason = f"{first.stage} failed: {first.message}"
            return _run_one_backend(model_name_or_path, output_dir, "dynamo", options, progress, reason)
        except ModelExportError as second:
            second.message = f"{second.message} (torchscript had failed too: {first.message})"
            raise second from first


def export_with_config(
    model_name_or_path: str,
    output_dir: str | Path,
    *,
    task: str | None = None,
    exporter: str = DEFAULT_BACKEND,
    opset: int | None = None,
    clean_onnx: bool = False,
    input_text: str | None = None,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    force: bool = False,
    trust_remote_code: bool = False,
) -> Path:
    """Export a Hugging Face model (Hub id or local directory) to an Optimum-ready ONNX directory.

    The directory holds ``model.onnx`` (input/output names and dynamic axes as Optimum names them),
    config, generation config and preprocessor files, ``hierarchy.json`` and
    ``export_metadata.json``. ONNX Runtime is checked against PyTorch at a shape other than the
    traced one before anything is written; above ``atol``/``rtol`` a :class:`VerifyError` is raised.
    ``input_text`` is accepted for compatibility with the original design; tracing uses synthetic
    inputs of the right shapes, so it has no effect.
    """
    del input_text
    path, _ = run_export(
        model_name_or_path,
        output_dir,
        task=task,
        exporter=exporter,
        opset=opset,
        clean_onnx=clean_onnx,
        atol=atol,
        rtol=rtol,
        force=force,
        trust_remote_code=trust_remote_code,
    )
    return path
