"""Does Optimum load an export directory and run it: the seed's ``check_optimum`` and
``validate_optimum_compatibility``, for every layout (ours and Optimum's own).

The directory is loaded with :class:`~modelexport.auto.AutoModelForONNX` (its ``ORTModelFor<Task>``)
and run on a real, preprocessed sample: a single-file task on a padded batch of texts, an image or
a waveform; a generative task generates greedily from a padded batch of two prompts. Given the
source model (or when the export's own ``source_model`` is a local directory), the outputs, or the
tokens, are compared with PyTorch's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .auto import METADATA, AutoModelForONNX, export_task, ort_class_name
from .errors import CompatibilityError, UserInputError, first_line
from .generative.generate import generation_inputs
from .heads import load_head
from .options import path_argument
from .tasks import TaskSpec
from .verify import DEFAULT_ATOL, DEFAULT_RTOL

NEW_TOKENS = 8


@dataclass
class OptimumCheck:
    """Whether ``ORTModelFor<Task>.from_pretrained(dir)`` loads and runs, and what was checked."""

    ok: bool
    ort_class: str | None
    reason: str = ""
    output_shapes: dict[str, list[int]] = field(default_factory=dict)
    checked: list[str] = field(default_factory=list)


def _source(model_dir: Path, source: str | Path | None) -> Path | None:
    """The source model to compare with: the one given, else the export's own if it is local."""
    if source is not None:
        path = Path(path_argument(source, "source model"))
        if not (path / "config.json").is_file():
            raise UserInputError(
                f"'{path}' is not a model directory.", hint="pass the exported model's directory."
            )
        return path
    meta_file = model_dir / METADATA
    if meta_file.is_file():
        recorded = json.loads(meta_file.read_text(encoding="utf-8")).get("source_model")
        if isinstance(recorded, str) and (Path(recorded) / "config.json").is_file():
            return Path(recorded)
    return None


def _texts(
    tokenizer: Any, texts: list[str], names: set[str], choices: int = 0, length: int | None = None
) -> dict[str, Any]:
    """The tokenized texts, padded to the longest, or to ``length`` for a file that takes one length."""
    padding: dict[str, Any] = (
        {"padding": True}
        if length is None
        else {"padding": "max_length", "max_length": length, "truncation": True}
    )
    if choices:
        enc = tokenizer([t for t in texts for _ in range(choices)], return_tensors="pt", **padding)
        return {k: v.reshape(len(texts), choices, -1) for k, v in enc.items() if k in names}
    enc = tokenizer(texts, return_tensors="pt", **padding)
    return {k: v for k, v in enc.items() if k in names}


def _fixed_text_length(model_dir: Path) -> int | None:
    """The sequence length ``model.onnx`` fixes for ``input_ids`` (its last axis), if it fixes one."""
    import onnx

    path = model_dir / "model.onnx"
    if not path.is_file():
        return None
    for value in onnx.load(str(path), load_external_data=False).graph.input:
        if value.name == "input_ids":
            last = value.type.tensor_type.shape.dim[-1]
            return int(last.dim_value) if last.HasField("dim_value") else None
    return None


def _sample_inputs(model_dir: Path, ort_model: Any) -> dict[str, Any]:
    """Real preprocessing of a sample, as a user would run it: tokenizer, image processor, waveform."""
    import torch
    import transformers
    from PIL import Image

    names = set(ort_model.input_names)
    inputs: dict[str, Any] = {}
    if "input_ids" in names:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
        texts = ["a first sample sentence", "a second, longer sample sentence to pad against"]
        choices = 2 if type(ort_model).__name__ == "ORTModelForMultipleChoice" else 0
        inputs.update(_texts(tokenizer, texts, names, choices, _fixed_text_length(model_dir)))
    if "pixel_values" in names:
        processor = transformers.AutoImageProcessor.from_pretrained(model_dir)
        rng = np.random.default_rng(0)
        image = Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        inputs["pixel_values"] = processor(images=[image], return_tensors="pt")["pixel_values"]
    if "input_values" in names:
        inputs["input_values"] = torch.from_numpy(
            np.random.default_rng(0).standard_normal((1, 16000)).astype(np.float32)
        )
    return inputs


