"""``DynamicLayer.update``'s first call assigns instead of concatenating onto a placeholder.

From transformers 4.56, a cache layer starts as an empty placeholder and ``update`` concatenates the
first keys and values onto it, which the TorchScript tracer records as a dangling constant. While
active, the first update assigns (what concatenating onto nothing computes) and later ones
concatenate as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from .base import record

NOTE = "DynamicLayer.update: the first update assigns, not concatenates onto a placeholder"


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
def assigning_first_update(applied: list[str]) -> Iterator[None]:
    """While active, ``DynamicLayer.update`` assigns on first use (nothing happens before 4.56)."""
    from transformers import cache_utils

    layer_cls = getattr(cache_utils, "DynamicLayer", None)
    if layer_cls is None:  # < 4.56
        yield
        return
    original = layer_cls.update

    def update(self: Any, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        record(applied, NOTE)
        return _assigning_update(self, *args, **kwargs)

    layer_cls.update = update
    try:
        yield
    finally:
        layer_cls.update = original
