"""ImageGPT's attention scale as PyTorch computes it, truncated, under TorchScript's tracer too.

ImageGPT divides its attention scores by ``torch_float(value.size(-1) ** 0.5)``. In transformers
4.48-4.57 ``torch_float`` returns ``int(x)`` when not tracing and ``x`` as a float32 tensor while
tracing: PyTorch divides by the truncated root (2 for the zoo's head size 8, 11 for ImageGPT-medium's
128) and a TorchScript export by the exact one (2.83, 11.31). transformers 5 returns ``float(x)``
in both cases, and torch.export sees an ``int``, so neither needs this. While active, the traced
value is truncated too, as a computation of the traced size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from .base import record

NOTE = "imagegpt torch_float: the traced attention scale truncated, as PyTorch's int() does"


def _truncates() -> bool:
    from transformers.utils import generic

    return getattr(generic, "torch_float", lambda x: x)(2.5) == 2


def applies(model: torch.nn.Module) -> bool:
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    return model_type == "imagegpt" and _truncates()


@contextlib.contextmanager
def truncated_scale(model: torch.nn.Module, applied: list[str]) -> Iterator[None]:
    """While active, ImageGPT's ``torch_float`` truncates a traced tensor as it truncates a number."""
    from transformers.models.imagegpt import modeling_imagegpt

    original = modeling_imagegpt.torch_float

    def torch_float(x: Any) -> Any:
        if torch.jit.is_tracing() and isinstance(x, torch.Tensor):
            record(applied, NOTE)
            return torch.floor(x.to(torch.float32))  # a root: never negative
        return original(x)

    modeling_imagegpt.torch_float = torch_float
    try:
        yield
    finally:
        modeling_imagegpt.torch_float = original
