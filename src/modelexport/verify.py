"""ONNX Runtime vs PyTorch comparisons as data, and the Optimum load check.

Comparisons return records (output name, shapes, max abs/rel diff); the decision to fail lives in
:meth:`Verification.raise_if_failed` alone. Optimum logs a tolerance failure and keeps the model;
modelexport raises.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import CompatibilityError, VerifyError, first_line

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

    @property
    def ok(self) -> bool:
        return bool(self.outputs) and all(o.ok for o in self.outputs)

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
        }

    def raise_if_failed(self, what: str) -> None:
        if self.ok:
            return
        bad = [o for o in self.outputs if not o.ok]
        detail = ", ".join(
            f"{o.name}: shape {list(o.onnx_shape)} vs {list(o.reference_shape)}"
            if o.onnx_shape != o.reference_shape
            else f"{o.name}: max|Δ|={o.max_abs_diff:.3g}"
            for o in bad
        )
        raise VerifyError(
            f"{what}: ONNX Runtime differs from PyTorch beyond atol={self.atol:g}, rtol={self.rtol:g} "
            f"at input shapes {self.input_shapes} ({detail}).",
            hint="try the other --exporter, or raise --atol if this drift is acceptable for you.",
        )


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


def pytorch_outputs(
    module: torch.nn.Module, inputs: Mapping[str, torch.Tensor], output_names: Sequence[str]
) -> dict[str, np.ndarray]:
    """Run the wrapped model (forward takes the ONNX input names) and return named numpy outputs."""
    with torch.no_grad():
        result = module(**inputs)
    return {n: t.detach().cpu().numpy() for n, t in zip(output_names, result, strict=True)}


def onnxruntime_outputs(onnx_path: Path, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # A failing run raises, and the error it raises is reported; ONNX Runtime's own log line of it
    # would be a second, unformatted copy in the user's terminal (also when auto then succeeds).
    options.log_severity_level = 4
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
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


# --------------------------------------------------------------------------- Optimum


@dataclass
class OptimumCheck:
    """Whether ``ORTModelFor<Task>.from_pretrained(dir)`` loads and runs."""

    ok: bool
    ort_class: str | None
    reason: str = ""
    output_shapes: dict[str, list[int]] = field(default_factory=dict)


def _ort_class_name(model_dir: Path) -> str:
    from .tasks import get_task, infer_task

    meta_path = model_dir / "export_metadata.json"
    if meta_path.is_file():
        task = json.loads(meta_path.read_text(encoding="utf-8")).get("task")
        if task:
            return get_task(task).ort_class
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return get_task(infer_task(config.get("architectures"), config.get("model_type"))).ort_class


def _sample_inputs(model_dir: Path, ort_model: Any) -> dict[str, Any]:
    """Real preprocessing of a sample, as a user would run it: tokenizer and/or image processor."""
    import transformers
    from PIL import Image

    names = set(ort_model.input_names)
    inputs: dict[str, Any] = {}
    if "input_ids" in names:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
        texts = ["a first sample sentence", "a second, longer sample sentence to pad against"]
        if ort_model.__class__.__name__ == "ORTModelForMultipleChoice":
            enc = tokenizer([t for t in texts for _ in range(2)], padding=True, return_tensors="np")
            inputs.update({k: v.reshape(2, 2, -1) for k, v in enc.items() if k in names})
        else:
            enc = tokenizer(texts, padding=True, return_tensors="np")
            inputs.update({k: v for k, v in enc.items() if k in names})
    if "pixel_values" in names:
        processor = transformers.AutoImageProcessor.from_pretrained(model_dir)
        rng = np.random.default_rng(0)
        image = Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        inputs["pixel_values"] = processor(images=[image], return_tensors="np")["pixel_values"]
    if "input_values" in names:
        inputs["input_values"] = np.random.default_rng(0).standard_normal((1, 16000)).astype(np.float32)
    return inputs


def check_optimum(model_dir: str | Path) -> OptimumCheck:
    """Load the export with the matching ORTModel class and run one real sample through it."""
    model_dir = Path(model_dir)
    for required in ("model.onnx", "config.json"):
        if not (model_dir / required).is_file():
            return OptimumCheck(False, None, f"missing {required} in {model_dir}")
    class_name = _ort_class_name(model_dir)
    try:
        import optimum.onnxruntime as ortm
    except Exception as e:  # an import failure is data (e.g. transformers 5.x), not a crash
        return OptimumCheck(
            False, class_name, f"optimum.onnxruntime does not import: {type(e).__name__}: {e}"
        )
    try:
        model = getattr(ortm, class_name).from_pretrained(model_dir)
        outputs = model(**_sample_inputs(model_dir, model))
    except Exception as e:
        first = first_line(e)
        return OptimumCheck(False, class_name, f"{type(e).__name__}: {first}")
    shapes = {k: list(v.shape) for k, v in outputs.items() if hasattr(v, "shape")}
    return OptimumCheck(True, class_name, "", shapes)


def validate_optimum_compatibility(model_dir: str | Path) -> bool:
    """True when Optimum loads and runs the export; prints why not otherwise."""
    result = check_optimum(model_dir)
    if not result.ok:
        print(f"not compatible with Optimum ({result.ort_class or 'ORTModel'}): {result.reason}")
    return result.ok


def require_optimum(model_dir: str | Path) -> OptimumCheck:
    """Like :func:`check_optimum` but raises :class:`CompatibilityError` on failure."""
    result = check_optimum(model_dir)
    if not result.ok:
        raise CompatibilityError(
            f"{result.ort_class or 'ORTModel'}.from_pretrained('{model_dir}') failed: {result.reason}"
        )
    return result
