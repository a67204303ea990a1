"""``repeat_interleave`` by a constant count, as unsqueeze, expand and flatten.

TorchScript's ONNX translation of ``repeat_interleave`` gives its output a wrong rank when the input's
shape is dynamic (pytorch/pytorch#145100), and a later ``torch.cat`` then fails with "All tensors must
have the same rank" (Moonshine's interleaved rotary embedding). While active, ``Tensor.repeat_interleave``
and ``torch.repeat_interleave`` with an integer count and a dimension insert an axis after ``dim``,
expand it to the count and merge it into ``dim``: the same values in the same order. Other calls
(a tensor of counts, no dimension) run the original.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

from .base import record

NOTE = "repeat_interleave by an integer count: unsqueeze, expand, flatten"


def _by_expand(x: torch.Tensor, repeats: int, dim: int) -> torch.Tensor:
    dim = dim % x.dim()
    sizes = [-1] * (x.dim() + 1)
    sizes[dim + 1] = repeats
    return x.unsqueeze(dim + 1).expand(*sizes).flatten(dim, dim + 1)


def _replacement(original: Callable[..., torch.Tensor], applied: list[str]) -> Callable[..., torch.Tensor]:
    def repeat_interleave(
        x: torch.Tensor, repeats: Any, dim: int | None = None, **kwargs: Any
    ) -> torch.Tensor:
        if isinstance(repeats, int) and dim is not None and x.dim() > 0:
            record(applied, NOTE)
            return _by_expand(x, repeats, dim)
        return original(x, repeats, dim, **kwargs)

    return repeat_interleave


@contextlib.contextmanager
def repeat_by_expand(applied: list[str]) -> Iterator[None]:
    """While active, integer-count ``repeat_interleave`` is traced as unsqueeze/expand/flatten."""
    method, function = torch.Tensor.repeat_interleave, torch.repeat_interleave
    torch.Tensor.repeat_interleave = _replacement(method, applied)  # type: ignore[method-assign]
    torch.repeat_interleave = _replacement(function, applied)
    try:
        yield
    finally:
        torch.Tensor.repeat_interleave = method  # type: ignore[method-assign]
        torch.repeat_interleave = function
