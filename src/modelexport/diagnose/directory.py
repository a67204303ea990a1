"""A diff of a whole export directory: read what it is, load its source, diff every ONNX file.

The source and task come from ``export_metadata.json`` unless given (Optimum's own exports have no
metadata: pass the model). The exporter's plan for that source gives each file's traced module and
its check inputs, the same ones the exporter verified on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import UserInputError
from ..packaging import METADATA_FILE, sidecar_name
from ..parts import Part
from ..verify import DEFAULT_ATOL, DEFAULT_RTOL
from .compare import Error, json_float
from .diff import Tolerance, diff_part
from .merged import split_branches
from .report import DiffReport, PartDiff
from .runtime import Weights, load_weights

_HINT = "pass a directory written by 'modelexport export' (or Optimum's exporter, with --model)."
# Optimum's file order: an encoder before the decoders that read it.
_ORDER = (
    "encoder_model.onnx",
    "decoder_model.onnx",
    "decoder_with_past_model.onnx",
    "decoder_model_merged.onnx",
    "model.onnx",
)


def read_metadata(directory: Path) -> dict[str, Any] | None:
    """``export_metadata.json`` of ``directory``; None when absent (an export made by another tool)."""
    path = directory / METADATA_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserInputError(f"cannot read {path}: {e}.", hint=_HINT) from e
    if not isinstance(data, dict):
        raise UserInputError(f"{path} is not a JSON object.", hint=_HINT)
    return data


def onnx_files(directory: Path, metadata: dict[str, Any] | None) -> list[str]:
    """The export's ONNX files, in the order they run."""
    listed = (metadata or {}).get("onnx_files")
    if isinstance(listed, list) and all(isinstance(f, str) for f in listed):
        return list(listed)
    found = sorted(p.name for p in directory.glob("*.onnx"))
    return sorted(found, key=lambda f: (_ORDER.index(f) if f in _ORDER else len(_ORDER), f))


def _default_check(checks: list[str]) -> str:
    """The padded batch: the first input set that is not the single-input one."""
    return next((c for c in checks if not c.endswith("single")), checks[0])


def _check(part: Part, check: str | None, file: str) -> str:
    """The input set ``file`` is diffed on: ``check``, else the padded batch."""
    name = check or _default_check(list(part.checks))
    if name not in part.checks:
        raise UserInputError(
            f"{file} has no input set '{name}'.", hint=f"use one of {', '.join(part.checks)}."
        )
    return name


def _candidates(parts: tuple[Part, ...], file: str) -> list[Part]:
    """The parts ``file`` may be diffed on, known before it is read: its own, else (a merged
    decoder) the two decoders it merges."""
    by_file = {p.file: p for p in parts}
    if file in by_file:
        return [by_file[file]]
    return [p for p in parts if p.role in ("decoder_with_past", "decoder_first")]


_Graph = tuple[Part, Weights, str | None, list[int]]


def _graphs(parts: tuple[Part, ...], file: str, weights: Weights, task: str, source: str) -> list[_Graph]:
    """The graphs of ``file`` to diff, each with the part whose module and inputs it is diffed on:
    the file itself, or a merged decoder's two branches (on the decoders they were merged from,
    with the outer nodes each branch's graph starts with)."""
    by_file = {p.file: p for p in parts}
    if file in by_file:
        return [(by_file[file], weights, None, [])]
    by_role: dict[str, Part] = {p.role: p for p in parts}
    roles = {"then_branch": "decoder_with_past", "else_branch": "decoder_first"}
    branches = split_branches(weights)
    if branches and all(roles[b.attribute] in by_role for b in branches):
        return [(by_role[roles[b.attribute]], b.weights, b.attribute, b.outer) for b in branches]
    raise UserInputError(
        f"{file} is not a file a {task} export of {source} has.",
        hint=f"pass the --task it was exported for (its files: {', '.join(by_file)}).",
    )


def _diff_file(
    directory: Path,
    file: str,
    parts: tuple[Part, ...],
    check: str | None,
    tol: Tolerance,
    task: str,
    source: str,
) -> list[PartDiff]:
    """Every graph of one file."""
    checks = {id(p): _check(p, check, file) for p in _candidates(parts, file)}
    weights = load_weights(directory / file)
    out = []
    for part, graph, branch, outer in _graphs(parts, file, weights, task, source):
        sidecar = None if branch else directory / sidecar_name(file)
        out.append(
            diff_part(part, graph, sidecar, checks[id(part)], tol, file=file, branch=branch, outer=outer)
        )
    return out


def diff_export(
    directory: str | Path,
    *,
    model: str | None = None,
    task: str | None = None,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    check: str | None = None,
) -> DiffReport:
    """Every ONNX file of ``directory`` against PyTorch, module by module."""
    from ..loading import load
    from ..plan import plan_of_export

    path = Path(directory)
    if not path.is_dir():
        raise UserInputError(f"'{directory}' is not a directory.", hint=_HINT)
    metadata = read_metadata(path)
    files = onnx_files(path, metadata)
    if not files:
        raise UserInputError(f"'{directory}' holds no .onnx file.", hint=_HINT)
    source = model or (metadata or {}).get("source_model")
    if not source:
        raise UserInputError(
            f"'{directory}' has no {METADATA_FILE} naming its source model.",
            hint="pass the model it was exported from with --model.",
        )
    loaded = load(str(source), task or (metadata or {}).get("task"))
    plan = plan_of_export(loaded, metadata)
    tol = Tolerance(atol, rtol)
    results = [
        d
        for file in files
        for d in _diff_file(path, file, plan.parts, check, tol, loaded.task.name, str(source))
    ]
    exporter = (metadata or {}).get("exporter") if metadata else "unknown (no export_metadata.json)"
    return DiffReport(str(path), str(source), loaded.task.name, exporter, atol, rtol, results)


def json_or_none(error: Error | None) -> float | None:
    return None if error is None else json_float(error.max_abs)


def first_divergence(
    export_dir: str | Path,
    source: str | Path,
    task: str | None,
    *,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
) -> dict[str, Any] | None:
    """Where an export departs from PyTorch, as plain data for a matrix row; None when nothing
    diverges. Raises a :class:`~modelexport.errors.ModelExportError` when the diff cannot run."""
    report = diff_export(export_dir, model=str(source), task=task, atol=atol, rtol=rtol)
    part = report.first
    if part is None:
        return None
    module = part.module(part.first_divergent_module)
    derived = next(
        (
            d.name
            for d in part.derived_inputs
            if module and d.made_by == module.path and d.error and not d.error.ok
        ),
        None,
    )
    return {
        "module": module.path if module else None,
        "class": module.class_name if module else None,
        "file": part.file,
        "check": part.check,
        "found_by": part.found_by,
        "local_max_abs": json_or_none(module.local if module else None),
        "output_max_abs": json_or_none(module.output if module else None),
        "input_max_abs": json_or_none(module.input if module else None),
        "derived_input": derived,
        "tags": part.tags,
    }
