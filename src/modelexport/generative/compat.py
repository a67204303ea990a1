"""Every transformers-version difference the generative export meets, in one place.

Three things changed across the versions the matrix covers (4.48 … 5.x):

* the KV cache: legacy tuples (``((k, v), ...)``), ``DynamicCache`` with ``key_cache``/``value_cache``
  lists (< 4.56) or with ``layers[i].keys/.values`` (>= 4.56), ``EncoderDecoderCache`` around two of
  them; ``from_legacy_cache`` is gone in 5.x, but ``DynamicCache()`` + ``update()`` works in all;
* mask creation: in 4.53 … 4.57, ``masking_utils`` builds masks with ``torch.vmap`` (5.x on request), which the
  TorchScript tracer cannot follow; during export a broadcasting equivalent is registered instead
  (:func:`modelexport.backends.patches.traceable_masks`, which the TorchScript backend applies to
  every export);
* ``DynamicLayer.update`` (>= 4.56) concatenates onto an empty placeholder on first use, which the
  TorchScript tracer records as a dangling constant; during export the first update assigns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ..backends.patches import record, traceable_masks

Tensors = tuple[torch.Tensor, ...]


# --------------------------------------------------------------------------- the KV cache


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


def decoder_cache(model: torch.nn.Module, flat: Sequence[torch.Tensor]) -> Any:
    """``past_key_values`` for a decoder-only model from flat ``k0, v0, k1, v1, ...``."""
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
        return tuple(t for layer in cache for t in (layer[:2] if self_attention_only else layer))
    if hasattr(cache, "self_attention_cache") and self_attention_only:
        return flatten_cache(cache.self_attention_cache)
    if hasattr(cache, "self_attention_cache"):
        own, cross = _layer_pairs(cache.self_attention_cache), _layer_pairs(cache.cross_attention_cache)
        return tuple(t for (k, v), (ck, cv) in zip(own, cross, strict=True) for t in (k, v, ck, cv))
    return tuple(t for pair in _layer_pairs(cache) for t in pair)


# --------------------------------------------------------------------------- export-time patches


def _assigning_update(
    self: Any, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    # Extra arguments are ignored as DynamicLayer ignores them: ``cache_kwargs`` positionally up to
    # transformers 5.23, ``*args, **kwargs`` passed through from Cache.update since 5.24.
    if not getattr(self, "is_initialized", False) or self.keys is None:
        self.keys, self.values = key_states, value_states
        self.dtype, self.device = key_states.dtype, key_states.device
        self.is_initialized = True
    else:
        self.keys = torch.cat([self.keys, key_states], dim=-2)
        self.values = torch.cat([self.values, value_states], dim=-2)
    return self.keys, self.values


_DYNAMIC_LAYER_PATCH = "DynamicLayer.update: the first update assigns, not concatenates onto a placeholder"


@contextlib.contextmanager
def _traceable_dynamic_layer(applied: list[str]) -> Iterator[None]:
    layer_cls = getattr(__import__("transformers.cache_utils", fromlist=["x"]), "DynamicLayer", None)
    if layer_cls is None:  # < 4.56
        yield
        return
    original = layer_cls.update

    def update(self: Any, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        record(applied, _DYNAMIC_LAYER_PATCH)
        return _assigning_update(self, *args, **kwargs)

    layer_cls.update = update
    try:
        yield
    finally:
        layer_cls.update = original


@contextlib.contextmanager
def export_patches() -> Iterator[list[str]]:
    """Everything tracing needs patched, restored on exit; models are left untouched. Yields what the
    traced code actually ran of the replacements, for the export's record (``model_patches``)."""
    with traceable_masks() as applied, _traceable_dynamic_layer(applied):
        yield applied
