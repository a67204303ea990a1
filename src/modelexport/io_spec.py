"""Optimum's ONNX input/output names and dynamic axes for a single-file task's export.

Inputs follow the model's modality (text, vision, audio, text+vision), outputs follow the task.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from .common import Axes, IOSpec, TensorSpec
from .errors import UserInputError
from .inputs import TEXT_INPUTS, ordinary_token_floor, vocab_of
from .tasks import TaskSpec, get_task


def _forward_params(model: torch.nn.Module) -> set[str]:
    return set(inspect.signature(model.forward).parameters)


def modality(model: torch.nn.Module, task: TaskSpec) -> str:
    """``text``, ``vision``, ``audio`` or ``text+vision``, from the task and the model's inputs."""
    params = _forward_params(model)
    if task.name == "zero-shot-image-classification" or {"input_ids", "pixel_values"} <= params:
        return "text+vision"
    main = getattr(model, "main_input_name", "input_ids")
    return {"pixel_values": "vision", "input_values": "audio"}.get(main, "text")


def _text_input_names(model: torch.nn.Module, tokenizer: Any | None) -> list[str]:
    """Text inputs the tokenizer produces (its ``model_input_names``) that forward() accepts."""
    params = _forward_params(model)
    produced = list(getattr(tokenizer, "model_input_names", None) or TEXT_INPUTS)
    names = [n for n in TEXT_INPUTS if n in produced and n in params]
    if "input_ids" not in names:
        raise UserInputError(
            f"{type(model).__name__}.forward() takes no input_ids.",
            hint="this model needs a task with another modality; pass --task.",
        )
    return names


def needs_decoder_inputs(model: torch.nn.Module, task: TaskSpec) -> bool:
    """Does this encoder-decoder, asked for ``feature-extraction``, need ``decoder_input_ids`` fed?

    BART derives them from ``input_ids`` when none are passed; T5, Marian and Pegasus raise, each in
    its own words. Which kind a model is shows only when it runs, so it is run on four tokens: it
    needs them if it fails without decoder tokens and runs with them. A model that fails either way
    is left as it is, for the reference run to report. Costs up to two forward passes at 1 x 4, and
    only for encoder-decoders asked for feature-extraction.
    """
    config = getattr(model, "config", None)
    if task.name != "feature-extraction" or not getattr(config, "is_encoder_decoder", False):
        return False
    params = _forward_params(model)
    if "decoder_input_ids" not in params:
        return False
    ids = torch.full((1, 4), ordinary_token_floor(vocab_of(config)))
    feed: dict[str, Any] = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if "use_cache" in params:
        feed["use_cache"] = False

    def runs(**extra: Any) -> bool:
        try:
            with torch.no_grad():
                model(**feed, **extra)
        except Exception:
            return False
        return True

    return not runs() and runs(decoder_input_ids=ids)


_ENCODER_AXES: Axes = {0: "batch_size", 1: "encoder_sequence_length"}
_DECODER_AXES: Axes = {0: "batch_size", 1: "decoder_sequence_length"}


def build_io_spec(model: torch.nn.Module, task: TaskSpec, tokenizer: Any | None) -> IOSpec:
    """Optimum's input/output names and dynamic axes for this model and task."""
    kind = modality(model, task)
    token_axes: Axes = {0: "batch_size", 1: "sequence_length"}
    inputs: list[TensorSpec] = []
    if kind == "text" and needs_decoder_inputs(model, task):
        # As Optimum exports an encoder-decoder for feature-extraction: one graph, encoder tokens
        # in, the decoder's last hidden state out, for the decoder tokens fed.
        names = _text_input_names(model, tokenizer)
        return IOSpec(
            (
                *(TensorSpec(n, _ENCODER_AXES) for n in names),
                TensorSpec("decoder_input_ids", _DECODER_AXES),
            ),
            (TensorSpec("last_hidden_state", _DECODER_AXES),),
        )
    if kind == "text":
        axes = (
            {0: "batch_size", 1: "num_choices", 2: "sequence_length"}
            if task.name == "multiple-choice"
            else token_axes
        )
        inputs = [TensorSpec(n, axes) for n in _text_input_names(model, tokenizer)]
    elif kind == "vision":
        inputs = [TensorSpec("pixel_values", {0: "batch_size", 1: "num_channels", 2: "height", 3: "width"})]
    elif kind == "audio":
        inputs = [TensorSpec("input_values", {0: "batch_size", 1: "sequence_length"})]
    else:  # text+vision
        text_axes = {0: "text_batch_size", 1: "sequence_length"}
        inputs = [
            TensorSpec("input_ids", text_axes),
            TensorSpec("pixel_values", {0: "image_batch_size", 1: "num_channels", 2: "height", 3: "width"}),
            TensorSpec("attention_mask", text_axes),
        ]
    # A text+vision model (CLIP) has one output set whatever the task, as in Optimum's configs.
    out_task = get_task("zero-shot-image-classification") if kind == "text+vision" else task
    outputs = [TensorSpec(name, out_task.axes_for_output(name)) for name in out_task.outputs]
    return IOSpec(tuple(inputs), tuple(outputs))
