"""ONNX Runtime vs PyTorch, as data: every part of an export on each of its input sets.

PyTorch's outputs are taken before anything is traced, from the model as the user has it
(:func:`references`); ONNX Runtime runs each written file on the same inputs (:func:`verify_plan`).
Comparisons return records (output name, shapes, max abs/rel diff); the decision to fail lives in
:meth:`ExportVerification.raise_if_failed` alone. Optimum logs a tolerance failure and keeps the
model; modelexport raises.

For a decoder-only ``model.onnx``, values at padded positions of a left-padded prompt are left out
of the difference (a query that may attend to nothing has an implementation-defined output:
transformers' eager and sdpa attention disagree there too), but they must be finite everywhere,
since the next step reads them through a zero attention weight.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .common import WRAPPER_ATTRIBUTE
from .errors import VerifyError, first_line
from .parts import Feeds, Part, Plan

DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-4


@dataclass(frozen=True)
class OutputComparison:
    name: str
    reference_shape: tuple[int, ...]
    onnx_shape: tuple[int, ...]
    max_abs_diff: float
    max_rel_diff: float
    ok: bool


@dataclass
class Verification:
    """The result of running the same inputs through PyTorch and ONNX Runtime."""

    atol: float
    rtol: float
    input_shapes: dict[str, list[int]]
    outputs: list[OutputComparison] = field(default_factory=list)
    # ONNX Runtime could not run the file on these inputs (typically a size of the traced inputs
    # baked into the graph): ``Type: first line`` of its error.
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.outputs) and all(o.ok for o in self.outputs)

    @property
    def max_abs_diff(self) -> float:
        return max((o.max_abs_diff for o in self.outputs), default=float("nan"))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "atol": self.atol,
            "rtol": self.rtol,
            "input_shapes": self.input_shapes,
            "max_abs_diff": self.max_abs_diff,
            "outputs": [asdict(o) for o in self.outputs],
            **({"error": self.error} if self.error else {}),
        }

    def raise_if_failed(self, what: str, where: str = "") -> None:
        """Raise a :class:`VerifyError` naming ``what`` failed (and ``where``: a file and input set)."""
        if self.ok:
            return
        what = f"{what}: {where}" if where else f"{what}: "
        shapes = ", ".join(f"{k} {'×'.join(map(str, v))}" for k, v in self.input_shapes.items())
        if self.error is not None:
            raise VerifyError(
                f"{what}ONNX Runtime cannot run the graph on inputs of other shapes ({shapes}): {self.error}",
                hint="the graph keeps a size of the traced inputs; try the other --exporter, and report this model.",
            )
        bad = [o for o in self.outputs if not o.ok]
        detail = ", ".join(
            f"{o.name}: shape {list(o.onnx_shape)} vs {list(o.reference_shape)}"
            if o.onnx_shape != o.reference_shape
            else f"{o.name}: max|Δ|={o.max_abs_diff:.3g}"
            for o in bad
        )
        error = VerifyError(
            f"{what}ONNX Runtime differs from PyTorch beyond atol={self.atol:g}, rtol={self.rtol:g} "
            f"at input shapes {shapes} ({detail}).",
            hint="try the other --exporter, or raise --atol if this drift is acceptable for you.",
        )
        error.drift = True
        raise error


def compare_arrays(
    name: str, reference: np.ndarray, actual: np.ndarray, *, atol: float, rtol: float
) -> OutputComparison:
    """Compare one output; a shape mismatch is a failed comparison, not an exception."""
    ref = np.asarray(reference, dtype=np.float64)
    got = np.asarray(actual, dtype=np.float64)
    if ref.shape != got.shape:
        return OutputComparison(name, tuple(ref.shape), tuple(got.shape), float("inf"), float("inf"), False)
    diff = np.abs(ref - got)
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float((diff / np.maximum(np.abs(ref), 1e-12)).max()) if diff.size else 0.0
    ok = bool(np.allclose(got, ref, atol=atol, rtol=rtol)) and bool(
        np.isfinite(got).all() == np.isfinite(ref).all()
    )
    return OutputComparison(name, tuple(ref.shape), tuple(got.shape), max_abs, max_rel, ok)


def onnxruntime_session(onnx_path: Path) -> Any:
    """An ONNX Runtime CPU session that logs nothing of a failing run (the error it raises is reported;
    ONNX Runtime's own log line of it would be a second, unformatted copy in the user's terminal)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def onnxruntime_outputs(session: Any, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``session``'s outputs by name, fed the inputs it takes from ``inputs``."""
    feed = {i.name: np.asarray(inputs[i.name]) for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feed), strict=True))


