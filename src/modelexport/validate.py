"""Does Optimum load an export directory and run it: the seed's ``check_optimum`` and
``validate_optimum_compatibility``, on a real preprocessed sample."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserInputError, first_line
from .options import path_argument


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
    model_dir = Path(path_argument(model_dir, "export directory"))
    if not model_dir.is_dir():
        raise UserInputError(f"no such directory: '{model_dir}'.", hint="pass an export directory.")
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
