"""Speech-to-text and image-to-text exports: Optimum's ORTModelForSpeechSeq2Seq, ORTModelForVision2Seq
and ORTModelForPix2Struct load them as they are and generate PyTorch's greedy tokens; plain ONNX
Runtime chains the encoder and the merged decoder on its own cache and chooses PyTorch's tokens too."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import transformers

from modelexport import check_optimum, run_export
from modelexport.generative.generate import compare_generate
from modelexport.generative.layout import ENCODER_FILE, SEQ2SEQ_DECODER_FILE, SEQ2SEQ_DECODER_MERGED_FILE
from modelexport.matrix.generative_checks import ort_generation
from modelexport.tasks import task_for

ASR = "automatic-speech-recognition-with-past"
I2T = "image-to-text-with-past"
# (zoo name, task, ORTModel class, the encoder's inputs)
CASES = [
    ("whisper", ASR, "ORTModelForSpeechSeq2Seq", ["input_features"]),
    ("speech_to_text", ASR, "ORTModelForSpeechSeq2Seq", ["input_features", "attention_mask"]),
    ("moonshine", ASR, "ORTModelForSpeechSeq2Seq", ["input_values", "attention_mask"]),
    ("vision-encoder-decoder", I2T, "ORTModelForVision2Seq", ["pixel_values"]),
    ("pix2struct", I2T, "ORTModelForPix2Struct", ["flattened_patches", "attention_mask"]),
]


def _inputs(path: Path) -> list[str]:
    return [i.name for i in onnx.load(path, load_external_data=False).graph.input]


@pytest.mark.parametrize(("name", "task", "ort_class", "encoder_inputs"), CASES, ids=[c[0] for c in CASES])
def test_generates_pytorchs_tokens_through_optimum_and_plain_onnx_runtime(
    zoo_dir, tmp_path, name, task, ort_class, encoder_inputs
) -> None:
    src = zoo_dir(name, task)
    out, status = run_export(str(src), tmp_path / "out", task=task)
    assert status.ok, status.stages
    meta = json.loads((out / "export_metadata.json").read_text())
    assert meta["ort_model_class"] == ort_class
    assert meta["onnx_files"] == [ENCODER_FILE, SEQ2SEQ_DECODER_MERGED_FILE]
    assert _inputs(out / ENCODER_FILE) == encoder_inputs
    decoder_inputs = set(_inputs(out / SEQ2SEQ_DECODER_MERGED_FILE))
    assert {"input_ids", "encoder_hidden_states", "use_cache_branch"} <= decoder_inputs

    # Whisper's prompt tokens and suppressions live in its generation config: Optimum's generate
    # applies them from the copy.
    ours = json.loads((out / "generation_config.json").read_text())
    theirs = json.loads((src / "generation_config.json").read_text())
    assert ours == {**theirs, "transformers_version": ours["transformers_version"]}

    spec = task_for(task, transformers.AutoConfig.from_pretrained(src))
    ort = ort_generation(out, src, spec, 1e-4, 1e-4)
    assert ort.ok, ort.error
    assert set(ort.max_abs_diff) == {"logits (batch 2)", "logits (batch 1)"}

    check = compare_generate(src, out, task)
    assert check.error == "" and check.ort_class == ort_class
    assert check.onnx == check.reference and len(check.reference[0]) > 1

    validated = check_optimum(out, source=src)
    assert validated.ok, validated.reason


def test_whisper_without_past_exports_an_encoder_and_a_decoder_and_generates_without_cache(
    zoo_dir, tmp_path
) -> None:
    task = "automatic-speech-recognition"
    src = zoo_dir("whisper", task)
    out, status = run_export(str(src), tmp_path / "out", task=task)
    assert status.ok, status.stages
    meta = json.loads((out / "export_metadata.json").read_text())
    assert meta["onnx_files"] == [ENCODER_FILE, SEQ2SEQ_DECODER_FILE]
    assert meta["ort_model_class"] == "ORTModelForSpeechSeq2Seq"
    assert not any(i.startswith("past_key_values") for i in _inputs(out / SEQ2SEQ_DECODER_FILE))
    check = compare_generate(src, out, task, use_cache=False)
    assert check.error == "" and check.onnx == check.reference


@pytest.mark.parametrize(("name", "layout"), [("gpt2", "decoder"), ("bart", "seq2seq")])
def test_a_base_model_with_its_cache_matches_pytorch_step_by_step(zoo_dir, tmp_path, name, layout) -> None:
    """feature-extraction-with-past: the base model's last hidden state at the prompt and at every
    forced token after it, on ONNX Runtime's own cache, equals PyTorch's without a cache."""
    from modelexport.matrix.generative_checks import run_generative_checks

    task = "feature-extraction-with-past"
    src = zoo_dir(name, task)
    out, status = run_export(str(src), tmp_path / "out", task=task)
    assert status.ok, status.stages
    meta = json.loads((out / "export_metadata.json").read_text())
    assert meta["ort_model_class"] == "ORTModelForCustomTasks"
    files, ort, load, parity = run_generative_checks(out, src, task, "modelexport", 1e-4, 1e-4, True)
    assert files.ok and ort.ok, ort.error
    assert set(ort.max_abs_diff) == {"last_hidden_state (batch 2)", "last_hidden_state (batch 1)"}
    if layout == "decoder":  # ORTModelForCustomTasks runs the prompt's step
        assert load.ok and parity.ok, parity.error
        assert parity.max_abs_diff["last_hidden_state"] <= 1e-4
    else:  # Optimum has no class for an encoder-decoder's base model with its cache
        assert load.ok is None and "no ORTModel class" in (load.error or "")
