"""Inputs for tracing and for verification: a first step (no past) and a step with a real cache.

Past key values are never invented from the config: the prompt is run through the PyTorch model and
its presents become the next step's past, so head counts and sizes are whatever the model uses.
Batches carry padding (left for decoder-only prompts, as in batched generation; right for encoder
inputs, as their tokenizers pad) so the traced graphs keep the attention-mask paths. Export and
verification differ in batch, prompt length and number of new tokens; a second verification is one
unpadded prompt of a single token and one new token after it (the first step of generation, and a
graph that baked a traced size in, such as mixture-of-experts routing, fails there).
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from ..inputs import ordinary_token_floor
from . import cache
from .layout import TEXT_ENCODER, EncoderKind, OnnxPart

Phase = Literal["export", "verify", "single"]
Step = Literal["first", "cached"]
Feeds = dict[str, torch.Tensor]
# file -> step -> input name -> tensor
StepFeeds = dict[str, dict[Step, Feeds]]

# (batch, prompt length, new tokens at the cached step, whether the last row is padded)
_SHAPES: dict[Phase, tuple[int, int, int, bool]] = {
    "export": (2, 5, 3, True),
    "verify": (3, 9, 2, True),
    "single": (1, 1, 1, False),
}
_SEEDS: dict[Phase, int] = {"export": 0, "verify": 1, "single": 2}
# An encoder's tokens are traced at 17, not at the decoders' 5-token prompt: traced at a multiple of a
# block length, block-local attention skips its padding branch and the graph keeps that length
# (LongT5's blocks are local radius + 1: 5 in the zoo, 4 at radius 3, 128 in real checkpoints). 17 is
# prime, so no block length above 1 divides it. The checks stay at the prompt lengths.
_ENCODER_TOKENS: dict[Phase, int] = {
    "export": 17,
    "verify": _SHAPES["verify"][1],
    "single": _SHAPES["single"][1],
}
_PAST = "past_key_values."


def _tokens(batch: int, length: int, vocab: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randint(ordinary_token_floor(vocab), vocab, (batch, length), generator=gen)


def _padded_mask(batch: int, length: int, side: Literal["left", "right"], padded: bool) -> torch.Tensor:
    mask = torch.ones(batch, length, dtype=torch.long)
    if not padded:
        return mask
    pad = max(1, length // 3)
    if side == "left":
        mask[-1, :pad] = 0
    else:
        mask[-1, length - pad :] = 0
    return mask


def position_ids(mask: torch.Tensor, new: int) -> torch.Tensor:
    """As transformers' generation makes them from the mask: padding at 1; the last ``new`` positions."""
    ids = mask.long().cumsum(-1) - 1
    ids.masked_fill_(mask == 0, 1)
    return ids[:, -new:].contiguous()  # XGLM views them flat


def vocab_size(model: torch.nn.Module) -> int:
    """Rows of the (decoder's) input embedding: the token ids the model can take, whatever its config
    calls them."""
    decoder: Any = model.get_decoder() if hasattr(model, "get_decoder") else model  # type: ignore[operator]
    try:
        embeddings: Any = decoder.get_input_embeddings()
    except NotImplementedError:  # transformers 4.48's M2M100Decoder does not say: the model does
        embeddings = model.get_input_embeddings()  # type: ignore[operator]
    return int(embeddings.weight.shape[0])


def _past_names(part: OnnxPart) -> list[str]:
    return [n for n in part.io.input_names if n.startswith(_PAST)]


def _generator(phase: Phase, seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed + _SEEDS[phase])


def decoder_steps(part: OnnxPart, model: torch.nn.Module, phase: Phase, seed: int = 0) -> StepFeeds:
    """``model.onnx`` at the ``first`` step (prompt, empty past) and ``cached`` (new tokens after it)."""
    gen = _generator(phase, seed)
    batch, prompt, new, padded = _SHAPES[phase]
    vocab = vocab_size(model)
    mask = _padded_mask(batch, prompt, "left", padded)
    first: Feeds = {"input_ids": _tokens(batch, prompt, vocab, gen), "attention_mask": mask}
    if "position_ids" in part.io.input_names:
        first["position_ids"] = position_ids(mask, prompt)
    with torch.no_grad():
        out = model(**first, past_key_values=cache.empty_cache(model), use_cache=True, return_dict=True)
    presents = cache.flatten_cache(out.past_key_values, self_attention_only=True)
    names = _past_names(part)
    if not names:
        return {part.file: {"first": first}}
    axis = cache.fused_cache_axis(model) or 2  # the past's sequence axis
    first.update({n: t.narrow(axis, 0, 0) for n, t in zip(names, presents, strict=True)})
    full_mask = torch.cat([mask, torch.ones(batch, new, dtype=torch.long)], dim=1)
    cached: Feeds = {"input_ids": _tokens(batch, new, vocab, gen), "attention_mask": full_mask}
    if "position_ids" in part.io.input_names:
        cached["position_ids"] = position_ids(full_mask, new)
    cached.update(zip(names, presents, strict=True))
    return {part.file: {"first": first, "cached": cached}}


# Encoder input lengths per phase for speech: feature frames (10 ms each) and waveform samples.
_FRAMES: dict[Phase, int] = {"export": 40, "verify": 64, "single": 24}
_SAMPLES: dict[Phase, int] = {"export": 4000, "verify": 6000, "single": 3200}


def _sub(config: Any, *names: str) -> Any:
    for name in names:
        if getattr(config, name, None) is not None:
            return getattr(config, name)
    return config


