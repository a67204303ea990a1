"""What a generative export writes for one loaded model: its ONNX parts and their step feeds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .feeds import Phase, StepFeeds, decoder_steps, seq2seq_steps
from .layout import POSITION_ID_MODEL_TYPES, OnnxPart, decoder_part, seq2seq_parts
from .wrappers import GenerativeWrapper, wrap_part

DECODER_TASKS = frozenset({"text-generation", "text-generation-with-past"})
SEQ2SEQ_TASKS = frozenset({"text2text-generation", "text2text-generation-with-past"})
GENERATIVE_TASKS = DECODER_TASKS | SEQ2SEQ_TASKS


def is_generative_task(task: str) -> bool:
    """Tasks whose export is several files and/or a KV cache, written by this package."""
    return task in GENERATIVE_TASKS


def with_past(task: str) -> bool:
    return task.endswith("-with-past")


def _decoder_layers(config: Any) -> int:
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    for attr in ("num_decoder_layers", "decoder_layers", "num_hidden_layers", "n_layer", "num_layers"):
        value = getattr(text, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    raise ValueError(f"cannot tell the number of decoder layers of a {type(config).__name__}")


@dataclass
class Plan:
    """The parts to export, their traced wrappers, and the inputs to trace and verify with."""

    parts: tuple[OnnxPart, ...]
    wrappers: dict[str, GenerativeWrapper]
    trace: StepFeeds
    check: StepFeeds

    @property
    def files(self) -> list[str]:
        return [p.file for p in self.parts]


def make_plan(model: torch.nn.Module, task: str) -> Plan:
    """Parts and feeds for ``task``; the model's own presents size every past."""
    config: Any = model.config
    layers = _decoder_layers(config)
    past = with_past(task)
    if task in DECODER_TASKS:
        parts: tuple[OnnxPart, ...] = (
            decoder_part(layers, config.model_type in POSITION_ID_MODEL_TYPES, with_past=past),
        )
    else:
        parts = seq2seq_parts(layers, with_past=past)

    def steps(phase: Phase) -> StepFeeds:
        if task in DECODER_TASKS:
            return decoder_steps(parts[0], model, phase)
        return seq2seq_steps(parts, model, phase)

    wrappers = {p.file: wrap_part(model, p) for p in parts}
    return Plan(parts, wrappers, steps("export"), steps("verify"))
