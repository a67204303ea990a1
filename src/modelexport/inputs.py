"""ONNX input/output names, dynamic axes and dummy inputs, following Optimum's conventions.

Inputs follow the model's modality (text, vision, audio, text+vision), outputs follow the task.
Two input sets are made: one to trace with (batch 2 x sequence 16, with padding so the attention
mask's path is traced) and one of a different shape to verify with (batch 3 x sequence 128).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from .errors import UserInputError
from .tasks import Axes, TaskSpec, get_task

Phase = Literal["export", "verify"]

TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_BATCH = {"export": 2, "verify": 3}
_SEQUENCE = {"export": 16, "verify": 128}
_CHOICES = {"export": 2, "verify": 3}
_AUDIO_SAMPLES = {"export": 8000, "verify": 12000}
# Decoder tokens fed beside the encoder's (feature-extraction of T5 and the like): a length of
# their own, so the encoder and decoder sequence axes stay two axes.
_DECODER_SEQUENCE = {"export": 12, "verify": 40}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    axes: Axes


@dataclass(frozen=True)
class IOSpec:
    """Names and dynamic axes of one ONNX file's inputs and outputs."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {t.name: dict(t.axes) for t in (*self.inputs, *self.outputs)}

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": {t.name: {str(k): v for k, v in t.axes.items()} for t in self.inputs},
            "outputs": {t.name: {str(k): v for k, v in t.axes.items()} for t in self.outputs},
        }


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


def _vocab(config: Any) -> int:
    """The config's vocabulary size, 100 where it names none."""
    return int(getattr(config, "vocab_size", None) or 100)


def ordinary_token_floor(vocab: int) -> int:
    """The lowest id synthetic inputs use: ids below it are special tokens in most vocabularies."""
    return min(5, vocab - 1)


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
    ids = torch.full((1, 4), ordinary_token_floor(_vocab(config)))
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


def _sub(config: Any, name: str) -> Any:
    return getattr(config, name, None) or config


def _max_text_length(config: Any, tokenizer: Any | None) -> int:
    text_config = _sub(config, "text_config")
    limits = [getattr(text_config, "max_position_embeddings", None)]
    if tokenizer is not None and 0 < getattr(tokenizer, "model_max_length", 0) < 1_000_000:
        limits.append(tokenizer.model_max_length)
    known = [int(x) for x in limits if x]
    # RoBERTa-style position ids start after the padding index: keep two positions spare.
    return min(known) - 2 if known else 512


def _image_size(config: Any, image_processor: Any | None) -> tuple[int, int]:
    for attr in ("crop_size", "size"):
        size = getattr(image_processor, attr, None) if image_processor is not None else None
        if isinstance(size, Mapping):
            if "height" in size and "width" in size:
                return int(size["height"]), int(size["width"])
            if "shortest_edge" in size:
                return int(size["shortest_edge"]), int(size["shortest_edge"])
        elif isinstance(size, int):
            return size, size
    image_size = getattr(_sub(config, "vision_config"), "image_size", None) or 224
    if isinstance(image_size, list | tuple):
        return int(image_size[0]), int(image_size[1])
    return int(image_size), int(image_size)


def _token_id(sources: tuple[Any, ...], *names: str) -> int | None:
    """The first integer id any of ``sources`` (tokenizer, text config, config) has under ``names``."""
    for name in names:
        for source in sources:
            value = getattr(source, name, None) if source is not None else None
            if isinstance(value, list | tuple):
                value = value[0] if value else None
            if isinstance(value, int) and value >= 0:
                return value
    return None


def _ordinary_ids(
    shape: tuple[int, ...], vocab: int, special: set[int | None], gen: torch.Generator
) -> torch.Tensor:
    """Random token ids of ``shape`` at or above :func:`ordinary_token_floor`, none of them one of
    the ``special`` ids (those drawn by chance are replaced by the lowest ordinary id)."""
    special_ids = {i for i in special if i is not None and i < vocab}
    low = ordinary_token_floor(vocab)
    ids = torch.randint(low, vocab, shape, generator=gen)
    ordinary = next((i for i in range(low, vocab) if i not in special_ids), low)
    for token in special_ids:
        ids[ids == token] = ordinary
    return ids


