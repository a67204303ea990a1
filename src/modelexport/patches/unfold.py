"""``Tensor.unfold`` along a negative dimension, as slices stacked into a new axis.

TorchScript's ONNX translation of ``unfold`` inserts the windows axis at the dimension as the model
wrote it, so for a negative one (PatchTST's and PatchTSMixer's ``unfold(dimension=-2, ...)`` over
``[batch, time, channels]``) the windows land after the channels instead of before them, and ONNX
Runtime refuses the graph ("Incompatible dimensions" in the next ``Add``). Positive dimensions are
translated correctly. While active, ``Tensor.unfold`` with a negative dimension takes each window as
a slice of the traced (static) length, stacks them at the dimension and moves the window's own axis
last: the same values in the same layout. Every other call runs the original, so graphs that never
unfold along a negative dimension do not change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

from .base import record

NOTE = "Tensor.unfold along a negative dimension: slices stacked at the dimension"


def _by_slicing(x: torch.Tensor, dimension: int, size: int, step: int) -> torch.Tensor:
    """What ``x.unfold(dimension, size, step)`` returns (as a copy, not a view): the windows along
    ``dimension``, one per ``step``, with each window's ``size`` elements on a new last axis."""
    dim = dimension % x.dim()
    count = (x.shape[dim] - size) // step + 1
    windows = torch.stack([x.narrow(dim, i * step, size) for i in range(count)], dim=dim)
    order = [*range(dim + 1), *range(dim + 2, x.dim() + 1), dim + 1]
    return windows.permute(order)


def _takes_over(x: torch.Tensor, dimension: Any, size: Any, step: Any) -> bool:
    """A call along a negative dimension the original accepts; anything else (including what the
    original rejects, so the error stays its own) runs the original."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (dimension, size, step)):
        return False
    if x.dim() == 0 or not -x.dim() <= dimension < 0:
        return False
    return step > 0 and 0 < size <= x.shape[dimension]


def _replacement(original: Callable[..., torch.Tensor], applied: list[str]) -> Callable[..., torch.Tensor]:
    def unfold(x: torch.Tensor, dimension: Any, size: Any, step: Any) -> torch.Tensor:
        if _takes_over(x, dimension, size, step):
            record(applied, NOTE)
            return _by_slicing(x, dimension, size, step)
        return original(x, dimension, size, step)

    return unfold


@contextlib.contextmanager
def unfold_by_slicing(applied: list[str]) -> Iterator[None]:
    """While active, ``Tensor.unfold`` along a negative dimension is traced as slices and a stack."""
    original = torch.Tensor.unfold
    torch.Tensor.unfold = _replacement(original, applied)  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.unfold = original  # type: ignore[method-assign]
