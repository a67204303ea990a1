"""Run the same real, preprocessed sample through PyTorch and through Optimum's ORTModel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from PIL import Image

from modelexport.tasks import get_task

TEXTS = [
    "the quick brown fox jumps over the lazy dog " * 12,
    "a short one",
]


def sample_inputs(model_dir: Path, task: str, *, text_batch: int = 1, image_batch: int = 1) -> dict[str, Any]:
    """Preprocessed inputs at a shape other than the export's: text padded to 128, one image."""
    inputs: dict[str, Any] = {}
    if task in ("image-classification", "semantic-segmentation") or _is_vision(model_dir, task):
        processor = transformers.AutoImageProcessor.from_pretrained(model_dir)
        rng = np.random.default_rng(1)
        images = [
            Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)) for _ in range(image_batch)
        ]
        inputs.update(processor(images=images, return_tensors="pt"))
        if task != "zero-shot-image-classification":
            return dict(inputs)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    texts = (TEXTS * 4)[:text_batch]
    limit = min(128, tokenizer.model_max_length)
    if task == "multiple-choice":
        enc = tokenizer(
            [t for t in texts for _ in range(3)],
            padding="max_length",
            truncation=True,
            max_length=limit,
            return_tensors="pt",
        )
        inputs.update({k: v.reshape(text_batch, 3, -1) for k, v in enc.items()})
    else:
        enc = tokenizer(texts, padding="max_length", truncation=True, max_length=limit, return_tensors="pt")
        inputs.update(enc)
    return dict(inputs)


def _is_vision(model_dir: Path, task: str) -> bool:
    if task == "zero-shot-image-classification":
        return True
    config = transformers.AutoConfig.from_pretrained(model_dir)
    return getattr(config, "num_channels", None) is not None and task == "feature-extraction"


def pytorch_outputs(model_dir: Path, task: str, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
    spec = get_task(task)
    model = getattr(transformers, spec.auto_class).from_pretrained(model_dir).eval()
    with torch.no_grad():
        out = model(**inputs)
    return {name: out[name].numpy() for name in spec.outputs}


def optimum_outputs(export_dir: Path, task: str, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
    import optimum.onnxruntime as ortm

    spec = get_task(task)
    model = getattr(ortm, spec.ort_class).from_pretrained(export_dir)
    feed = {k: v for k, v in inputs.items() if k in model.input_names}
    out = model(**feed)
    return {name: np.asarray(out[name]) for name in spec.outputs}


def max_abs_diffs(reference: dict[str, np.ndarray], actual: dict[str, np.ndarray]) -> dict[str, float]:
    diffs = {}
    for name, ref in reference.items():
        assert actual[name].shape == ref.shape, (name, actual[name].shape, ref.shape)
        diffs[name] = float(np.abs(actual[name] - ref).max())
    return diffs


def wrap(model: torch.nn.Module, io: Any) -> torch.nn.Module:
    """The module the pipeline traces for a single-file task."""
    from modelexport.wrappers import TaskOutputs, traced

    return traced(TaskOutputs, model, io)


def standalone(captured: Any) -> Any:
    """A captured graph with every weight copied in (for tests that need a whole model)."""
    from modelexport.wire import materialize

    materialize(captured.proto, captured.weights)
    captured.weights = {}
    return captured.proto
