"""What a generative export writes for one loaded model: its ONNX parts and their step feeds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..inputs import ordinary_token_floor
from . import compat
from .feeds import Phase, StepFeeds, decoder_steps, seq2seq_steps, vocab_size
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


def _cache_layers(model: torch.nn.Module, seq2seq: bool) -> int:
    """How many layers the model's own cache has (a two-token probe): configs name this differently
    across model types and transformers versions, the cache does not."""
    ids = torch.full((1, 2), ordinary_token_floor(vocab_size(model)))
    extra = {"decoder_input_ids": ids[:, :1]} if seq2seq else {}
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=True, return_dict=True, **extra)
    flat = compat.flatten_cache(out.past_key_values, self_attention_only=not seq2seq)
    return len(flat) // (4 if seq2seq else 2)


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
    past = with_past(task)
    layers = _cache_layers(model, seq2seq=task in SEQ2SEQ_TASKS)
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
