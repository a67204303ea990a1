"""Checks for generative tasks (decoder-only with a KV cache, encoder-decoders), on any exporter's files.

Plain ONNX Runtime generates greedily over the files (:mod:`.ort_generate`, apart from the exporter's
own code) from left-padded prompts of different lengths, at batch 2 and batch 1, and must choose
exactly PyTorch's tokens, from logits within tolerance at every step; where Optimum imports, its
``ORTModelFor...`` generates too and must give PyTorch's tokens exactly.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np

from ..generative.feeds import decoder_start
from ..generative.generate import generation_inputs
from ..heads import load_head
from ..render.schema import LoadCheck, ParityCheck
from ..tasks import TaskSpec, task_for
from .checks import SuiteResult, check_files, error_text
from .ort_generate import OrtGeneration, decoder_generate, empty_past, seq2seq_generate

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


def _forced_tokens(model: Any, task: TaskSpec, batch: int) -> np.ndarray | None:
    """For a base model with a cache (feature-extraction-with-past), the NEW_TOKENS tokens both sides
    feed after the prompt (it has no logits to choose from); None for generation heads."""
    if task.outputs[0] != "last_hidden_state":
        return None
    vocab = int(model.get_input_embeddings().num_embeddings)
    row = (np.arange(NEW_TOKENS) * 7 + 5) % vocab
    return np.tile(row, (batch, 1)).astype(np.int64)


def _reference(
    model: Any, inputs: dict[str, Any], start: int | None, forced: np.ndarray | None = None
) -> tuple[list[list[int]], list[np.ndarray]]:
    """PyTorch's plain greedy decoding: the argmax of the raw logits at each of NEW_TOKENS steps, the
    whole sequence run again at every step. Not ``generate``: a model's generation config may force
    or suppress tokens (BART forces ``</s>`` at the last step, Marian its pad), which the plain ONNX
    Runtime loop does not do; Optimum's generation, checked separately, runs them on both sides.
    With ``forced`` tokens (a base model), the last hidden state at each step instead of logits."""
    import torch

    parameters = inspect.signature(model.forward).parameters
    takes_positions = "position_ids" in parameters
    output = "logits" if forced is None else "last_hidden_state"
    batch = next(iter(inputs.values())).shape[0]
    ids: Any = inputs.get("input_ids")
    mask: Any = inputs.get("attention_mask")
    sequence = ids if start is None else torch.full((batch, 1), start, dtype=torch.long)
    logits_per_step = []
    with torch.no_grad():
        for step in range(NEW_TOKENS):
            if start is None:  # decoder-only: the prompt and what came after it
                feed = {"input_ids": sequence, "attention_mask": mask}
                if takes_positions:
                    positions = mask.long().cumsum(-1) - 1
                    feed["position_ids"] = positions.masked_fill(mask == 0, 1)
                logits = model(**feed, use_cache=False)[output][:, -1, :]
            else:
                # All decoder tokens attended, as in the exported decoders (Pix2Struct would mask
                # generated pad tokens otherwise).
                decoder_mask = (
                    {"decoder_attention_mask": torch.ones_like(sequence)}
                    if "decoder_attention_mask" in parameters
                    else {}
                )
                logits = model(**inputs, decoder_input_ids=sequence, use_cache=False, **decoder_mask)[output][
                    :, -1, :
                ]
            if forced is None:
                token = logits.argmax(-1, keepdim=True)
            else:
                token = torch.from_numpy(forced[:, step : step + 1])
            logits_per_step.append(logits.numpy())
            sequence = torch.cat([sequence, token], dim=1)
            if start is None:
                mask = torch.cat([mask, torch.ones_like(token)], dim=1)
    prompt = 1 if ids is None or start is not None else ids.shape[1]
    return sequence[:, prompt:].tolist(), logits_per_step


def _start(model: Any) -> int | None:
    """The decoder start token of an encoder-decoder, ``None`` for a decoder-only model."""
    return decoder_start(model) if model.config.is_encoder_decoder else None


def _ort(
    export_dir: Path, inputs: dict[str, Any], start: int | None, forced: np.ndarray | None
) -> OrtGeneration:
    arrays = {k: v.numpy() for k, v in inputs.items()}
    options: dict[str, Any] = {
        "forced": forced,
        "output": "logits" if forced is None else "last_hidden_state",
    }
    if start is None:
        return decoder_generate(
            export_dir, arrays["input_ids"], arrays["attention_mask"], NEW_TOKENS, **options
        )
    return seq2seq_generate(export_dir, arrays, start, NEW_TOKENS, **options)


def ort_generation(export_dir: Path, source: Path, task: TaskSpec, atol: float, rtol: float) -> ParityCheck:
    """Greedy tokens of plain ONNX Runtime vs PyTorch, batch 2 and batch 1; max|Δ| of the logits."""

    check = ParityCheck(atol=atol, rtol=rtol)
    problems = []
    try:
        model = load_head(source, task)
        main_input = str(getattr(model, "main_input_name", "input_ids"))
        for batch in (2, 1):
            inputs = generation_inputs(source, task, main_input, batch)
            start = _start(model)
            forced = _forced_tokens(model, task, batch)
            tokens, logits = _reference(model, inputs, start, forced)
            got = _ort(export_dir, inputs, start, forced)
            diff = max(float(np.abs(g - r).max()) for g, r in zip(got.logits, logits, strict=True))
            what = "logits" if forced is None else "last_hidden_state"
            check.max_abs_diff[f"{what} (batch {batch})"] = diff
            close = all(
                np.allclose(g, r, atol=atol, rtol=rtol) for g, r in zip(got.logits, logits, strict=True)
            )
            if got.tokens != tokens:
                problems.append(f"batch {batch}: greedy tokens {got.tokens} differ from PyTorch's {tokens}")
            elif not close:
                problems.append(
                    f"batch {batch}: {what} max|Δ| {diff:.2e} beyond atol {atol:g} / rtol {rtol:g}"
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

    try:
        result = compare_generate(source, out, task.name, use_cache=task.with_past)
    except Exception as e:  # the prompts could not be made: a result of the cell, not a crash of it
        return LoadCheck(ok=False, error=f"generation inputs: {error_text(e)}"), ParityCheck()
    if result.error:
        return LoadCheck(ok=False, error=result.error), ParityCheck()
    parity = ParityCheck(ok=result.ok)
    if not result.ok:
        parity.error = f"greedy tokens differ from PyTorch's: {result.onnx} vs {result.reference}"
    return LoadCheck(ok=True), parity


def _optimum_hidden(
    source: Path, out: Path, task: TaskSpec, atol: float, rtol: float
) -> tuple[LoadCheck, ParityCheck]:
    """A base model with a cache: ``ORTModelForCustomTasks`` runs the prompt's step (an empty past)
    and its last hidden state must match PyTorch's on the prompt's tokens. An encoder-decoder's files
    load in no ORTModel class (Optimum has none for them), which is recorded, not failed."""
    import torch

    if task.layout != "decoder":
        return LoadCheck(
            error="Optimum has no ORTModel class for an encoder-decoder's feature-extraction-with-past"
        ), (ParityCheck())
    check = ParityCheck(atol=atol, rtol=rtol)
    try:
        import optimum.onnxruntime as ortm

        model = ortm.ORTModelForCustomTasks.from_pretrained(out)
    except Exception as e:
        return LoadCheck(ok=False, error=error_text(e)), check
    try:
        reference_model = load_head(source, task)
        inputs = generation_inputs(source, task, "input_ids", 2)
        mask = inputs["attention_mask"]
        feed: dict[str, Any] = {k: v.numpy() for k, v in inputs.items()}
        feed.update(empty_past(out / "model.onnx", mask.shape[0]))
        positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
        if "position_ids" in model.input_names:
            feed["position_ids"] = positions.numpy()
        got = np.asarray(model(**feed)["last_hidden_state"])
        extra = (
            {"position_ids": positions}
            if "position_ids" in inspect.signature(reference_model.forward).parameters
            else {}
        )
        with torch.no_grad():
            expected = reference_model(**inputs, use_cache=False, **extra).last_hidden_state.numpy()
    except Exception as e:
        check.ok, check.error = False, f"run: {error_text(e)}"
        return LoadCheck(ok=True), check
    real = mask.numpy().astype(bool)  # padding positions are nobody's output
    diff = float(np.abs(got[real] - expected[real]).max())
    check.max_abs_diff["last_hidden_state"] = diff
    check.ok = bool(np.allclose(got[real], expected[real], atol=atol, rtol=rtol))
    if not check.ok:
        check.error = f"last_hidden_state max|Δ| {diff:.2e} beyond atol {atol:g} / rtol {rtol:g}"
    return LoadCheck(ok=True), check


def run_generative_checks(
    out: Path, source: Path, task_name: str, exporter: str, atol: float, rtol: float, optimum: bool
) -> SuiteResult:
    """Files, ONNX Runtime's generation and (where Optimum imports) Optimum's, for one export."""
    import transformers

    task = task_for(task_name, transformers.AutoConfig.from_pretrained(source))
    files = check_files(out, source, exporter, onnx_files=expected_files(task, out))
    ort = ort_generation(out, source, task, atol, rtol)
    if not optimum:
        load, parity = LoadCheck(), ParityCheck()
    elif task.outputs[0] == "last_hidden_state":
        load, parity = _optimum_hidden(source, out, task, atol, rtol)
    else:
        load, parity = _optimum(source, out, task)
    return files, ort, load, parity
