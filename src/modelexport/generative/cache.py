"""KV caches between flat tensors (the ONNX files' inputs and outputs) and transformers' objects.

The cache changed across the versions the matrix covers (4.48 … 5.x): legacy tuples
(``((k, v), ...)``), ``DynamicCache`` with ``key_cache``/``value_cache`` lists (< 4.56) or with
``layers[i].keys/.values`` (>= 4.56), ``EncoderDecoderCache`` around two of them;
``from_legacy_cache`` is gone in 5.x, but ``DynamicCache()`` + ``update()`` works in all. What an
exporter cannot trace of them is replaced while capturing (:mod:`modelexport.patches`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

Tensors = tuple[torch.Tensor, ...]


def _dynamic_cache(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> Any:
    from transformers import DynamicCache

    cache = DynamicCache()
    for layer, (key, value) in enumerate(pairs):
        cache.update(key, value, layer)
    return cache


def takes_cache_objects(model: torch.nn.Module) -> bool:
    """Whether ``forward`` takes ``Cache`` objects (every model from 4.5x on; some older ones only tuples)."""
    flag = getattr(model, "_supports_cache_class", None)
    return True if flag is None else bool(flag)


def fused_cache_axis(model: torch.nn.Module) -> int | None:
    """The sequence axis of a cache that holds each layer's keys and values as one tensor, or None.

    GPT-BigCode before transformers 4.54 (it takes no cache objects) keeps ``key_value`` per layer:
    ``(batch, sequence, 2 x head size)`` with multi-query attention, ``(batch, heads, sequence,
    2 x head size)`` without; Optimum names them ``past_key_values.{i}.key_value`` there."""
    config: Any = getattr(model, "config", None)
    if getattr(config, "model_type", None) != "gpt_bigcode" or takes_cache_objects(model):
        return None
    return 1 if getattr(config, "multi_query", True) else 2


def decoder_cache(model: torch.nn.Module, flat: Sequence[torch.Tensor]) -> Any:
    """``past_key_values`` for a decoder-only model from flat ``k0, v0, k1, v1, ...`` (or, for a
    fused cache, :func:`fused_cache_axis`, ``kv0, kv1, ...``)."""
    if fused_cache_axis(model) is not None:
        return list(flat)
    pairs = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
    return _dynamic_cache(pairs) if takes_cache_objects(model) else tuple(pairs)


def encoder_decoder_cache(model: torch.nn.Module, flat: Sequence[torch.Tensor]) -> Any:
    """``past_key_values`` for an encoder-decoder from flat ``self k, self v, cross k, cross v`` per layer."""
    layers = [tuple(flat[i : i + 4]) for i in range(0, len(flat), 4)]
    if not takes_cache_objects(model):
        return tuple(layers)
    from transformers import EncoderDecoderCache

    own = _dynamic_cache([(k, v) for k, v, _, _ in layers])
    cross = _dynamic_cache([(k, v) for _, _, k, v in layers])
    return EncoderDecoderCache(own, cross)


def _layer_pairs(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if hasattr(cache, "layers"):  # >= 4.56
        return [(layer.keys, layer.values) for layer in cache.layers]
    if hasattr(cache, "key_cache"):  # < 4.56
        return list(zip(cache.key_cache, cache.value_cache, strict=True))
    raise TypeError(f"unsupported cache type {type(cache).__name__}")


def flatten_cache(cache: Any, *, self_attention_only: bool = False) -> Tensors:
    """Flat tensors from what a model returns as ``past_key_values``, in the order Optimum names them:
    ``k, v`` per layer (decoder-only) or ``self k, self v, cross k, cross v`` per layer.

    ``self_attention_only`` is for a decoder-only use of an encoder-decoder's decoder (BartForCausalLM),
    which may return an ``EncoderDecoderCache`` whose cross-attention half is empty.
    """
    if isinstance(cache, tuple | list):
        if all(isinstance(layer, torch.Tensor) for layer in cache):  # fused: one tensor per layer
            return tuple(cache)
        return tuple(t for layer in cache for t in (layer[:2] if self_attention_only else layer))
    if hasattr(cache, "self_attention_cache") and self_attention_only:
        return flatten_cache(cache.self_attention_cache)
    if hasattr(cache, "self_attention_cache"):
        own, cross = _layer_pairs(cache.self_attention_cache), _layer_pairs(cache.cross_attention_cache)
        return tuple(t for (k, v), (ck, cv) in zip(own, cross, strict=True) for t in (k, v, ck, cv))
    return tuple(t for pair in _layer_pairs(cache) for t in pair)


def empty_cache(model: torch.nn.Module, *, seq2seq: bool = False) -> Any:
    """An empty cache of plain layers for a first step, as Optimum's generation starts one: every layer
    keeps every position, sliding-window layers included (the model's own cache crops those to its
    window, which the ONNX files' uniform past lengths do not follow; the sliding window still
    applies through the attention mask). ``None`` for models that take no cache objects."""
    if not takes_cache_objects(model):
        return None
    from transformers import DynamicCache

    if not seq2seq:
        return DynamicCache()
    from transformers import EncoderDecoderCache

    return EncoderDecoderCache(DynamicCache(), DynamicCache())