def _image(config: Any, batch: int, gen: torch.Generator) -> torch.Tensor:
    vision = _sub(config, "encoder", "vision_config")
    size = getattr(vision, "image_size", 224)
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    channels = int(getattr(vision, "num_channels", 3) or 3)
    return torch.randn(batch, channels, height, width, generator=gen)


def _patches(config: Any, preprocessors: Any, batch: int, gen: torch.Generator) -> Feeds:
    """Pix2Struct's flattened patches: (row, column) ids from 1, then the pixels of each patch; the
    last patches of the last row are padding (zeros, mask 0), as the processor pads to max_patches."""
    processor = preprocessors.get("image_processor") or getattr(
        preprocessors.get("processor"), "image_processor", None
    )
    count = int(getattr(processor, "max_patches", 0) or _sub(config, "vision_config").seq_len)
    width = 2 + int(_sub(config, "vision_config").patch_embed_hidden_size)  # row id, column id, pixels
    patches = torch.randn(batch, count, width, generator=gen)
    side = max(1, int(count**0.5))
    index = torch.arange(count)
    patches[:, :, 0], patches[:, :, 1] = (index // side + 1).float(), (index % side + 1).float()
    mask = torch.ones(batch, count)
    mask[-1, count - count // 4 :] = 0
    patches[mask == 0] = 0
    return {"flattened_patches": patches, "attention_mask": mask}


def encoder_feeds(
    kind: EncoderKind, model: torch.nn.Module, phase: Phase, preprocessors: Any, gen: torch.Generator
) -> Feeds:
    """The encoder file's inputs for ``phase``, by what the encoder takes (``kind``)."""
    config: Any = model.config
    batch, _, _, padded = _SHAPES[phase]
    if kind.main == "input_ids":
        feeds = {"input_ids": _tokens(batch, _ENCODER_TOKENS[phase], vocab_size(model), gen)}
        length = feeds["input_ids"].shape[1]
    elif kind.main == "input_features" and not kind.encoder_mask:  # Whisper: a fixed size
        frames = 2 * int(config.max_source_positions)
        return {"input_features": torch.randn(batch, int(config.num_mel_bins), frames, generator=gen)}
    elif kind.main == "input_features":
        length = _FRAMES[phase]
        size = int(config.input_feat_per_channel) * int(getattr(config, "input_channels", 1) or 1)
        feeds = {"input_features": torch.randn(batch, length, size, generator=gen)}
    elif kind.main == "input_values":
        length = _SAMPLES[phase]
        feeds = {"input_values": torch.randn(batch, length, generator=gen)}
    elif kind.main == "pixel_values":
        return {"pixel_values": _image(config, batch, gen)}
    else:
        return _patches(config, preprocessors, batch, gen)
    feeds["attention_mask"] = _padded_mask(batch, length, "right", padded)
    return {n: t for n, t in feeds.items() if n == kind.main or kind.encoder_mask}


def seq2seq_steps(
    parts: tuple[OnnxPart, ...],
    model: torch.nn.Module,
    phase: Phase,
    seed: int = 0,
    *,
    kind: EncoderKind = TEXT_ENCODER,
    preprocessors: Any = None,
) -> StepFeeds:
    """Encoder and first-step decoder at ``first``; the decoder with past (if any) at ``cached``."""
    encoder, first_decoder = parts[:2]
    gen = _generator(phase, seed)
    batch, _, new, _ = _SHAPES[phase]
    vocab = vocab_size(model)
    enc = encoder_feeds(kind, model, phase, preprocessors or {}, gen)
    start = decoder_start(model)
    dec_ids = torch.cat([torch.full((batch, 1), start), _tokens(batch, new, vocab, gen)], dim=1)
    decoder_extra: Feeds = {}
    if kind.decoder_mask:  # Pix2Struct: the decoder's own attention mask, all ones
        decoder_extra["decoder_attention_mask"] = torch.ones_like(dec_ids)
    with torch.no_grad():
        past = cache.empty_cache(model, seq2seq=True)
        out = model(
            **enc,
            decoder_input_ids=dec_ids,
            past_key_values=past,
            use_cache=True,
            return_dict=True,
            **decoder_extra,
        )
    common: Feeds = {"encoder_hidden_states": out.encoder_last_hidden_state}
    if kind.decoder_encoder_mask:
        common["encoder_attention_mask"] = enc["attention_mask"]
    first: Feeds = {**common, "input_ids": dec_ids}
    if kind.decoder_mask:
        first["attention_mask"] = decoder_extra["decoder_attention_mask"]
    steps: StepFeeds = {encoder.file: {"first": enc}, first_decoder.file: {"first": first}}
    for with_past in parts[2:]:
        cached = {**common, "input_ids": _tokens(batch, new, vocab, gen)}
        if kind.decoder_mask:
            cached["attention_mask"] = torch.ones(batch, dec_ids.shape[1] + new, dtype=torch.long)
        cached.update(zip(_past_names(with_past), cache.flatten_cache(out.past_key_values), strict=True))
        steps[with_past.file] = {"cached": cached}
    return steps


def decoder_start(model: torch.nn.Module) -> int:
    """The token an encoder-decoder's decoding starts with (its generation config's, else its config's,
    else its decoder config's)."""
    for source in (
        getattr(model, "generation_config", None),
        model.config,
        getattr(model.config, "decoder", None),
    ):
        value = getattr(source, "decoder_start_token_id", None)
        if isinstance(value, int):
            return value
    return 0
