"""Dummy inputs for tracing and verifying a single-file export, laid out as Optimum names its inputs.

Three input sets are made: one to trace with (batch 2 x sequence 16, with padding so the attention
mask's path is traced) and two of other shapes to verify with: a padded batch 3 x sequence 128 and
one unpadded input of sequence 7 (the batch-1, short input users give most, and one a graph with a
traced size baked in fails on). What to make follows the input names (text, ``pixel_values``,
``input_values``), not the task.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch

from .common import IOSpec
from .extra_inputs import extras_for

# export: the traced inputs; verify: a padded batch of another shape; single: one unpadded input.
Phase = Literal["export", "verify", "single"]

TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class Shape:
    """The sizes of one input set; ``seed`` offsets the random generator so each set differs."""

    batch: int
    sequence: int
    choices: int
    audio_samples: int
    # Decoder tokens fed beside the encoder's (feature-extraction of T5 and the like): a length of
    # their own, so the encoder and decoder sequence axes stay two axes.
    decoder_sequence: int
    seed: int
    # The last row of text ends in padding (attention mask 0), so the mask's path is traced and checked.
    padded: bool = True


SHAPES: dict[Phase, Shape] = {
    "export": Shape(batch=2, sequence=16, choices=2, audio_samples=8000, decoder_sequence=12, seed=0),
    "verify": Shape(batch=3, sequence=128, choices=3, audio_samples=12000, decoder_sequence=40, seed=1),
    "single": Shape(
        batch=1, sequence=7, choices=4, audio_samples=5000, decoder_sequence=3, seed=2, padded=False
    ),
}
# The verification input sets, as export_metadata.json names them.
CHECKS: dict[str, Phase] = {"batch": "verify", "single": "single"}


# The axes an export may fix at one size (modelexport.pipeline): :func:`shape_of` makes them so.
FIXABLE_AXES = frozenset({"batch_size", "sequence_length"})


def shape_of(io: IOSpec, phase: Phase) -> Shape:
    """The sizes of ``phase``'s input set for ``io``: :data:`SHAPES`, with the axes ``io`` fixes at
    their one size, and no larger than the limits ``io`` sets."""
    shape = SHAPES[phase]

    def size(axis: str, default: int) -> int:
        fixed, limit = io.fixed_size(axis), io.limit(axis)
        if fixed is not None:
            return fixed
        return default if limit is None else min(default, limit)

    return replace(
        shape, batch=size("batch_size", shape.batch), sequence=size("sequence_length", shape.sequence)
    )


def larger_image_sets() -> tuple[str, ...]:
    """The check input sets whose images are larger than the processor's (where the export keeps
    height and width dynamic): the others are at the processor's size."""
    return tuple(name for name, phase in CHECKS.items() if phase == "verify")


# Models that take one sequence length only: model type -> the length its config fixes (None: any).
_FIXED_SEQUENCE: Mapping[str, Callable[[Any], int | None]] = {
    # Nystrom landmarks average fixed segments: inputs must be segment_means_seq_len long, unless there
    # are as many landmarks as tokens (exact attention).
    "nystromformer": lambda c: (
        int(c.segment_means_seq_len) if c.num_landmarks != c.segment_means_seq_len else None
    ),
}
# Verification checks a model that accepts other image sizes at this many pixels more per side.
IMAGE_SIZE_STEP = 32


def fixed_sequence_length(config: Any) -> int | None:
    """The one sequence length the model accepts, or None when any length within its positions works."""
    rule = _FIXED_SEQUENCE.get(getattr(config, "model_type", "") or "")
    return rule(config) if rule is not None else None


def fixed_frames(config: Any) -> int | None:
    """Whisper-like encoders take exactly 2 x max_source_positions spectrogram frames (3000)."""
    if getattr(config, "max_source_positions", None) and getattr(config, "num_mel_bins", None):
        return 2 * int(config.max_source_positions)
    return None


def vocab_of(config: Any) -> int:
    """The config's vocabulary size, 100 where it names none."""
    return int(getattr(config, "vocab_size", None) or 100)


def ordinary_token_floor(vocab: int) -> int:
    """The lowest id synthetic inputs use: ids below it are special tokens in most vocabularies."""
    return min(5, vocab - 1)


def _sub(config: Any, name: str) -> Any:
    return getattr(config, name, None) or config


def _max_text_length(config: Any, tokenizer: Any | None) -> int:
    text_config = _sub(config, "text_config")
    limits = [getattr(text_config, "max_position_embeddings", None)]
    if tokenizer is not None and 0 < getattr(tokenizer, "model_max_length", 0) < 1_000_000:
        limits.append(tokenizer.model_max_length)
    known = [int(x) for x in limits if x and int(x) > 0]  # XLNet says -1: no limit
    # RoBERTa-style position ids start after the padding index: keep two positions spare.
    return min(known) - 2 if known else 512


