"""Every transformers-version difference the generative export meets, in one place.

Three things changed across the versions the matrix covers (4.48 … 5.x):

* the KV cache: legacy tuples (``((k, v), ...)``), ``DynamicCache`` with ``key_cache``/``value_cache``
  lists (< 4.56) or with ``layers[i].keys/.values`` (>= 4.56), ``EncoderDecoderCache`` around two of
  them; ``from_legacy_cache`` is gone in 5.x, but ``DynamicCache()`` + ``update()`` works in all;
* mask creation: from 4.53 on, ``masking_utils`` builds masks with ``torch.vmap``, which the
  TorchScript tracer cannot follow; during export a broadcasting equivalent is registered instead;
* ``DynamicLayer.update`` (>= 4.56) concatenates onto an empty placeholder on first use, which the
  TorchScript tracer records as a dangling constant; during export the first update assigns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

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


def _broadcast_mask(
    batch_size: int,
    cache_position: torch.Tensor | None = None,
    kv_length: int = 0,
    kv_offset: int = 0,
    mask_function: Callable[..., torch.Tensor] | None = None,
    attention_mask: torch.Tensor | None = None,
    q_length: int | None = None,
    q_offset: Any = 0,
    **_: Any,
) -> torch.Tensor:
    """``masking_utils.sdpa_mask`` by broadcasting instead of ``vmap``: a boolean ``(B, 1, Q, KV)`` mask.

    Query positions come as ``cache_position`` (4.53 … 4.5x) or as ``q_length``/``q_offset`` (5.x); the
    callers pass keywords. Never returns None (no ``is_causal`` shortcut): the traced graph must keep
    the padding path.
    """
    from transformers.masking_utils import causal_mask_function

    mask_fn: Callable[..., Any] = mask_function or causal_mask_function
    if cache_position is None:
        device = attention_mask.device if attention_mask is not None else None
        # q_length stays whatever the caller computed it as: int() would freeze a traced size.
        cache_position = torch.arange(q_length if q_length is not None else 0, device=device) + q_offset
    device = cache_position.device
    q_idx = cache_position[None, None, :, None]
    kv_idx = torch.arange(kv_length, device=device)[None, None, None, :] + kv_offset
    batch_idx = torch.arange(batch_size, device=device)[:, None, None, None]
    head_idx = torch.zeros(1, 1, 1, 1, dtype=torch.long, device=device)
    mask = mask_fn(batch_idx, head_idx, q_idx, kv_idx)
    if attention_mask is not None:
        padding = attention_mask.to(torch.bool)[:, kv_offset : kv_offset + kv_length]
        mask = mask & padding[:, None, None, :]
    return mask.expand(batch_size, 1, cache_position.shape[0], kv_length)


def _broadcast_eager_mask(*args: Any, dtype: torch.dtype = torch.float32, **kwargs: Any) -> torch.Tensor:
    """``masking_utils.eager_mask``: the boolean mask as an additive float mask."""
    mask = _broadcast_mask(*args, **kwargs)
    return torch.where(
        mask, torch.tensor(0.0, dtype=dtype), torch.tensor(torch.finfo(dtype).min, dtype=dtype)
    )


@contextlib.contextmanager
def _traceable_masks() -> Iterator[None]:
    try:
        from transformers import masking_utils
    except ImportError:  # < 4.53: masks are built by traceable code already
        yield
        return
    registry = masking_utils.ALL_MASK_ATTENTION_FUNCTIONS
    originals = {name: registry[name] for name in ("sdpa", "eager") if name in registry}
    registry.register("sdpa", _broadcast_mask)
    registry.register("eager", _broadcast_eager_mask)
    try:
        yield
    finally:
        for name, fn in originals.items():
            registry.register(name, fn)


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


@contextlib.contextmanager
def _traceable_dynamic_layer() -> Iterator[None]:
    layer_cls = getattr(__import__("transformers.cache_utils", fromlist=["x"]), "DynamicLayer", None)
    if layer_cls is None:  # < 4.56
        yield
        return
    original = layer_cls.update
    layer_cls.update = _assigning_update
    try:
        yield
    finally:
        layer_cls.update = original


@contextlib.contextmanager
def export_patches() -> Iterator[None]:
    """Everything tracing needs patched, restored on exit; models are left untouched."""
    with _traceable_masks(), _traceable_dynamic_layer():
        yield
