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
from ..inputs import token_id
from ..loading import load_tokenizer
from ..tasks import TaskSpec, task_for

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
    generation needs), the tokenizer's own side for encoder-decoders. Token ids and their mask only:
    what the exported files take (Falcon's tokenizer adds token type ids its generate refuses). A
    tokenizer without a padding token pads with its end-of-sequence token, as batched generation
    does (under the mask, so the tokens generated do not depend on it)."""
    tokenizer = load_tokenizer(source)
    if task.layout == "decoder":
        tokenizer.padding_side = "left"
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.pad_token is None:  # no special tokens at all (transformers 5's generic tokenizer)
        tokenizer.pad_token = _config_pad_token(tokenizer, source)
    encoded = tokenizer(list(prompts), padding=True, return_tensors="pt")
    return {k: encoded[k] for k in ("input_ids", "attention_mask")}


def _config_pad_token(tokenizer: Any, source: Path) -> str:
    """The token of the model config's padding id, else of its end-of-sequence id, else of id 0,
    whichever the tokenizer has (a config's id can lie outside a tiny vocabulary: GPT-BigCode's
    default 50256). Padded positions hold it under the mask, so any id gives the same tokens."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(source)
    for key in ("pad_token_id", "eos_token_id"):
        found = token_id((config,), key)
        token = None if found is None else tokenizer.convert_ids_to_tokens(found)
        if token is not None:
            return token
    return tokenizer.convert_ids_to_tokens(0)


def _waveforms(count: int) -> list[Any]:
    """``count`` seeded 16 kHz waveforms of different lengths (0.4 s, 0.6 s, ...)."""
    import numpy as np

    rng = np.random.default_rng(0)
    return [rng.standard_normal(6400 + 3200 * i).astype(np.float32) * 0.1 for i in range(count)]


def _images(count: int) -> list[Any]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (40 + 8 * i, 56, 3), dtype=np.uint8)) for i in range(count)]


def generation_inputs(source: Path, task: TaskSpec, main_input: str, count: int) -> dict[str, torch.Tensor]:
    """What generation starts from, for ``count`` samples, made by the checkpoint's own preprocessors:
    text prompts of different lengths, waveforms (as speech features or samples), or images (as
    pixels or Pix2Struct's flattened patches)."""
    import transformers

    if main_input == "input_ids":
        return prompt_inputs(source, task, PROMPTS[-count:])
    if main_input in ("input_features", "input_values"):
        extractor = transformers.AutoFeatureExtractor.from_pretrained(source)
        rate = int(getattr(extractor, "sampling_rate", 16000))
        options = {"return_attention_mask": True} if main_input == "input_values" else {}
        # Whisper's encoder takes a fixed 30 s window (its extractor's n_samples), others the longest.
        padding = "max_length" if hasattr(extractor, "n_samples") else True
        features = extractor(
            _waveforms(count), sampling_rate=rate, padding=padding, return_tensors="pt", **options
        )
        return {k: v for k, v in features.items() if k in (main_input, "attention_mask")}
    if main_input == "flattened_patches":
        processor = transformers.AutoProcessor.from_pretrained(source)
        # The processor's call defaults to 2048 patches, not its saved (and exported) max_patches.
        patches = int(processor.image_processor.max_patches)
        return dict(processor(images=_images(count), max_patches=patches, return_tensors="pt"))
    processor = transformers.AutoImageProcessor.from_pretrained(source)
    return {"pixel_values": processor(images=_images(count), return_tensors="pt")["pixel_values"]}


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

    import transformers

    spec = task_for(task, transformers.AutoConfig.from_pretrained(source))
    check = GenerateCheck(False, spec.ort_class, max_new_tokens)
    reference_model = load_head(source, spec)
    main_input = str(getattr(reference_model, "main_input_name", "input_ids"))
    inputs = generation_inputs(Path(source), spec, main_input, len(prompts))
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
