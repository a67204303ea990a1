"""The plan of an export: its parts for the task's layout (a single-file task is a one-part plan)."""

from __future__ import annotations

from .generative.plan import generative_plan
from .inputs import CHECKS, make_inputs
from .io_spec import build_io_spec
from .loading import LoadedModel
from .parts import Part, Plan
from .wrappers import TaskOutputs, traced

SINGLE_FILE = "model.onnx"


def make_plan(loaded: LoadedModel, *, merge_decoders: bool = True, fixed_image_size: bool = False) -> Plan:
    """Every part of the export of ``loaded``, with its traced module and its trace/verify inputs
    (``fixed_image_size``: images at the processor's size only, see :mod:`.pipeline`)."""
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
