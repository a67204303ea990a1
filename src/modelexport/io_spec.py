"""Optimum's ONNX input/output names and dynamic axes for a single-file task's export.

Inputs follow the model's modality (text, vision, audio, text+vision) plus the extra inputs its type
takes; outputs follow the task. An axis the model fixes is static: a sequence length its config
fixes (Nystromformer), Whisper's 3000 frames, an image size it does not interpolate to (found by
running it once at another size).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch

from .common import Axes, IOSpec, TensorSpec
from .errors import UserInputError
from .extra_inputs import extras_for
from .inputs import (
    IMAGE_SIZE_STEP,
    TEXT_INPUTS,
    fixed_frames,
    fixed_sequence_length,
    ordinary_token_floor,
    vocab_of,
)
from .tasks import TaskSpec, get_task

Feeds = Mapping[str, torch.Tensor]


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


def _runs(model: torch.nn.Module, feed: Feeds) -> bool:
    try:
        with torch.no_grad():
            model(**feed)
    except Exception:
        return False
    return True


def needs_decoder_inputs(model: torch.nn.Module, task: TaskSpec, feed: Feeds | None = None) -> bool:
    """Does this encoder-decoder, asked for ``feature-extraction``, need ``decoder_input_ids`` fed?

    BART derives them from ``input_ids`` when none are passed; T5, Marian, Pegasus and Whisper raise,
    each in its own words. Which kind a model is shows only when it runs, so it is run on ``feed``
    (encoder inputs; four tokens when None): it needs them if it fails without decoder tokens and runs
    with them. A model that fails either way is left as it is, for the reference run to report. Costs
    up to two forward passes, and only for encoder-decoders asked for feature-extraction.
    """
    config = getattr(model, "config", None)
    if task.name != "feature-extraction" or not getattr(config, "is_encoder_decoder", False):
        return False
    params = _forward_params(model)
    if "decoder_input_ids" not in params:
        return False
    ids = torch.full((1, 4), ordinary_token_floor(vocab_of(config)))
    base: dict[str, Any] = (
        dict(feed) if feed is not None else {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    )
    if "use_cache" in params:
        base["use_cache"] = False
    batch = next(iter(base.values())).shape[0]
    decoder = torch.full((batch, 4), ordinary_token_floor(vocab_of(config)))
    return not _runs(model, base) and _runs(model, {**base, "decoder_input_ids": decoder})


_ENCODER_AXES: Axes = {0: "batch_size", 1: "encoder_sequence_length"}
_DECODER_AXES: Axes = {0: "batch_size", 1: "decoder_sequence_length"}
_TOKEN_AXES: Axes = {0: "batch_size", 1: "sequence_length"}
_BATCH_AXES: Axes = {0: "batch_size"}
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


def _speech_inputs(model: torch.nn.Module, main: str, task: TaskSpec) -> list[TensorSpec]:
    """Waveforms or spectrogram features; spectrograms and encoder-decoders' (Moonshine) waveforms with
    their mask, except for an x-vector head (it pools a masked batch row by row in Python, so a traced
    mask would fix the batch size)."""
    config = getattr(model, "config", None)
    if main == "input_values" and getattr(config, "model_type", None) in _SPECTROGRAM_INPUT_VALUES:
        return [TensorSpec("input_values", _BATCH_AXES)]
    if main == "input_features" and fixed_frames(config) is not None:
        return [TensorSpec("input_features", _BATCH_AXES)]
    mask = main == "input_features" or getattr(config, "is_encoder_decoder", False)
    takes_mask = mask and task.name != "audio-xvector" and "attention_mask" in _forward_params(model)
    return [
        TensorSpec(main, _TOKEN_AXES),
        *([TensorSpec("attention_mask", _TOKEN_AXES)] if takes_mask else []),
    ]


def _text_inputs(model: torch.nn.Module, task: TaskSpec, tokenizer: Any | None) -> list[TensorSpec]:
    axes: Axes = (
        {0: "batch_size", 1: "num_choices", 2: "sequence_length"}
        if task.name == "multiple-choice"
        else _TOKEN_AXES
    )
    return [TensorSpec(n, axes) for n in _text_input_names(model, tokenizer)]


def input_specs(model: torch.nn.Module, task: TaskSpec, tokenizer: Any | None) -> list[TensorSpec]:
    """The ONNX inputs of a single-file export, by the model's main input (its modality), then the
    extra inputs its type takes."""
    config = getattr(model, "config", None)
    main = _main_input(model)
    specs: list[TensorSpec]
    if _text_and_image(model, task):
        text_axes = {0: "text_batch_size", 1: "sequence_length"}
        specs = [
            TensorSpec("input_ids", text_axes),
            TensorSpec("pixel_values", {**_IMAGE_AXES, 0: "image_batch_size"}),
            TensorSpec("attention_mask", text_axes),
        ]
    elif main == "pixel_values" or (main == "inputs" and task.name == "image-classification"):
        specs = [TensorSpec("pixel_values", _IMAGE_AXES)]
    elif main in ("input_values", "input_features"):
        specs = _speech_inputs(model, main, task)
    elif main == "past_values":
        specs = [TensorSpec("past_values", _BATCH_AXES)]
    elif main == "states":
        specs = [TensorSpec(n, _TOKEN_AXES) for n in _TRAJECTORY]
    else:
        specs = _text_inputs(model, task, tokenizer)
    params = _forward_params(model)
    taken = {s.name for s in specs}
    token_axes = specs[0].axes  # the main input's: an extra that is one per token takes them
    extras = [
        e for e in extras_for(getattr(config, "model_type", None)) if e.name in params and e.name not in taken
    ]
    return [*specs, *(TensorSpec(e.name, token_axes if e.per_token else e.axes) for e in extras)]


def _encoder_decoder_inputs(inputs: tuple[TensorSpec, ...]) -> IOSpec:
    """As Optimum exports an encoder-decoder for feature-extraction: one graph, the encoder's inputs
    in, the decoder's last hidden state out, for the decoder tokens fed."""

    def encoder_axes(axes: Axes) -> Axes:
        return {k: ("encoder_sequence_length" if v == "sequence_length" else v) for k, v in axes.items()}

    return IOSpec(
        (
            *(TensorSpec(t.name, encoder_axes(t.axes)) for t in inputs),
            TensorSpec("decoder_input_ids", _DECODER_AXES),
        ),
        (TensorSpec("last_hidden_state", _DECODER_AXES),),
    )


