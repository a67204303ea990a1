"""ATen-to-ONNX translations the dynamo exporter's own library (onnxscript's torchlib) gets wrong,
passed to ``torch.onnx.export(custom_translation_table=...)``; each one hands every case torchlib
gets right back to torchlib, so those graphs do not change.

- ``aten.remainder.Scalar`` with a symbolic divisor. torchlib turns the divisor into a constant,
  which fails (``TypeError: int() argument must be … not 'SymbolicTensor'``) when it is a size the
  export keeps dynamic. transformers < 4.53 pools decoder classifiers (GPT-2, Llama, Mistral, Qwen2,
  Phi, GPT-NeoX, OPT, Bloom) at ``argmax(...) % input_ids.shape[-1]``, so their dynamo exports
  failed. The divisor is cast to the dividend's type and taken as a tensor, which is what
  ``aten.remainder.Tensor`` computes.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import torch


def _remainder_scalar(self: Any, other: Any) -> Any:
    from onnxscript.function_libs.torch_lib.ops import core
    from onnxscript.onnx_opset import opset18 as op

    if isinstance(other, numbers.Number):
        return core.aten_remainder_scalar(self, other)
    return core.aten_remainder(self, op.CastLike(other, self))


def translation_table() -> dict[Callable[..., Any], Callable[..., Any]]:
    """The translations to pass to ``torch.onnx.export``."""
    return {torch.ops.aten.remainder.Scalar: _remainder_scalar}
