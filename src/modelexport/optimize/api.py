"""``optimize_export`` and ``quantize_export``: an export directory in, a faster one out, every node
still tagged with its module, verified against PyTorch, loadable by Optimum as it is."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import onnx

from ..errors import UserInputError
from ..options import path_argument
from ..verify import verify_plan
from .agreement import DEFAULT_MIN_COSINE, agreement
from .fusions import LEVELS, Level, optimize_graph
from .quantize import QuantizeOptions, quantize_graph
from .run import Context, ProgressCallback, RewriteStatus, Rewritten, rewrite_files, run_rewrite
from .sensitivity import ModuleError, module_errors

# file -> its modules' errors, worst local error first
SensitivityCallback = Callable[[dict[str, list[ModuleError]]], None]


def _level(level: str) -> Level:
    if level not in LEVELS:
        raise UserInputError(
            f"unknown optimization level '{level}'.", hint=f"use one of {', '.join(LEVELS)}."
        )
    return LEVELS[level]


def _tolerance(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or value < 0:
        raise UserInputError(
            f"--{name} must be a number >= 0, not {value!r}.", hint=f"pass e.g. --{name} 1e-3."
        )
    return float(value)


def _fp32(ctx: Context, command: str) -> None:
    if ctx.export.quantized:
        raise UserInputError(
            f"'{ctx.export.path}' is already quantized.",
            hint="optimize or quantize the fp32 export (optimize first, then quantize)."
            if command == "optimize"
            else "quantize the fp32 export it was made from.",
        )


def optimize_export(
    directory: str | Path,
    output_dir: str | Path,
    *,
    level: str = "O2",
    atol: float | None = None,
    rtol: float | None = None,
    force: bool = False,
    model: str | None = None,
    trust_remote_code: bool = False,
    progress: ProgressCallback | None = None,
) -> RewriteStatus:
    """Optimize every ONNX file of the export at ``directory`` with ONNX Runtime into ``output_dir``.

    Verified against PyTorch at the level's tolerance (``LEVELS``; never tighter than the export's
    own), or ``atol`` / ``rtol`` when given; ``model`` overrides the source in export_metadata.json.
    """
    spec = _level(level)
    given = (_tolerance("atol", atol), _tolerance("rtol", rtol))
    source = path_argument(directory, "export directory")

    def body(ctx: Context, stage: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        _fp32(ctx, "optimize")
        exported = ctx.export.verified_tolerance()
        tol_a = given[0] if given[0] is not None else max(spec.atol, exported[0])
        tol_r = given[1] if given[1] is not None else max(spec.rtol, exported[1])

        def rewrite(file: str, original: onnx.ModelProto, paths: list[str], work: Path) -> Rewritten:
            done = optimize_graph(original, spec, ctx.loaded.config, work)
            return Rewritten(done.model, done.record)

        files = rewrite_files(ctx, stage, rewrite, f"optimize {spec.name}", progress)
        if progress:
            progress("verify")
        result = verify_plan(ctx.plan, stage, ctx.refs, atol=tol_a, rtol=tol_r)
        result.raise_if_failed(f"{ctx.subject}, optimized at {spec.name}")
        record = {
            "level": spec.name,
            "summary": spec.summary,
            "atol": tol_a,
            "rtol": tol_r,
            **_tool(),
            "files": files,
        }
        return record, result.to_json(), {}

    return run_rewrite(
        source, path_argument(output_dir, "output directory"), command="optimize", force=force, model=model,
        trust_remote_code=trust_remote_code, progress=progress, body=body,
    )  # fmt: skip


def _tool() -> dict[str, str]:
    import onnxruntime

    return {"onnxruntime": onnxruntime.__version__}


def _sensitivity(ctx: Context, stage: Path, file: str) -> list[ModuleError]:
    """Per-module error of the quantized ``file`` against the fp32 one, on the padded check inputs."""
    part = next(p for p in ctx.plan.written if p.file == file)
    check = next((c for c in part.checks if c != "single"), next(iter(part.checks)))
    feeds = {k: v.numpy() for k, v in part.checks[check].items()}
    original, tagged = ctx.originals[file], ctx.restored[file]
    paths, _ = ctx.export.node_tags(file, original)
    quantized = onnx.load(str(stage / file))
    classes = {p: i.class_name for p, i in ctx.index.info.items()}
    return module_errors(original, paths, quantized, tagged.paths, feeds, classes)


def quantize_export(
    directory: str | Path,
    output_dir: str | Path,
    *,
    exclude_modules: Sequence[str] = (),
    per_channel: bool = True,
    reduce_range: bool | None = None,
    min_cosine: float = DEFAULT_MIN_COSINE,
    sensitivity: bool | SensitivityCallback = False,
    force: bool = False,
    model: str | None = None,
    trust_remote_code: bool = False,
    progress: ProgressCallback | None = None,
) -> RewriteStatus:
    """Quantize the export at ``directory`` to dynamic int8 (ONNX Runtime) into ``output_dir``.

    ``exclude_modules``: globs over module paths whose nodes stay fp32. Every output is compared with
    PyTorch (max |Δ| and cosine similarity); below ``min_cosine`` nothing is written. ``reduce_range``:
    7-bit weights; None decides by this CPU (7-bit where its int8 products saturate, x86 without
    VNNI), and the record says which. ``sensitivity``:
    also measure each module's error against the fp32 export (a callable receives the rows before
    verification decides, so they are there when it fails; they are also in the returned status).
    """
    if not isinstance(min_cosine, numbers.Real) or not -1.0 <= float(min_cosine) <= 1.0:
        raise UserInputError(f"--min-cosine must lie in [-1, 1], not {min_cosine!r}.", hint="pass e.g. 0.99.")
    if isinstance(exclude_modules, str):
        exclude_modules = (exclude_modules,)
    options = QuantizeOptions.for_this_cpu(per_channel, reduce_range, tuple(exclude_modules))
    source = path_argument(directory, "export directory")

    def body(ctx: Context, stage: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        _fp32(ctx, "quantize")

        def rewrite(file: str, original: onnx.ModelProto, paths: list[str], work: Path) -> Rewritten:
            done = quantize_graph(original, paths, options, work)
            return Rewritten(done.model, done.record)

        files = rewrite_files(ctx, stage, rewrite, "quantize", progress)
        extra: dict[str, Any] = {}
        if sensitivity:
            if progress:
                progress("sensitivity")
            rows = {f: _sensitivity(ctx, stage, f) for f in ctx.export.onnx_files}
            extra["sensitivity"] = rows
            if callable(sensitivity):
                sensitivity(rows)
        if progress:
            progress("verify")
        result = agreement(ctx.plan, stage, ctx.refs, float(min_cosine))
        result.raise_if_failed(f"{ctx.subject}, quantized")
        record = {
            **options.to_json(),
            "min_cosine": float(min_cosine),
            **_tool(),
            "files": files,
            **(
                {"sensitivity": {f: [r.to_json() for r in rs] for f, rs in extra["sensitivity"].items()}}
                if extra
                else {}
            ),
        }
        return record, result.to_json(), extra

    return run_rewrite(
        source, path_argument(output_dir, "output directory"), command="quantize", force=force, model=model,
        trust_remote_code=trust_remote_code, progress=progress, body=body,
    )  # fmt: skip