def _text_tensors(
    names: list[str], shape: tuple[int, ...], config: Any, tokenizer: Any | None, gen: torch.Generator
) -> dict[str, torch.Tensor]:
    """Token ids laid out as a tokenizer lays out text: a start token where the model has one, random
    ordinary tokens, an end token closing each row, and padding (pad id, mask 0) after it in the
    last row. Heads that look for the end token (BART's classifier pools at ``</s>``) need it."""
    text_config = _sub(config, "text_config")
    vocab = _vocab(text_config)
    sources = (tokenizer, text_config, config)
    start = _token_id(sources, "cls_token_id", "bos_token_id")
    end = _token_id(sources, "sep_token_id", "eos_token_id")
    pad = _token_id(sources, "pad_token_id")
    ids = _ordinary_ids(shape, vocab, {start, end, pad}, gen)
    length = shape[-1]
    lengths = torch.full(shape[:-1], length, dtype=torch.long)
    if length > 4:
        # Pad the tail of the last row so the traced graph keeps the attention-mask path.
        lengths[..., -1] = length // 2
    positions = torch.arange(length).expand(shape)
    mask = (positions < lengths.unsqueeze(-1)).long()
    if start is not None and start < vocab and length > 2:
        ids[..., 0] = start
    if end is not None and end < vocab and length > 2:
        ids.scatter_(-1, (lengths - 1).unsqueeze(-1), end)
    if pad is not None and pad < vocab:
        ids[mask == 0] = pad
    out: dict[str, torch.Tensor] = {"input_ids": ids, "attention_mask": mask}
    types = torch.zeros(shape, dtype=torch.long)
    if int(getattr(config, "type_vocab_size", 0) or 0) > 1:
        types[..., length // 2 :] = 1
    out["token_type_ids"] = types
    return {n: out[n] for n in names}


def _decoder_ids(batch: int, length: int, config: Any, gen: torch.Generator) -> torch.Tensor:
    """Decoder tokens as generation starts them: the decoder start token, then ordinary tokens."""
    vocab = _vocab(config)
    sources = (config,)
    special = {_token_id(sources, "eos_token_id"), _token_id(sources, "pad_token_id")}
    ids = _ordinary_ids((batch, length), vocab, special, gen)
    start = _token_id(sources, "decoder_start_token_id", "pad_token_id")
    if start is not None and start < vocab:
        ids[:, 0] = start
    return ids


def make_inputs(
    io: IOSpec,
    model: torch.nn.Module,
    task: TaskSpec,
    config: Any,
    preprocessors: Mapping[str, Any],
    phase: Phase,
    *,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Dummy inputs for tracing (``export``) or, at another shape, for verification (``verify``)."""
    gen = torch.Generator().manual_seed(seed + (0 if phase == "export" else 1))
    tokenizer = preprocessors.get("tokenizer")
    image_processor = preprocessors.get("image_processor")
    kind = modality(model, task)
    names = io.input_names
    batch = _BATCH[phase]
    seq = min(_SEQUENCE[phase], _max_text_length(config, tokenizer))
    if kind == "text":
        shape: tuple[int, ...] = (
            (batch, _CHOICES[phase], seq) if task.name == "multiple-choice" else (batch, seq)
        )
        encoder_names = [n for n in names if n != "decoder_input_ids"]
        tensors = _text_tensors(encoder_names, shape, config, tokenizer, gen)
        if "decoder_input_ids" in names:
            length = min(_DECODER_SEQUENCE[phase], seq)  # within the decoder's positions too
            tensors["decoder_input_ids"] = _decoder_ids(batch, length, config, gen)
        return {n: tensors[n] for n in names}
    if kind == "audio":
        return {"input_values": torch.randn(batch, _AUDIO_SAMPLES[phase], generator=gen)}
    channels = int(getattr(_sub(config, "vision_config"), "num_channels", 3) or 3)
    height, width = _image_size(config, image_processor)
    if kind == "vision":
        return {"pixel_values": torch.randn(batch, channels, height, width, generator=gen)}
    text_batch = batch + 1  # text and image batches differ so their axes stay separate
    tensors = _text_tensors(["input_ids", "attention_mask"], (text_batch, seq), config, tokenizer, gen)
    tensors["pixel_values"] = torch.randn(batch, channels, height, width, generator=gen)
    return {n: tensors[n] for n in names}


def name_dynamic_axes(model: Any, io: IOSpec) -> None:
    """Rename symbolic dims the exporter chose (``s59``) to the names in ``io`` throughout the graph.

    The dynamo exporter names only the axes it was asked to keep dynamic; axes it was allowed to
    decide on (height, width) come out as ``sN``. A no-op for graphs already named as ``io`` says.
    """
    renames: dict[str, str] = {}
    by_name = {v.name: v for v in (*model.graph.input, *model.graph.output)}
    for spec in (*io.inputs, *io.outputs):
        value = by_name.get(spec.name)
        if value is None:
            continue
        dims = value.type.tensor_type.shape.dim
        for axis, name in spec.axes.items():
            if axis < len(dims) and dims[axis].dim_param and dims[axis].dim_param != name:
                renames.setdefault(dims[axis].dim_param, name)
    if not renames:
        return
    for value in (*model.graph.input, *model.graph.output, *model.graph.value_info):
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in renames:
                dim.dim_param = renames[dim.dim_param]
