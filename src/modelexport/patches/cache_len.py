"""``DynamicCache``'s ``len(tensor)`` checks as shape reads, so torch.export keeps the batch dynamic.

Up to transformers 4.55, ``DynamicCache.update`` and ``get_seq_length`` test a layer for emptiness
with ``len(self.key_cache[layer_idx]) == 0``. Python's ``len()`` must return an ``int``, so under
torch.export's non-strict mode it turns the symbolic batch size into the traced one (2): the
exporter then falls back to strict mode, whose module names lose the model's paths (tags fell to
the root) and whose graphs some models fail to decompose (BLOOM). While active, ``len`` in
``transformers.cache_utils`` reads a tensor's first dimension, which is what ``len`` returns, kept
symbolic; anything else goes to the builtin.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from .base import record

NOTE = "transformers.cache_utils: len() of a cached tensor read as its first dimension"


def applies(model: torch.nn.Module) -> bool:
    from transformers import cache_utils

    return not hasattr(cache_utils, "DynamicLayer")  # 4.56 rewrote the cache into layers


@contextlib.contextmanager
def shape_len(model: torch.nn.Module, applied: list[str]) -> Iterator[None]:
    """While active, ``len(tensor)`` in ``transformers.cache_utils`` is ``tensor.shape[0]``."""
    from transformers import cache_utils

    def length(obj: Any) -> Any:
        if isinstance(obj, torch.Tensor) and obj.dim() > 0:
            record(applied, NOTE)
            return obj.shape[0]
        return builtins.len(obj)

    had = "len" in vars(cache_utils)
    previous = vars(cache_utils).get("len")
    cache_utils.len = length  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if had:
            cache_utils.len = previous  # type: ignore[attr-defined]
        else:
            del cache_utils.len  # type: ignore[attr-defined]
