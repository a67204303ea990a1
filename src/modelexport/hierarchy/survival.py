"""Do an export's tags survive the tools users run on it next, and does :func:`restore_tags` bring
them back? Measured per ONNX file of an export directory.

The tools, run as a user runs them (their defaults, nothing of modelexport's):

* ``ort-basic`` / ``ort-extended``: an ONNX Runtime session with that graph optimization level and
  ``optimized_model_filepath``, which saves the optimized graph;
* ``transformers-optimizer``: ``onnxruntime.transformers.optimizer.optimize_model`` (the model's
  own fusion type where ONNX Runtime has one, else ``bert``; Python fusions only, ``opt_level=0``);
* ``quantize-dynamic``: ``onnxruntime.quantization.quantize_dynamic``;
* ``merge-decoders``: Optimum's ``merge_decoders`` of an encoder-decoder's ``decoder_model.onnx``
  and ``decoder_with_past_model.onnx`` (an export written with ``merge_decoders=False``).

For each, the share of nodes carrying every ``modelexport.*`` key and ``namespace`` as the tool
wrote the file (``before``) and after ``restore_tags`` (``after``). A tool that fails is recorded
with its error; nothing here raises for a tool's sake.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import onnx

from ..graph import walk
from .restore import restore_tags
from .tagging import TAG_KEYS

TOOLS = ("ort-basic", "ort-extended", "transformers-optimizer", "quantize-dynamic", "merge-decoders")
FILE_TOOLS = TOOLS[:-1]  # run on each file; merge-decoders takes two
MERGED = "decoder_model_merged.onnx"
DECODERS = ("decoder_model.onnx", "decoder_with_past_model.onnx")
ERROR_LIMIT = 200


def error_text(error: BaseException) -> str:
    """``Type: first line`` of an exception (an ``assert`` without a message has no line)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:ERROR_LIMIT]}" if lines else type(error).__name__


def tagged_nodes(model: onnx.ModelProto) -> tuple[int, int]:
    """(nodes carrying every tag key, all nodes), subgraphs included."""
    refs = walk(model.graph)
    keys = set(TAG_KEYS)
    return sum(1 for r in refs if keys <= {p.key for p in r.node.metadata_props}), len(refs)


@contextmanager
def _quiet_loggers() -> Iterator[None]:
    """The optimizer and the quantizer advise on the root logger at every call."""
    loggers = [logging.getLogger(), logging.getLogger("onnxruntime.transformers")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _ort(source: Path, target: Path, level: str) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    }[level]
    options.optimized_model_filepath = str(target)
    options.log_severity_level = 3
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def fusion_type(model_type: str) -> str:
    """ONNX Runtime's fusion type for a Hugging Face model type (``bert`` where it has none)."""
    from onnxruntime.transformers.optimizer import MODEL_TYPES

    return model_type if model_type in MODEL_TYPES else "bert"


def _transformers_optimizer(source: Path, target: Path, model_type: str) -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(str(source), model_type=fusion_type(model_type), opt_level=0)
    optimized.save_model_to_file(str(target))


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import quantize_dynamic

    quantize_dynamic(str(source), str(target))


def _transformers_tools_importable() -> None:
    """ONNX Runtime's transformer tools import their siblings as top-level modules (``fusion_utils``),
    from the directory its package ``__init__`` appends to ``sys.path`` once per interpreter. A
    process whose ``sys.path`` was set after that import (a forkserver's child) must append it again."""
    import onnxruntime.transformers

    directory = os.path.dirname(onnxruntime.transformers.__file__)
    if directory not in sys.path:
        sys.path.append(directory)


def run_tool(tool: str, source: Path, target: Path, model_type: str) -> None:
    """Run one of :data:`FILE_TOOLS` on ``source``, writing ``target``."""
    _transformers_tools_importable()
    with _quiet_loggers():
        if tool == "ort-basic":
            _ort(source, target, "basic")
        elif tool == "ort-extended":
            _ort(source, target, "extended")
        elif tool == "transformers-optimizer":
            _transformers_optimizer(source, target, model_type)
        elif tool == "quantize-dynamic":
            _quantize(source, target)
        else:
            raise ValueError(f"unknown tool {tool!r}; expected one of {', '.join(FILE_TOOLS)}")


def file_survival(original: onnx.ModelProto, rewritten_path: Path) -> dict[str, Any]:
    """The tags of the file a tool wrote, before and after :func:`restore_tags` from ``original``."""
    rewritten = onnx.load(str(rewritten_path), load_external_data=False)
    kept, nodes = tagged_nodes(rewritten)
    stats = restore_tags(original, rewritten)
    after, _ = tagged_nodes(rewritten)
    record: dict[str, Any] = {"nodes": nodes, "tagged_before": kept, "tagged_after": after}
    record["before"] = round(kept / nodes, 4) if nodes else 1.0
    record["after"] = round(after / nodes, 4) if nodes else 1.0
    counts = stats.to_json()
    record.update({k: counts[k] for k in ("kept", "restored", "fused", "inherited", "unresolved")})
    return record


def merge_survival(separate: Path, work: Path) -> dict[str, Any] | None:
    """Optimum's ``merge_decoders`` of the two decoder files in ``separate`` (None without them)."""
    first, cached = (separate / name for name in DECODERS)
    if not (first.is_file() and cached.is_file()):
        return None
    from optimum.onnx import merge_decoders

    target = work / MERGED
    try:
        merge_decoders(first, cached, save_path=target, strict=False)
        return file_survival(onnx.load(str(first), load_external_data=False), target)
    finally:
        target.unlink(missing_ok=True)
        for data in work.glob(f"{MERGED}*"):
            data.unlink()


def measure(
    export_dir: Path, model_type: str, work: Path, separate: Path | None = None
) -> dict[str, dict[str, Any]]:
    """Tool -> ONNX file -> survival record (or ``{"error": ...}``) for every file of
    ``export_dir``; ``separate``, the same export with its decoders unmerged, for merge-decoders.
    ``work`` holds the tools' files while they are measured, and nothing after."""
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, dict[str, Any]] = {tool: {} for tool in TOOLS}
    for path in sorted(export_dir.glob("*.onnx")):
        original = onnx.load(str(path), load_external_data=False)
        for tool in FILE_TOOLS:
            target = work / f"{tool}-{path.name}"
            try:
                run_tool(tool, path, target, model_type)
                out[tool][path.name] = file_survival(original, target)
            except Exception as e:
                out[tool][path.name] = {"error": error_text(e)}
            for leftover in work.glob(f"{tool}-*"):
                leftover.unlink()
    if separate is not None:
        try:
            merged = merge_survival(separate, work)
        except Exception as e:
            merged = {"error": error_text(e)}
        if merged is not None:
            out["merge-decoders"][MERGED] = merged
    return out


def summary(measured: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Per tool over every file: ``[nodes, tagged as the tool wrote them, tagged after restoring]``,
    or the first file's error where the tool failed on any (a tool that did not apply is left out)."""
    out: dict[str, Any] = {}
    for tool in TOOLS:
        files = measured.get(tool) or {}
        if not files:
            continue
        failed = [r["error"] for r in files.values() if "error" in r]
        if failed:
            out[tool] = failed[0]
            continue
        nodes = sum(int(r["nodes"]) for r in files.values())
        before = sum(int(r["tagged_before"]) for r in files.values())
        after = sum(int(r["tagged_after"]) for r in files.values())
        out[tool] = [nodes, before, after]
    return out
