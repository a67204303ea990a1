"""The plan of an export: its parts for the task's layout (a single-file task is a one-part plan)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .generative.plan import generative_plan
from .inputs import CHECKS, make_inputs
from .io_spec import build_io_spec
from .loading import LoadedModel
from .parts import Part, Plan
from .wrappers import TaskOutputs, traced

SINGLE_FILE = "model.onnx"


def make_plan(
    loaded: LoadedModel,
    *,
    merge_decoders: bool = True,
    fixed_image_size: bool = False,
    fixed_axes: Mapping[str, int] | None = None,
    axis_limits: Mapping[str, int] | None = None,
) -> Plan:
    """Every part of the export of ``loaded``, with its traced module and its trace/verify inputs
    (``fixed_image_size``: images at the processor's size only; ``fixed_axes``: axis name -> the one
    size the model's code allows; ``axis_limits``: axis name -> the largest; see :mod:`.pipeline`)."""
    task = loaded.task
    if task.generative:
        return generative_plan(loaded.model, task, loaded.preprocessors, merge_decoders=merge_decoders)
    io = build_io_spec(
        loaded.model,
        task,
        loaded.tokenizer,
        loaded.config,
        loaded.preprocessors,
        fixed_image_size=fixed_image_size,
        fixed_axes=fixed_axes,
        axis_limits=axis_limits,
    )
    args = (io, loaded.config, loaded.preprocessors)
    part = Part(
        SINGLE_FILE,
        "model",
        io,
        traced(TaskOutputs, loaded.model, io),
        make_inputs(*args, "export"),
        {name: make_inputs(*args, phase) for name, phase in CHECKS.items()},
    )
    return Plan(task, (part,))


def fixed_axes_of(metadata: Mapping[str, Any] | None) -> dict[str, int]:
    """The axes an export fixes at one size, as its ``export_metadata.json`` records them under
    ``fixed_axes``: axis name -> size (none in an older export, or in Optimum's)."""
    fixed = (metadata or {}).get("fixed_axes") or {}
    return {str(k): int(v) for k, v in (fixed.get("sizes") or {}).items()} if isinstance(fixed, dict) else {}


def axis_limits_of(metadata: Mapping[str, Any] | None) -> dict[str, int]:
    """The largest sizes an export's check inputs were limited to, as its ``export_metadata.json``
    records them under ``axis_ranges``: axis name -> the range's ``max`` where ``limits_checks``."""
    ranges = (metadata or {}).get("axis_ranges") or {}
    if not isinstance(ranges, dict):
        return {}
    return {
        str(name): int(r["max"])
        for name, r in ranges.items()
        if isinstance(r, dict) and r.get("limits_checks") and isinstance(r.get("max"), int)
    }


def plan_of_export(loaded: LoadedModel, metadata: Mapping[str, Any] | None) -> Plan:
    """The plan an export was made with, as its ``export_metadata.json`` records it: images at the
    processor's size, axes fixed at one size or limited (read by ``diff`` and ``optimize`` /
    ``quantize``, which check the files on the plan's inputs)."""
    fixed_image_size = bool((metadata or {}).get("fixed_image_size"))
    return make_plan(
        loaded,
        fixed_image_size=fixed_image_size,
        fixed_axes=fixed_axes_of(metadata),
        axis_limits=axis_limits_of(metadata),
    )
