"""Checks for generative tasks (decoder-only with a KV cache, encoder-decoders), on any exporter's files.

Plain ONNX Runtime generates greedily over the files (:mod:`.ort_generate`, apart from the exporter's
own code) from left-padded prompts of different lengths, at batch 2 and batch 1, and must choose
exactly PyTorch's tokens, from logits within tolerance at every step; where Optimum imports, its
``ORTModelFor...`` generates too and must give PyTorch's tokens exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..generative.generate import PROMPTS, prompt_inputs
from ..heads import load_head
from ..render.schema import LoadCheck, ParityCheck
from ..tasks import TaskSpec, get_task
from .checks import SuiteResult, check_files, error_text
from .ort_generate import OrtGeneration, decoder_generate, seq2seq_generate

NEW_TOKENS = 12


def expected_files(task: TaskSpec, export_dir: Path) -> list[str]:
    """The ONNX files Optimum's loader reads for a generative task: an encoder-decoder with past has
    a merged decoder, or (Optimum's own unmerged export, ours with --separate-decoders) both."""
    if task.layout == "decoder":
        return ["model.onnx"]
    if task.with_past and (export_dir / "decoder_model_merged.onnx").is_file():
        return ["encoder_model.onnx", "decoder_model_merged.onnx"]
    with_past = ["decoder_with_past_model.onnx"] if task.with_past else []
    return ["encoder_model.onnx", "decoder_model.onnx", *with_past]


def _reference(
    model: Any, inputs: dict[str, Any], start: int | None
) -> tuple[list[list[int]], list[np.ndarray]]:
    """PyTorch's plain greedy decoding: the argmax of the raw logits at each of NEW_TOKENS steps, the
    whole sequence run again at every step. Not ``generate``: a model's generation config may force
    or suppress tokens (BART forces ``</s>`` at the last step, Marian its pad), which the plain ONNX
    Runtime loop does not do; Optimum's generation, checked separately, runs them on both sides."""
    import inspect

    import torch

    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    takes_positions = "position_ids" in inspect.signature(model.forward).parameters
    sequence = ids if start is None else torch.full((ids.shape[0], 1), start, dtype=torch.long)
    logits_per_step = []
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            if start is None:  # decoder-only: the prompt and what came after it
                feed = {"input_ids": sequence, "attention_mask": mask}
                if takes_positions:
                    positions = mask.long().cumsum(-1) - 1
                    feed["position_ids"] = positions.masked_fill(mask == 0, 1)
                logits = model(**feed, use_cache=False).logits[:, -1, :]
            else:
                logits = model(
                    input_ids=ids, attention_mask=mask, decoder_input_ids=sequence, use_cache=False
                ).logits[:, -1, :]
            token = logits.argmax(-1, keepdim=True)
            logits_per_step.append(logits.numpy())
            sequence = torch.cat([sequence, token], dim=1)
            if start is None:
                mask = torch.cat([mask, torch.ones_like(token)], dim=1)
    prompt = ids.shape[1] if start is None else 1
    return sequence[:, prompt:].tolist(), logits_per_step


def _start(model: Any) -> int | None:
    """The decoder start token of an encoder-decoder, ``None`` for a decoder-only model."""
    if not model.config.is_encoder_decoder:
        return None
    start = getattr(model.generation_config, "decoder_start_token_id", None)
    return int(model.config.decoder_start_token_id if start is None else start)


def _ort(export_dir: Path, inputs: dict[str, Any], start: int | None) -> OrtGeneration:
    ids, mask = inputs["input_ids"].numpy(), inputs["attention_mask"].numpy()
    if start is None:
        return decoder_generate(export_dir, ids, mask, NEW_TOKENS)
    return seq2seq_generate(export_dir, ids, mask, start, NEW_TOKENS)


def ort_generation(export_dir: Path, source: Path, task: TaskSpec, atol: float, rtol: float) -> ParityCheck:
    """Greedy tokens of plain ONNX Runtime vs PyTorch, batch 2 and batch 1; max|Δ| of the logits."""

    check = ParityCheck(atol=atol, rtol=rtol)
    problems = []
    try:
        model = load_head(source, task)
        for batch in (2, 1):
            inputs = prompt_inputs(source, task, PROMPTS[-batch:])
            start = _start(model)
            tokens, logits = _reference(model, inputs, start)
            got = _ort(export_dir, inputs, start)
            diff = max(float(np.abs(g - r).max()) for g, r in zip(got.logits, logits, strict=True))
            check.max_abs_diff[f"logits (batch {batch})"] = diff
            close = all(
                np.allclose(g, r, atol=atol, rtol=rtol) for g, r in zip(got.logits, logits, strict=True)
            )
            if got.tokens != tokens:
                problems.append(f"batch {batch}: greedy tokens {got.tokens} differ from PyTorch's {tokens}")
            elif not close:
                problems.append(
                    f"batch {batch}: logits max|Δ| {diff:.2e} beyond atol {atol:g} / rtol {rtol:g}"
                )
    except Exception as e:
        check.ok, check.error = False, f"ONNX Runtime: {error_text(e)}"
        return check
    check.ok = not problems
    check.error = "; ".join(problems) or None
    return check


def _optimum(source: Path, out: Path, task: TaskSpec) -> tuple[LoadCheck, ParityCheck]:
    """Greedy generation through ``ORTModelFor...`` must give PyTorch's tokens exactly."""
    from ..generative.generate import compare_generate

    result = compare_generate(source, out, task.name, use_cache=task.with_past)
    if result.error:
        return LoadCheck(ok=False, error=result.error), ParityCheck()
    parity = ParityCheck(ok=result.ok)
    if not result.ok:
        parity.error = f"greedy tokens differ from PyTorch's: {result.onnx} vs {result.reference}"
    return LoadCheck(ok=True), parity


def run_generative_checks(
    out: Path, source: Path, task_name: str, exporter: str, atol: float, rtol: float, optimum: bool
) -> SuiteResult:
    """Files, ONNX Runtime's generation and (where Optimum imports) Optimum's, for one export."""
    task = get_task(task_name)
    files = check_files(out, source, exporter, onnx_files=expected_files(task, out))
    ort = ort_generation(out, source, task, atol, rtol)
    load, parity = _optimum(source, out, task) if optimum else (LoadCheck(), ParityCheck())
    return files, ort, load, parity
