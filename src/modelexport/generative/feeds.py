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
from .layout import OnnxPart

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
    return ids[:, -new:]


def vocab_size(model: torch.nn.Module) -> int:
    """Rows of the input embedding: the ids the model can take, whatever its config calls them."""
    embeddings: Any = model.get_input_embeddings()  # type: ignore[operator]
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
        out = model(**first, use_cache=True, return_dict=True)
    presents = cache.flatten_cache(out.past_key_values, self_attention_only=True)
    names = _past_names(part)
    if not names:
        return {part.file: {"first": first}}
    first.update({n: t[:, :, :0] for n, t in zip(names, presents, strict=True)})
    full_mask = torch.cat([mask, torch.ones(batch, new, dtype=torch.long)], dim=1)
    cached: Feeds = {"input_ids": _tokens(batch, new, vocab, gen), "attention_mask": full_mask}
    if "position_ids" in part.io.input_names:
        cached["position_ids"] = position_ids(full_mask, new)
    cached.update(zip(names, presents, strict=True))
    return {part.file: {"first": first, "cached": cached}}


def seq2seq_steps(
    parts: tuple[OnnxPart, ...], model: torch.nn.Module, phase: Phase, seed: int = 0
) -> StepFeeds:
    """Encoder and first-step decoder at ``first``; the decoder with past (if any) at ``cached``."""
    encoder, first_decoder = parts[:2]
    gen = _generator(phase, seed)
    batch, length, new, padded = _SHAPES[phase]
    vocab = vocab_size(model)
    enc = {
        "input_ids": _tokens(batch, length, vocab, gen),
        "attention_mask": _padded_mask(batch, length, "right", padded),
    }
    start = int(getattr(model.config, "decoder_start_token_id", None) or 0)
    dec_ids = torch.cat([torch.full((batch, 1), start), _tokens(batch, new, vocab, gen)], dim=1)
    with torch.no_grad():
        out = model(**enc, decoder_input_ids=dec_ids, use_cache=True, return_dict=True)
    common = {
        "encoder_attention_mask": enc["attention_mask"],
        "encoder_hidden_states": out.encoder_last_hidden_state,
    }
    steps: StepFeeds = {
        encoder.file: {"first": enc},
        first_decoder.file: {"first": {**common, "input_ids": dec_ids}},
    }
    for with_past in parts[2:]:
        cached = {**common, "input_ids": _tokens(batch, new, vocab, gen)}
        cached.update(zip(_past_names(with_past), cache.flatten_cache(out.past_key_values), strict=True))
        steps[with_past.file] = {"cached": cached}
    return steps