def _image_size(config: Any, image_processor: Any | None) -> tuple[int, int]:
    for attr in ("crop_size", "size"):
        size = getattr(image_processor, attr, None) if image_processor is not None else None
        if size is not None and not isinstance(size, Mapping | int) and hasattr(size, "height"):
            # transformers 5's SizeDict: the same keys as attributes, unset ones None
            size = {k: v for k in ("height", "width", "shortest_edge") if (v := getattr(size, k, None))}
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


def token_id(sources: tuple[Any, ...], *names: str) -> int | None:
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
    names: list[str],
    shape: tuple[int, ...],
    config: Any,
    tokenizer: Any | None,
    gen: torch.Generator,
    padded: bool = True,
) -> dict[str, torch.Tensor]:
    """Token ids laid out as a tokenizer lays out text: a start token where the model has one, random
    ordinary tokens, an end token closing each row, and (``padded``) padding (pad id, mask 0) after
    it in the last row. Heads that look for the end token (BART's classifier pools at ``</s>``)
    need it."""
    text_config = _sub(config, "text_config")
    vocab = vocab_of(text_config)
    sources = (tokenizer, text_config, config)
    start = token_id(sources, "cls_token_id", "bos_token_id")
    end = token_id(sources, "sep_token_id", "eos_token_id")
    pad = token_id(sources, "pad_token_id")
    ids = _ordinary_ids(shape, vocab, {start, end, pad}, gen)
    length = shape[-1]
    lengths = torch.full(shape[:-1], length, dtype=torch.long)
    if padded and length > 4:
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
    vocab = vocab_of(config)
    sources = (config,)
    special = {token_id(sources, "eos_token_id"), token_id(sources, "pad_token_id")}
    ids = _ordinary_ids((batch, length), vocab, special, gen)
    start = token_id(sources, "decoder_start_token_id", "pad_token_id")
    if start is not None and start < vocab:
        ids[:, 0] = start
    return ids


def _kind(names: list[str]) -> str:
    """What kind of inputs ``names`` are (without the model's extra inputs): text, vision, text+vision,
    waveform, spectrogram features, a time series or a trajectory."""
    for name, kind in (
        ("states", "trajectory"),
        ("past_values", "time-series"),
        ("input_features", "features"),
        ("input_values", "audio"),
    ):
        if name in names:
            return kind
    if "pixel_values" in names:
        return "text+vision" if "input_ids" in names else "vision"
    return "text"


def _audio(io: IOSpec, config: Any, batch: int, samples: int, gen: torch.Generator) -> torch.Tensor:
    """A waveform (batch, samples), or for a model whose input_values are a fixed spectrogram (AST),
    (batch, max_length, num_mel_bins)."""
    spec = next(t for t in io.inputs if t.name == "input_values")
    if 1 not in spec.axes:
        return torch.randn(batch, int(config.max_length), int(config.num_mel_bins), generator=gen)
    return torch.randn(batch, samples, generator=gen)


def _features(config: Any, batch: int, frames: int, gen: torch.Generator) -> torch.Tensor:
    """Spectrogram features: (batch, frames, feature_size) as speech encoders (wav2vec2-BERT,
    Speech2Text) take them; Whisper-like encoders take (batch, num_mel_bins, 2 * max_source_positions)."""
    fixed = fixed_frames(config)
    if fixed is not None:
        return torch.randn(batch, int(config.num_mel_bins), fixed, generator=gen)
    size = int(
        getattr(config, "feature_size", None)
        or getattr(config, "input_feat_per_channel", None)
        or getattr(config, "feature_projection_input_dim", None)
        or 80
    )
    channels = int(getattr(config, "input_channels", 1) or 1)
    return torch.randn(batch, frames, size * channels, generator=gen)