def build_io_spec(
    model: torch.nn.Module,
    task: TaskSpec,
    tokenizer: Any | None,
    config: Any = None,
    preprocessors: Mapping[str, Any] | None = None,
    *,
    fixed_image_size: bool = False,
    fixed_axes: Mapping[str, int] | None = None,
    axis_limits: Mapping[str, int] | None = None,
) -> IOSpec:
    """Optimum's input/output names and dynamic axes for this model and task. The outputs are those
    the task declares that the model returns (found by running it once on dummy inputs); a model
    returning none of them (MaskFormer's segmentation, MGP-STR's three logits) exports every tensor
    it returns, under its own names. ``fixed_image_size``: ``pixel_values`` at the processor's
    height and width only (for a graph that bakes them, see the pipeline). ``fixed_axes``: axis
    name -> the one size the model's code allows; ``axis_limits``: axis name -> the largest (both
    found by an exporter, see the pipeline)."""
    spec = _build_io_spec(model, task, tokenizer, config, preprocessors, fixed_image_size, fixed_axes or {})
    return replace(
        spec,
        fixed=tuple(sorted((fixed_axes or {}).items())),
        limits=tuple(sorted((axis_limits or {}).items())),
    )


def _build_io_spec(
    model: torch.nn.Module,
    task: TaskSpec,
    tokenizer: Any | None,
    config: Any,
    preprocessors: Mapping[str, Any] | None,
    fixed_image_size: bool,
    fixed_axes: Mapping[str, int],
) -> IOSpec:
    preprocessors = preprocessors or {}
    free = tuple(input_specs(model, task, tokenizer))
    inputs = _without_axes(_sequence_axes(model, free), fixed_axes)
    inputs = _image_size_axes(model, inputs, config, preprocessors, fixed_image_size)
    static = _axis_names(free) - _axis_names(inputs)
    feed = _feed(IOSpec(inputs, ()), config, preprocessors) if config is not None else None
    if needs_decoder_inputs(model, task, feed):
        return _encoder_decoder_inputs(inputs)
    # A text+vision model (CLIP) has one output set whatever the task, as in Optimum's configs.
    if inputs and inputs[0].axes.get(0) == "text_batch_size" and task.name == "feature-extraction":
        task = get_task("zero-shot-image-classification")
    returned = _returned_outputs(model, feed)
    declared = [n for n in task.outputs if returned is None or n in returned]
    if not declared and returned:
        declared = list(returned)
    outputs = tuple(
        TensorSpec(name, {k: v for k, v in task.axes_for_output(name).items() if v not in static})
        for name in declared
    )
    return IOSpec(inputs, _consistent_output_axes(inputs, outputs, feed, returned))


def _axis_names(specs: tuple[TensorSpec, ...]) -> set[str]:
    return {name for t in specs for name in t.axes.values()}


def _without_axes(inputs: tuple[TensorSpec, ...], names: Mapping[str, int]) -> tuple[TensorSpec, ...]:
    return tuple(TensorSpec(t.name, {k: v for k, v in t.axes.items() if v not in names}) for t in inputs)


