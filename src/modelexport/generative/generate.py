"""Greedy generation through Optimum's ORTModel vs through PyTorch, as data (for tests and the matrix).

A padded batch of two prompts of different lengths (left padding for decoder-only models, as batched
generation needs; the tokenizer's own side for encoder-decoders), ``max_new_tokens`` greedy tokens
with ``min_new_tokens`` equal so every step runs, even past an end-of-sequence token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import first_line
from ..heads import load_head
from ..tasks import TaskSpec, get_task

PROMPTS = ("Hello world! This is", "The quick brown fox jumps over the lazy dog and")


@dataclass
class GenerateCheck:
    """Whether ONNX Runtime (through Optimum) generated exactly PyTorch's tokens."""

    ok: bool
    ort_class: str
    max_new_tokens: int
    reference: list[list[int]] = field(default_factory=list)
    onnx: list[list[int]] = field(default_factory=list)
    error: str = ""


def prompt_inputs(source: Path, task: TaskSpec, prompts: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """``prompts`` tokenized as a padded batch: left padding for decoder-only models (as batched
    generation needs), the tokenizer's own side for encoder-decoders."""
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    if task.layout == "decoder":
        tokenizer.padding_side = "left"
    return dict(tokenizer(list(prompts), padding=True, return_tensors="pt"))


def greedy(model: Any, inputs: dict[str, torch.Tensor], max_new_tokens: int) -> torch.Tensor:
    with torch.no_grad():
        return model.generate(
            **inputs,
            do_sample=False,
            num_beams=1,
            max_new_tokens=max_new_tokens,
            min_new_tokens=max_new_tokens,
        )


def compare_generate(
    source: str | Path,
    export_dir: str | Path,
    task: str,
    *,
    prompts: tuple[str, ...] = PROMPTS,
    max_new_tokens: int = 16,
    use_cache: bool = True,
) -> GenerateCheck:
    """Generate with the source model in PyTorch and with ``ORTModelFor...`` on the export."""

    spec = get_task(task)
    check = GenerateCheck(False, spec.ort_class, max_new_tokens)
    inputs = prompt_inputs(Path(source), spec, prompts)
    reference_model = load_head(source, spec)
    check.reference = greedy(reference_model, inputs, max_new_tokens).tolist()
    try:
        import optimum.onnxruntime as ortm

        ort_model = getattr(ortm, spec.ort_class).from_pretrained(export_dir, use_cache=use_cache)
        check.onnx = greedy(ort_model, inputs, max_new_tokens).tolist()
    except Exception as e:  # a load or run failure is a result, not a crash
        first = first_line(e)
        check.error = f"{type(e).__name__}: {first}"
        return check
    check.ok = check.onnx == check.reference
    return check