def compare_outputs(
    reference: Mapping[str, np.ndarray],
    actual: Mapping[str, np.ndarray],
    input_shapes: Mapping[str, Sequence[int]],
    *,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
) -> Verification:
    result = Verification(atol, rtol, {k: list(v) for k, v in input_shapes.items()})
    for name, ref in reference.items():
        if name not in actual:
            result.outputs.append(
                OutputComparison(name, tuple(ref.shape), (), float("inf"), float("inf"), False)
            )
            continue
        result.outputs.append(compare_arrays(name, ref, actual[name], atol=atol, rtol=rtol))
    return result


Outputs = dict[str, np.ndarray]
# file -> input set -> output name -> array
References = dict[str, dict[str, Outputs]]


def references(plan: Plan) -> References:
    """PyTorch's outputs for every part on each of its input sets."""
    refs: References = {}
    for part in plan.written:
        refs[part.file] = {}
        for name, feeds in part.checks.items():
            result = part.module.run(feeds)  # type: ignore[operator]
            refs[part.file][name] = {
                n: t.detach().cpu().numpy() for n, t in zip(part.io.output_names, result, strict=True)
            }
    return refs


def _keep_mask(part: Part, name: str, shape: tuple[int, ...], feeds: Feeds) -> np.ndarray | None:
    """Where an output is defined: a decoder-only part's not at a padded position of the prompt; a
    sliding-window model's not at a padded position no real token is within the window of."""
    if "attention_mask" not in feeds:
        return None
    mask = feeds["attention_mask"].numpy() != 0
    if part.role != "decoder":
        return over_sequence(part_window_defined(part, mask), shape)
    if name in ("logits", "last_hidden_state") and len(shape) == 3:
        return mask[:, -shape[1] :, None]
    if name.startswith("present.") and len(shape) == 4 and shape[2] == mask.shape[1]:
        return mask[:, None, :, None]
    return None


def sliding_window(config: Any) -> int | None:
    """The causal attention window of a decoder-only config (Mistral, Mixtral, Qwen2 when it uses
    one, Gemma 2/3's local layers), else None."""
    if getattr(config, "is_encoder_decoder", False):
        return None
    if getattr(config, "sliding_window", None) is None and hasattr(config, "text_config"):
        config = config.text_config  # Gemma 3's image-text model: its text model's window
    window = getattr(config, "sliding_window", None)
    if getattr(config, "use_sliding_window", True) is False:
        return None
    return window if isinstance(window, int) and not isinstance(window, bool) and window > 0 else None


def window_defined(config: Any, mask: np.ndarray) -> np.ndarray | None:
    """``(batch, sequence)``: where a sliding-window model's outputs are defined, given its attention
    ``mask``. A padded position attends to the last ``window`` positions only; once they are all
    padding, its attention has no key, and what it outputs is each implementation's own (PyTorch's
    and ONNX Runtime's differ). None for models without a window (every position is defined)."""
    window = sliding_window(config)
    if window is None or mask.ndim != 2:
        return None
    real = mask != 0
    seen = np.cumsum(real, axis=1)
    before = np.zeros_like(seen)
    before[:, window:] = seen[:, :-window]
    return real | (seen - before > 0)


def part_window_defined(part: Part, mask: np.ndarray) -> np.ndarray | None:
    """:func:`window_defined` for the model ``part`` traces."""
    config = getattr(getattr(part.module, WRAPPER_ATTRIBUTE, None), "config", None)
    return window_defined(config, mask)