def _sequence_axes(model: torch.nn.Module, inputs: tuple[TensorSpec, ...]) -> tuple[TensorSpec, ...]:
    """The inputs without their sequence axis when the model takes one length only (Nystromformer)."""
    if fixed_sequence_length(getattr(model, "config", None)) is None:
        return inputs
    return tuple(
        TensorSpec(t.name, {k: v for k, v in t.axes.items() if v != "sequence_length"}) for t in inputs
    )


def _feed(io: IOSpec, config: Any, preprocessors: Mapping[str, Any]) -> dict[str, torch.Tensor] | None:
    """The export-shaped dummy inputs of ``io``, or None when they cannot be made."""
    from .inputs import make_inputs

    try:
        return make_inputs(io, config, preprocessors, "export")
    except Exception:
        return None


def _image_size_axes(
    model: torch.nn.Module,
    inputs: tuple[TensorSpec, ...],
    config: Any,
    preprocessors: Mapping[str, Any],
    fixed: bool = False,
) -> tuple[TensorSpec, ...]:
    """``pixel_values`` with static height and width when ``fixed`` or when the model refuses an
    image :data:`~modelexport.inputs.IMAGE_SIZE_STEP` pixels larger (position embeddings it does not
    interpolate): run once at each size. Verification checks the larger size otherwise."""
    spec = next((t for t in inputs if t.name == "pixel_values" and {2, 3} <= set(t.axes)), None)
    if spec is None:
        return inputs
    if fixed:
        return _without_image_axes(inputs, spec)
    if config is None:
        return inputs
    feed = _feed(IOSpec(inputs, ()), config, preprocessors)
    if feed is None:
        return inputs
    pixels = feed["pixel_values"]
    larger = torch.randn(
        *pixels.shape[:2], pixels.shape[2] + IMAGE_SIZE_STEP, pixels.shape[3] + IMAGE_SIZE_STEP
    )
    if not _calls(model, feed) or _calls(model, {**feed, "pixel_values": larger}):
        return inputs
    return _without_image_axes(inputs, spec)


def _without_image_axes(inputs: tuple[TensorSpec, ...], spec: TensorSpec) -> tuple[TensorSpec, ...]:
    fixed = TensorSpec(spec.name, {k: v for k, v in spec.axes.items() if k not in (2, 3)})
    return tuple(fixed if t is spec else t for t in inputs)


def has_dynamic_image_size(io: IOSpec) -> bool:
    """Whether ``pixel_values`` is an input with dynamic height and width."""
    return any(t.name == "pixel_values" and {2, 3} <= set(t.axes) for t in io.inputs)


def _calls(model: torch.nn.Module, feed: Feeds) -> bool:
    from .wrappers import call_model

    try:
        with torch.no_grad():
            call_model(model, dict(feed))
    except Exception:
        return False
    return True


# Axis names that mean "as long as this input axis": an output axis by one of these names is that
# input's length, and static when no input has it (the model fixes it).
_INPUT_AXIS_NAMES = frozenset(
    {"batch_size", "text_batch_size", "image_batch_size", "sequence_length", "num_choices", "height", "width"}
)


def _consistent_output_axes(
    inputs: tuple[TensorSpec, ...],
    outputs: tuple[TensorSpec, ...],
    feed: Feeds | None,
    returned: Mapping[str, tuple[int, ...]] | None,
) -> tuple[TensorSpec, ...]:
    """Output axes named like an input axis whose size differs (Decision Transformer's 3 tokens per
    step, VisualBERT's text + visual tokens, a speech encoder's frames) get a name of their own: ONNX
    Runtime takes one symbol for one size, and a shared name that lies breaks its shape inference.
    Ones named for an input axis no input has (PatchTST's "sequence" is its fixed patch count) are
    static."""
    if feed is None or returned is None:
        return outputs
    sizes = {
        name: int(feed[t.name].shape[axis]) for t in inputs if t.name in feed for axis, name in t.axes.items()
    }
    fixed = []
    for out in outputs:
        shape = returned.get(out.name, ())
        axes: dict[int, str] = {}
        for axis, name in out.axes.items():
            if name in _INPUT_AXIS_NAMES and name not in sizes:
                continue
            differs = name in sizes and axis < len(shape) and shape[axis] != sizes[name]
            axes[axis] = f"{out.name}_dim_{axis}" if differs else name
        fixed.append(TensorSpec(out.name, axes))
    return tuple(fixed)


def _returned_outputs(model: torch.nn.Module, feed: Feeds | None) -> dict[str, tuple[int, ...]] | None:
    """The tensor outputs the model returns on the export-shaped dummy inputs (name -> shape), in
    order; ``None`` when it cannot run on them (the reference run reports that)."""
    from .wrappers import call_model

    if feed is None:
        return None
    try:
        with torch.no_grad():
            result = call_model(model, dict(feed))
    except Exception:
        return None
    items = result.items() if hasattr(result, "items") else []
    return {k: tuple(v.shape) for k, v in items if isinstance(v, torch.Tensor) and k != "loss"}
