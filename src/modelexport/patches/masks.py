"""Attention masks built with ``torch.vmap``, by broadcasting instead.

In transformers 4.53 to 4.57, ``masking_utils`` builds decoders' causal and padding masks with
``torch.vmap``, which the TorchScript tracer cannot follow (``RuntimeError: unordered_map::at``); 5.x
uses ``vmap`` only when asked to. While active, the registered ``sdpa`` and ``eager`` mask functions
build the same mask by broadcasting wherever the original would use ``vmap``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch

from .base import record


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


_MASK_REPLACEMENTS: dict[str, Callable[..., torch.Tensor]] = {
    "sdpa": _broadcast_mask,
    "eager": _broadcast_eager_mask,
}


def _takes_use_vmap(function: Callable[..., Any]) -> bool:
    try:
        return "use_vmap" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _recording(name: str, original: Callable[..., Any], applied: list[str]) -> Callable[..., torch.Tensor]:
    """The replacement for one registered mask function: used where the original would build its mask
    with ``vmap`` (4.53 … 4.57 always; 5.x only when asked to), recorded the first time it is."""
    note = f"transformers masking_utils '{name}' mask: built by broadcasting, not torch.vmap"
    optional_vmap = _takes_use_vmap(original)  # 5.x: vmap only with use_vmap=True

    def mask(*args: Any, **kwargs: Any) -> torch.Tensor:
        if optional_vmap and not kwargs.get("use_vmap", False):
            return original(*args, **kwargs)
        record(applied, note)
        return _MASK_REPLACEMENTS[name](*args, **kwargs)

    return mask


@contextlib.contextmanager
def traceable_masks(applied: list[str]) -> Iterator[None]:
    """While active, transformers' ``sdpa`` and ``eager`` mask functions build their masks by
    broadcasting wherever they would use ``torch.vmap``, recording in ``applied`` what the traced code
    called of the replacements. Restored on exit; nothing happens before transformers 4.53, whose
    masks are traceable as they are."""
    try:
        from transformers import masking_utils
    except ImportError:
        yield
        return
    registry = masking_utils.ALL_MASK_ATTENTION_FUNCTIONS
    # register() writes the global mapping; save that one, not a local override lookups would return.
    mapping = getattr(type(registry), "_global_mapping", None)
    source = mapping if isinstance(mapping, dict) else registry
    originals = {name: source[name] for name in _MASK_REPLACEMENTS if name in source}
    for name, original in originals.items():
        registry.register(name, _recording(name, original, applied))
    try:
        yield
    finally:
        for name, fn in originals.items():
            registry.register(name, fn)
