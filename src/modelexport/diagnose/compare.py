"""How far an ONNX value is from PyTorch's: max absolute and relative error, and whether it is
within tolerance (the exporter's rule: ``|Δ| <= atol + rtol·|ref|`` everywhere, finite where PyTorch
is finite).

A decoder-only file's prompt is left-padded: a padded position may attend to nothing, and what it
holds is implementation-defined (transformers' eager and sdpa attention disagree there too), so, as
the exporter's verification does, positions the attention mask marks as padding are left out of a
decoder's comparisons; so are a sliding-window model's padded positions whose window holds no
real token (:func:`modelexport.verify.window_defined`). A value's token axis is its first axis after the batch whose size is the
number of new tokens (or the whole masked length).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Error:
    max_abs: float
    max_rel: float
    ok: bool

    def to_json(self) -> dict[str, float | bool]:
        return {"max_abs": json_float(self.max_abs), "max_rel": json_float(self.max_rel), "ok": self.ok}


def json_float(x: float) -> float:
    """A float JSON can hold: inf/nan as the largest float (JSON has neither)."""
    return x if np.isfinite(x) else float(np.finfo(np.float64).max)


def worst(errors: list[Error]) -> Error | None:
    """The largest of several errors (ok only if all are); None for none."""
    if not errors:
        return None
    return Error(max(e.max_abs for e in errors), max(e.max_rel for e in errors), all(e.ok for e in errors))


@dataclass(frozen=True)
class Positions:
    """Where a decoder's values are defined: the attention mask (batch × all tokens) and how many of
    its last tokens this step feeds."""

    mask: np.ndarray
    new_tokens: int

    def keep(self, shape: tuple[int, ...]) -> np.ndarray | None:
        """A mask broadcastable to ``shape``, or None when no axis is a token axis. A first axis of
        batch × tokens is the tokens flattened (a mixture-of-experts block routes them so)."""
        batch, total = self.mask.shape
        for length, columns in ((self.new_tokens, self.mask[:, -self.new_tokens :]), (total, self.mask)):
            if len(shape) >= 1 and batch > 1 and shape[0] == batch * length:
                return columns.reshape(batch * length, *[1] * (len(shape) - 1)) != 0
        if len(shape) < 2 or shape[0] != batch:
            return None
        for axis in range(1, len(shape)):
            for length, columns in ((self.new_tokens, self.mask[:, -self.new_tokens :]), (total, self.mask)):
                if shape[axis] == length:
                    view = [1] * len(shape)
                    view[0], view[axis] = batch, length
                    return columns.reshape(view) != 0
        return None


def error(
    reference: np.ndarray, actual: np.ndarray, atol: float, rtol: float, positions: Positions | None = None
) -> Error:
    """Compare one value (same shape assumed; another shape is an infinite error)."""
    if reference.shape != actual.shape:
        return Error(float("inf"), float("inf"), False)
    if reference.size == 0:
        return Error(0.0, 0.0, True)
    floating = reference.dtype.kind == "f" and actual.dtype.kind == "f"
    ref = reference if floating else reference.astype(np.float64)
    got = actual if floating else actual.astype(np.float64)
    keep = positions.keep(ref.shape) if positions is not None else None
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.subtract(ref, got)
        np.abs(diff, out=diff)
        if keep is not None:  # padding is left out, unless ONNX made NaN or inf where PyTorch did not:
            # that poisons the cache a generation step reads (0 x NaN is NaN behind any mask)
            poisoned = ~np.isfinite(got) & np.isfinite(ref)
            diff = np.where(keep | poisoned, diff, 0)
        largest = float(diff.max())
        if not np.isfinite(largest):
            return _nonfinite(ref, got, diff, atol, rtol)
        scale = np.abs(ref)
        np.maximum(scale, 1e-12, out=scale)
        max_rel = float(np.divide(diff, scale).max())
        scale *= rtol
        scale += atol
        ok = bool((diff <= scale).all())
    return Error(largest, max_rel, ok)


def _nonfinite(ref: np.ndarray, got: np.ndarray, diff: np.ndarray, atol: float, rtol: float) -> Error:
    """The slow path: equal infinities and NaN against NaN agree; any other non-finite one does not."""
    finite_ref = np.isfinite(ref)
    same = ~finite_ref & ~np.isfinite(got) & ((ref == got) | (np.isnan(ref) & np.isnan(got)))
    diff = np.where(same, 0, np.where(np.isnan(diff), np.inf, diff))
    scale = np.abs(np.where(finite_ref, ref, 0))
    ok = bool((diff <= atol + rtol * scale).all())
    return Error(float(diff.max()), float((diff / np.maximum(scale, 1e-12)).max()), ok)
