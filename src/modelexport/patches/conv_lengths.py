"""Moonshine's encoder output length by integer arithmetic instead of ``int()``.

``MoonshinePreTrainedModel._get_feat_extract_output_lengths`` computes the length of its three
strided convolutions' output with ``int((length - 127) / 64 + 1)`` and so on; under tracing ``int()``
turns the traced waveform's length into a constant, and the encoder's attention mask is then cut to
the traced length at every other length. While active, the same lengths come from floor divisions
(equal for every waveform the convolutions accept, at least 127 samples), which the exporters trace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from .base import record

NOTE = "MoonshinePreTrainedModel._get_feat_extract_output_lengths: floor divisions, not int()"


def _output_lengths(self: Any, input_lengths: Any) -> Any:
    """The length after the convolutions (kernel 127 stride 64, kernel 7 stride 3, kernel 3 stride 2)."""
    first = (input_lengths - 127) // 64 + 1
    second = (first - 7) // 3 + 1
    return (second - 3) // 2 + 1


def applies(model: torch.nn.Module) -> bool:
    return getattr(getattr(model, "config", None), "model_type", None) == "moonshine"


@contextlib.contextmanager
def traceable_lengths(model: torch.nn.Module, applied: list[str]) -> Iterator[None]:
    """While active, Moonshine's output lengths are traced as computations of the input's length."""
    from transformers.models.moonshine import modeling_moonshine

    cls = modeling_moonshine.MoonshinePreTrainedModel
    original = cls._get_feat_extract_output_lengths

    def lengths(self: Any, input_lengths: Any) -> Any:
        record(applied, NOTE)
        return _output_lengths(self, input_lengths)

    cls._get_feat_extract_output_lengths = lengths  # type: ignore[method-assign]
    try:
        yield
    finally:
        cls._get_feat_extract_output_lengths = original  # type: ignore[method-assign]
