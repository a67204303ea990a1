"""Additions of small constants kept through the dynamo exporter's graph optimizer.

``torch.onnx.export(dynamo=True, optimize=True)`` runs onnxscript's pattern rewriter, whose no-op
rules remove ``x + 0``, ``x - 0`` and the like. onnxscript (0.5-0.7 at least) matches a pattern's
constant within ``abs_tol=1e-8``, so an RMSNorm's ``variance + 1e-8`` (Helium's ``rms_norm_eps``) is
removed as an addition of zero: the graph then divides by ``sqrt(0)`` on a zero vector (a padding
token's embedding) and writes NaN where PyTorch writes zeros. While :func:`exact_zero_patterns` is
active, a pattern's constant 0 matches exactly 0 only; every other constant is matched as before.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any


class _ExactZeroMath:
    """The ``math`` module, except that closeness to 0 means equality to 0."""

    def __getattr__(self, name: str) -> Any:
        return getattr(math, name)

    @staticmethod
    def isclose(a: float, b: float, *, rel_tol: float = 1e-9, abs_tol: float = 0.0) -> bool:
        if b == 0:
            return a == 0
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)


@contextlib.contextmanager
def exact_zero_patterns() -> Iterator[None]:
    """While active, onnxscript's rewriter treats only an exact 0 as the zero of its patterns (a
    no-op where onnxscript is absent or no longer matches constants through ``math.isclose``)."""
    try:
        from onnxscript.rewriter import _matcher
    except ImportError:
        yield
        return
    if getattr(_matcher, "math", None) is not math:
        yield
        return
    _matcher.math = _ExactZeroMath()  # type: ignore[assignment]
    try:
        yield
    finally:
        _matcher.math = math