def _trajectory(config: Any, batch: int, length: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """A Decision Transformer trajectory of ``length`` steps (timesteps within the episode length)."""
    steps = min(length, int(config.max_ep_len) - 1)
    start = torch.randint(0, int(config.max_ep_len) - steps, (batch, 1), generator=gen)
    return {
        "states": torch.randn(batch, steps, int(config.state_dim), generator=gen),
        "actions": torch.randn(batch, steps, int(config.act_dim), generator=gen),
        "rewards": torch.randn(batch, steps, 1, generator=gen),
        "returns_to_go": torch.randn(batch, steps, 1, generator=gen),
        "timesteps": start + torch.arange(steps)[None, :],
        "attention_mask": torch.ones(batch, steps, dtype=torch.long),
    }


def _sequence_length(config: Any, tokenizer: Any | None, size: Shape) -> int:
    fixed = fixed_sequence_length(_sub(config, "text_config"))
    return fixed if fixed is not None else min(size.sequence, _max_text_length(config, tokenizer))


def _pixels(
    io: IOSpec, config: Any, image_processor: Any | None, batch: int, phase: Phase, gen: torch.Generator
) -> torch.Tensor:
    """Images at the processor's size; the batch verification set is larger by :data:`IMAGE_SIZE_STEP`
    per side when the export keeps height and width dynamic (the model accepts other sizes)."""
    channels = int(getattr(_sub(config, "vision_config"), "num_channels", 3) or 3)
    height, width = _image_size(config, image_processor)
    spec = next(t for t in io.inputs if t.name == "pixel_values")
    if phase == "verify" and 2 in spec.axes and 3 in spec.axes:
        height, width = height + IMAGE_SIZE_STEP, width + IMAGE_SIZE_STEP
    return torch.randn(batch, channels, height, width, generator=gen)


def _main_inputs(
    io: IOSpec,
    names: list[str],
    config: Any,
    preprocessors: Mapping[str, Any],
    phase: Phase,
    size: Shape,
    gen: torch.Generator,
) -> dict[str, torch.Tensor]:
    """The inputs of the model's modality (everything but decoder tokens and model-type extras)."""
    tokenizer = preprocessors.get("tokenizer")
    batch, seq = size.batch, _sequence_length(config, tokenizer, size)
    kind = _kind(names)
    if kind == "text":
        choices = any("num_choices" in t.axes.values() for t in io.inputs)
        shape: tuple[int, ...] = (batch, size.choices, seq) if choices else (batch, seq)
        return _text_tensors(names, shape, config, tokenizer, gen, size.padded)
    if kind == "audio":
        tensors = {"input_values": _audio(io, config, batch, size.audio_samples, gen)}
        tensors["attention_mask"] = torch.ones(tensors["input_values"].shape[:2], dtype=torch.long)
        return tensors
    if kind == "features":
        tensors = {"input_features": _features(config, batch, size.audio_samples // 160, gen)}  # 10 ms hops
        tensors["attention_mask"] = torch.ones(batch, tensors["input_features"].shape[1], dtype=torch.long)
        return tensors
    if kind == "time-series":
        context, channels = int(config.context_length), int(config.num_input_channels)
        return {"past_values": torch.randn(batch, context, channels, generator=gen)}
    if kind == "trajectory":
        return _trajectory(config, batch, min(seq, 20), gen)
    image_processor = preprocessors.get("image_processor")
    if kind == "vision":
        return {"pixel_values": _pixels(io, config, image_processor, batch, phase, gen)}
    # Text and image batches differ so their axes stay separate; the text batch is a multiple of the
    # image batch (OWL-ViT reads text_batch // image_batch queries per image).
    tensors = _text_tensors(
        ["input_ids", "attention_mask"], (2 * batch, seq), config, tokenizer, gen, size.padded
    )
    tensors["pixel_values"] = _pixels(io, config, image_processor, batch, phase, gen)
    return tensors


def make_inputs(
    io: IOSpec, config: Any, preprocessors: Mapping[str, Any], phase: Phase, *, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Dummy inputs for ``io``: to trace with (``export``) or, at another shape, to verify with
    (an axis the export fixes, :meth:`IOSpec.fixed_size`, at its one size in every set)."""
    size = shape_of(io, phase)
    gen = torch.Generator().manual_seed(seed + size.seed)
    extras = {e.name: e for e in extras_for(getattr(config, "model_type", None))}
    main = [n for n in io.input_names if n != "decoder_input_ids" and n not in extras]
    tensors = _main_inputs(io, main, config, preprocessors, phase, size, gen)
    seq = _sequence_length(config, preprocessors.get("tokenizer"), size)
    batch = size.batch
    ids = tensors.get("input_ids")
    tokens = tuple(ids.shape) if ids is not None and ids.shape[0] == batch else (batch, seq)
    for name in io.input_names:
        if name in extras:
            tensors[name] = extras[name].make(tokens, config, gen)
    if "decoder_input_ids" in io.input_names:
        length = min(size.decoder_sequence, seq)  # within the decoder's positions too
        tensors["decoder_input_ids"] = _decoder_ids(batch, length, config, gen)
    return {n: tensors[n] for n in io.input_names}