def over_sequence(defined: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """``defined`` (batch, sequence) broadcast over an output of ``shape`` whose first two axes are
    those; None when it is not such an output (or every position is defined)."""
    if defined is None or len(shape) < 2 or tuple(shape[:2]) != defined.shape:
        return None
    return defined.reshape(*defined.shape, *[1] * (len(shape) - 2))


def zero_undefined(
    ref: np.ndarray, got: np.ndarray, keep: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """``ref`` and ``got`` zeroed where ``keep`` is false, unless ``got`` is not finite somewhere (a
    NaN or inf is a failure wherever it is)."""
    if keep is None or got.shape != ref.shape or not np.isfinite(got).all():
        return ref, got
    return np.where(keep, ref, 0), np.where(keep, got, 0)


def defined_outputs(part: Part, ref: Outputs, got: Outputs, feeds: Feeds) -> tuple[Outputs, Outputs]:
    """``ref`` and ``got`` with undefined positions zeroed, unless ``got`` is not finite somewhere."""
    ref_out, got_out = dict(ref), dict(got)
    for name, r in ref.items():
        g = got.get(name)
        if g is not None:
            ref_out[name], got_out[name] = zero_undefined(r, g, _keep_mask(part, name, r.shape, feeds))
    return ref_out, got_out


@dataclass
class FileCheck:
    """One file on one input set; ``seconds``: ONNX Runtime's run and the comparison."""

    file: str
    name: str
    result: Verification
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "check": self.name,
            "seconds": round(self.seconds, 4),
            **self.result.to_json(),
        }


@dataclass
class ExportVerification:
    """Every part on each of its input sets; ``ok`` only when every one is."""

    atol: float
    rtol: float
    checks: list[FileCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.result.ok for c in self.checks)

    @property
    def max_abs_diff(self) -> float:
        return max((c.result.max_abs_diff for c in self.checks), default=float("nan"))

    def to_json(self) -> dict[str, Any]:
        logits: dict[str, float] = {}
        for c in self.checks:
            for o in c.result.outputs:
                if o.name == "logits":
                    logits[c.name] = max(logits.get(c.name, 0.0), o.max_abs_diff)
        return {
            "ok": self.ok,
            "atol": self.atol,
            "rtol": self.rtol,
            "max_abs_diff": self.max_abs_diff,
            "input_shapes": self.checks[0].result.input_shapes if self.checks else {},
            "logits_max_abs_diff": logits,
            "checks": [c.to_json() for c in self.checks],
        }

    def raise_if_failed(self, what: str) -> None:
        """Raise for the first failing check; the error lists every failing input set."""
        failing = tuple(dict.fromkeys(c.name for c in self.checks if not c.result.ok))
        for check in self.checks:
            try:
                check.result.raise_if_failed(what, f"{check.file} on its '{check.name}' inputs: ")
            except VerifyError as e:
                e.input_sets = failing
                raise


def verify_plan(plan: Plan, out: Path, refs: References, *, atol: float, rtol: float) -> ExportVerification:
    """Run every file with ONNX Runtime on its input sets and compare with ``refs``."""
    result = ExportVerification(atol, rtol)
    for part in plan.written:
        session = onnxruntime_session(out / part.file)
        for name, feeds in part.checks.items():
            start = time.perf_counter()
            shapes = {k: list(v.shape) for k, v in feeds.items()}
            try:
                got = onnxruntime_outputs(session, {k: v.numpy() for k, v in feeds.items()})
            except Exception as e:  # the graph cannot run at this shape: a failed check, recorded
                comparison = Verification(atol, rtol, shapes, error=f"{type(e).__name__}: {first_line(e)}")
            else:
                ref, act = defined_outputs(part, refs[part.file][name], got, feeds)
                comparison = compare_outputs(ref, act, shapes, atol=atol, rtol=rtol)
            result.checks.append(FileCheck(part.file, name, comparison, time.perf_counter() - start))
    return result
