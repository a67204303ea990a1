"""Packed-sequence detection by slicing instead of ``torch.diff``.

Since transformers 4.53, a decoder run without an attention mask and without a cache (an
encoder-decoder's decoder file without past: Whisper's) looks for packed sequences in its position ids
with ``torch.diff``, which TorchScript's ONNX export does not support (``aten::diff``), and a cumulative
sum of booleans, which it writes as an invalid boolean ``CumSum``. While active,
``masking_utils.find_packed_sequence_indices`` computes the same differences by subtracting shifted
slices.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from .base import record

NOTE = "masking_utils.find_packed_sequence_indices: position differences by slicing, not torch.diff"


def _packed_sequence_indices(position_ids: torch.Tensor) -> torch.Tensor:
    """Which packed sequence each position belongs to: a new one wherever a position is not its
    predecessor + 1 (the first position counts as following ``first - 1``)."""
    previous = torch.cat([position_ids[:, :1] - 1, position_ids[:, :-1]], dim=-1)
    # A boolean CumSum is no valid ONNX: count as int64, the type torch.cumsum gives a bool tensor.
    return ((position_ids - previous) != 1).long().cumsum(-1)


@contextlib.contextmanager
def packed_by_slicing(applied: list[str]) -> Iterator[None]:
    """While active, packed-sequence detection uses no ``torch.diff`` (nothing happens before 4.53,
    which has no ``masking_utils``)."""
    try:
        from transformers import masking_utils
    except ImportError:
        yield
        return
    original = getattr(masking_utils, "find_packed_sequence_indices", None)
    if original is None:
        yield
        return

    def find_packed_sequence_indices(position_ids: torch.Tensor) -> torch.Tensor:
        record(applied, NOTE)
        return _packed_sequence_indices(position_ids)

    masking_utils.find_packed_sequence_indices = find_packed_sequence_indices
    try:
        yield
    finally:
        masking_utils.find_packed_sequence_indices = original
