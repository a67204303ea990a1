"""Optimum's ONNX input/output names and dynamic axes for a single-file task's export.

Inputs follow the model's modality (text, vision, audio, text+vision), outputs follow the task.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch

from .common import Axes, IOSpec, TensorSpec
from .errors import UserInputError
from .extra_inputs import text_extras
from .inputs import TEXT_INPUTS, ordinary_token_floor, vocab_of
from .tasks import TaskSpec, get_task


def _forward_params(model: torch.nn.Module) -> set[str]:
    return set(inspect.signature(model.forward).parameters)


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
_TOKEN_AXES: Axes = {0: "batch_size", 1: "sequence_length"}
_IMAGE_AXES: Axes = {0: "batch_size", 1: "num_channels", 2: "height", 3: "width"}
# Tasks whose exports take text and images together (CLIP-like models, OWL-ViT).
_TEXT_AND_IMAGE_TASKS = frozenset({"zero-shot-image-classification", "zero-shot-object-detection"})
# Audio models whose input_values are a spectrogram of fixed size (batch, max_length, num_mel_bins).
_SPECTROGRAM_INPUT_VALUES = frozenset({"audio-spectrogram-transformer"})
# Decision Transformer's trajectory, in Optimum's order.
_TRAJECTORY = ("states", "actions", "rewards", "returns_to_go", "timesteps", "attention_mask")


def _main_input(model: torch.nn.Module) -> str:
    return str(getattr(model, "main_input_name", "input_ids") or "input_ids")


def _text_and_image(model: torch.nn.Module, task: TaskSpec) -> bool:
    """Text and images in one graph: zero-shot tasks, and a dual encoder's own forward (CLIP-like
    models, which have text and image feature methods) for feature-extraction."""
    if not {"input_ids", "pixel_values"} <= _forward_params(model):
        return False
    dual = hasattr(model, "get_text_features") and hasattr(model, "get_image_features")
    return task.name in _TEXT_AND_IMAGE_TASKS or (task.name == "feature-extraction" and dual)


def input_specs(model: torch.nn.Module, task: TaskSpec, tokenizer: Any | None) -> list[TensorSpec]:
    """The ONNX inputs of a single-file export, by the model's main input (its modality) and type."""
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    main = _main_input(model)
    if _text_and_image(model, task):
        text_axes = {0: "text_batch_size", 1: "sequence_length"}
        return [
            TensorSpec("input_ids", text_axes),
            TensorSpec("pixel_values", {**_IMAGE_AXES, 0: "image_batch_size"}),
            TensorSpec("attention_mask", text_axes),
        ]
    if main in ("pixel_values",) or (main == "inputs" and task.name == "image-classification"):
        return [TensorSpec("pixel_values", _IMAGE_AXES)]
    if main == "input_values":
        if model_type in _SPECTROGRAM_INPUT_VALUES:
            return [TensorSpec("input_values", {0: "batch_size"})]
        return [TensorSpec("input_values", _TOKEN_AXES)]
    if main == "input_features":
        return [TensorSpec("input_features", _TOKEN_AXES), *_mask_if_taken(model)]
    if main == "past_values":
        return [TensorSpec("past_values", {0: "batch_size"})]
    if main == "states":
        return [TensorSpec(n, _TOKEN_AXES) for n in _TRAJECTORY]
    axes = (
        {0: "batch_size", 1: "num_choices", 2: "sequence_length"}
        if task.name == "multiple-choice"
        else _TOKEN_AXES
    )
    names = _text_input_names(model, tokenizer)
    extras = [TensorSpec(e.name, e.axes) for e in text_extras(model_type) if e.name in _forward_params(model)]
    return [*(TensorSpec(n, axes) for n in names), *extras]


def _mask_if_taken(model: torch.nn.Module) -> list[TensorSpec]:
    return [TensorSpec("attention_mask", _TOKEN_AXES)] if "attention_mask" in _forward_params(model) else []


def build_io_spec(
    model: torch.nn.Module,
    task: TaskSpec,
    tokenizer: Any | None,
    config: Any = None,
    preprocessors: Mapping[str, Any] | None = None,
) -> IOSpec:
    """Optimum's input/output names and dynamic axes for this model and task. The outputs are those
    the task declares that the model returns (found by running it once on dummy inputs); a model
    returning none of them (MaskFormer's segmentation, MGP-STR's three logits) exports every tensor
    it returns, under its own names."""
    if needs_decoder_inputs(model, task):
        # As Optimum exports an encoder-decoder for feature-extraction: one graph, encoder tokens
        # in, the decoder's last hidden state out, for the decoder tokens fed.
        names = _text_input_names(model, tokenizer)
        return IOSpec(
            (*(TensorSpec(n, _ENCODER_AXES) for n in names), TensorSpec("decoder_input_ids", _DECODER_AXES)),
            (TensorSpec("last_hidden_state", _DECODER_AXES),),
        )
    inputs = tuple(input_specs(model, task, tokenizer))
    # A text+vision model (CLIP) has one output set whatever the task, as in Optimum's configs.
    if inputs and inputs[0].axes.get(0) == "text_batch_size" and task.name == "feature-extraction":
        task = get_task("zero-shot-image-classification")
    returned = _returned_outputs(model, IOSpec(inputs, ()), config, preprocessors or {})
    declared = [n for n in task.outputs if returned is None or n in returned]
    if not declared and returned:
        declared = list(returned)
    outputs = tuple(TensorSpec(name, task.axes_for_output(name)) for name in declared)
    return IOSpec(inputs, outputs)


def _returned_outputs(
    model: torch.nn.Module, io: IOSpec, config: Any, preprocessors: Mapping[str, Any]
) -> list[str] | None:
    """The tensor outputs the model returns on the export-shaped dummy inputs, in order; ``None`` when
    it cannot run on them (the reference run reports that)."""
    from .inputs import make_inputs
    from .wrappers import call_model

    if config is None:
        return None
    try:
        feeds = make_inputs(io, config, preprocessors, "export")
        with torch.no_grad():
            result = call_model(model, feeds)
    except Exception:
        return None
    items = result.items() if hasattr(result, "items") else []
    return [k for k, v in items if isinstance(v, torch.Tensor) and k != "loss"]
