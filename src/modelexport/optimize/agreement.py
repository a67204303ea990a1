"""How close a quantized export stays to PyTorch: max |Δ| and cosine similarity of every output.

int8 outputs are not equal to fp32 ones within a float tolerance, so a quantized export is judged by
the cosine similarity of each output with PyTorch's (every file, every input set the exporter
verified on), with a floor below which the export is refused; max |Δ| is reported beside it.
Positions a decoder leaves undefined (a left-padded prompt) are left out, as the export's own
verification does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VerifyError, first_line
from ..parts import Plan
from ..verify import References, defined_outputs, onnxruntime_outputs, onnxruntime_session

DEFAULT_MIN_COSINE = 0.99


def cosine(reference: np.ndarray, actual: np.ndarray) -> float:
    """Cosine similarity of two arrays as flat vectors (1.0 for two zero vectors)."""
    a = np.asarray(reference, dtype=np.float64).ravel()
    b = np.asarray(actual, dtype=np.float64).ravel()
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 1.0 if na == nb else 0.0
    return float(np.dot(a, b) / (na * nb))


@dataclass(frozen=True)
class OutputAgreement:
    file: str
    check: str
    output: str
    max_abs_diff: float
    cosine: float
    ok: bool


@dataclass
class Agreement:
    """Every output of every file on every input set; ``errors``: runs ONNX Runtime refused."""

    min_cosine: float
    outputs: list[OutputAgreement] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.outputs) and all(o.ok for o in self.outputs)

    @property
    def min_seen(self) -> float:
        return min((o.cosine for o in self.outputs), default=float("nan"))

    @property
    def max_abs_diff(self) -> float:
        return max((o.max_abs_diff for o in self.outputs), default=float("nan"))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "min_cosine_required": self.min_cosine,
            "min_cosine": self.min_seen,
            "max_abs_diff": self.max_abs_diff,
            "outputs": [asdict(o) for o in self.outputs],
            **({"errors": self.errors} if self.errors else {}),
        }

    def raise_if_failed(self, what: str) -> None:
        if self.errors:
            raise VerifyError(f"{what}: ONNX Runtime cannot run the quantized file: {self.errors[0]}")
        bad = [o for o in self.outputs if not o.ok]
        if bad:
            worst = min(bad, key=lambda o: o.cosine)
            error = VerifyError(
                f"{what}: {worst.output} of {worst.file} on its '{worst.check}' inputs has cosine "
                f"similarity {worst.cosine:.4f} with PyTorch, below {self.min_cosine:g} "
                f"(max|Δ| {worst.max_abs_diff:.3g}; {len(bad)} output(s) below).",
                hint="exclude the modules 'modelexport quantize --sensitivity' ranks worst "
                "(--exclude-module), or lower --min-cosine if this is acceptable for you.",
            )
            error.drift = True
            raise error


def _compare(
    file: str, check: str, name: str, ref: np.ndarray, got: np.ndarray, floor: float
) -> OutputAgreement:
    if ref.shape != got.shape:
        return OutputAgreement(file, check, name, float("inf"), 0.0, False)
    finite = bool(np.isfinite(got).all() == np.isfinite(ref).all())
    diff = np.abs(np.asarray(ref, dtype=np.float64) - np.asarray(got, dtype=np.float64))
    max_abs = float(diff.max()) if diff.size else 0.0
    similarity = cosine(ref, got) if finite else 0.0
    return OutputAgreement(file, check, name, max_abs, similarity, finite and similarity >= floor)


def agreement(plan: Plan, out: Path, refs: References, min_cosine: float) -> Agreement:
    """Run every file of ``out`` on its input sets and compare each output with PyTorch's."""
    result = Agreement(min_cosine)
    for part in plan.written:
        session = onnxruntime_session(out / part.file)
        for check, feeds in part.checks.items():
            try:
                got = onnxruntime_outputs(session, {k: v.numpy() for k, v in feeds.items()})
            except Exception as e:  # recorded; the caller raises
                result.errors.append(f"{part.file} on '{check}': {type(e).__name__}: {first_line(e)}")
                continue
            ref, act = defined_outputs(part, refs[part.file][check], got, feeds)
            for name, r in ref.items():
                g = act.get(name)
                if g is None:
                    result.outputs.append(OutputAgreement(part.file, check, name, float("inf"), 0.0, False))
                else:
                    result.outputs.append(_compare(part.file, check, name, r, g, min_cosine))
    return result