def _run(model_dir: Path, task: TaskSpec, ort_model: Any, source: Path | None, check: OptimumCheck) -> None:
    """A real sample through ``ort_model``, compared with PyTorch's outputs when ``source`` is known."""
    import torch

    inputs = _sample_inputs(model_dir, ort_model)
    outputs = ort_model(**inputs)
    check.output_shapes = {k: list(v.shape) for k, v in outputs.items() if hasattr(v, "shape")}
    shapes = ", ".join(f"{k} {'×'.join(map(str, v.shape))}" for k, v in inputs.items())
    check.checked.append(f"{check.ort_class} ran a preprocessed sample ({shapes})")
    if source is None:
        return
    reference = load_head(source, task)
    with torch.no_grad():
        expected = reference(**inputs)
    worst = 0.0
    for name in task.outputs:
        if name in outputs and name in expected:
            got, want = np.asarray(outputs[name]), expected[name].numpy()
            worst = max(worst, float(np.abs(got - want).max()))
            if got.shape != want.shape or not np.allclose(got, want, atol=DEFAULT_ATOL, rtol=DEFAULT_RTOL):
                check.ok, check.reason = False, f"{name} differs from PyTorch's (max|Δ| {worst:.2e})"
    check.checked.append(f"outputs match PyTorch's ({source}) within 1e-4: max|Δ| {worst:.2e}")


def _generate(
    model_dir: Path, task: TaskSpec, ort_model: Any, source: Path | None, check: OptimumCheck
) -> None:
    """Greedy generation from a padded batch of two prompts (or two waveforms, or two images, as the
    model takes), made by the export's own preprocessors; equal to PyTorch's when ``source`` is known."""
    import torch

    main_input = str(getattr(ort_model, "main_input_name", "input_ids"))
    inputs = generation_inputs(model_dir, task, main_input, 2)
    options = {"do_sample": False, "num_beams": 1, "max_new_tokens": NEW_TOKENS, "min_new_tokens": NEW_TOKENS}
    with torch.no_grad():
        tokens = ort_model.generate(**inputs, **options).tolist()
    check.output_shapes = {"sequences": [len(tokens), len(tokens[0])]}
    what = "prompts" if main_input == "input_ids" else "samples"
    check.checked.append(f"{check.ort_class}.generate: {NEW_TOKENS} greedy tokens for 2 padded {what}")
    if source is None:
        return
    reference = load_head(source, task)
    with torch.no_grad():
        expected = reference.generate(**inputs, **options).tolist()
    if tokens != expected:
        check.ok, check.reason = False, f"greedy tokens {tokens} differ from PyTorch's {expected}"
    else:
        check.checked.append(f"the tokens equal PyTorch's ({source})")


def check_optimum(model_dir: str | Path, *, source: str | Path | None = None) -> OptimumCheck:
    """Load the export with its ``ORTModelFor<Task>`` and run a real sample through it (see the
    module docstring); a failure is a record with its reason, a bad argument a UserInputError."""
    model_dir = Path(path_argument(model_dir, "export directory"))
    if not model_dir.is_dir():
        raise UserInputError(f"no such directory: '{model_dir}'.", hint="pass an export directory.")
    if not any(model_dir.glob("*.onnx")):
        return OptimumCheck(False, None, f"no .onnx file in {model_dir}")
    try:
        task = export_task(model_dir)
    except UserInputError as e:
        return OptimumCheck(False, None, e.message)
    name = ort_class_name(model_dir, task)
    check = OptimumCheck(True, name)
    reference = _source(model_dir, source)
    try:
        ort_model = AutoModelForONNX.from_pretrained(model_dir)
        check.checked.append(
            f"{name}.from_pretrained loaded {', '.join(sorted(f.name for f in model_dir.glob('*.onnx')))}"
        )
        (_generate if task.generative else _run)(model_dir, task, ort_model, reference, check)
    except CompatibilityError as e:
        return OptimumCheck(False, name, e.message)
    except Exception as e:  # a load or run failure is the answer, not a crash
        return OptimumCheck(False, name, f"{type(e).__name__}: {first_line(e)}", checked=check.checked)
    return check


def validate_optimum_compatibility(model_dir: str | Path) -> bool:
    """True when Optimum loads and runs the export; prints why not otherwise."""
    result = check_optimum(model_dir)
    if not result.ok:
        print(f"not compatible with Optimum ({result.ort_class or 'ORTModel'}): {result.reason}")
    return result.ok
