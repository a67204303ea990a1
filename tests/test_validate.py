"""``modelexport validate`` and ``AutoModelForONNX`` on every layout the exporter writes, and on
directories Optimum's own exporter wrote: the right ORTModel class, a real sample (a greedy generation
for generative tasks), compared with PyTorch where the source is at hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import transformers
from click.testing import CliRunner

from modelexport import AutoModelForONNX, CompatibilityError, check_optimum, run_export
from modelexport.cli import main

# (zoo model, task, export keywords, ORTModel class)
LAYOUTS = [
    ("bert", "text-classification", {}, "ORTModelForSequenceClassification"),
    ("bert", "multiple-choice", {}, "ORTModelForMultipleChoice"),
    ("vit", "image-classification", {}, "ORTModelForImageClassification"),
    ("wav2vec2", "automatic-speech-recognition", {}, "ORTModelForCTC"),
    ("gpt2", "text-generation-with-past", {}, "ORTModelForCausalLM"),
    ("gpt2", "text-generation", {}, "ORTModelForCausalLM"),
    ("t5", "text2text-generation-with-past", {}, "ORTModelForSeq2SeqLM"),
    ("t5", "text2text-generation-with-past", {"merge_decoders": False}, "ORTModelForSeq2SeqLM"),
    ("bart", "text2text-generation", {}, "ORTModelForSeq2SeqLM"),
]


@pytest.mark.parametrize(("model", "task", "kwargs", "ort_class"), LAYOUTS)
def test_validate_and_auto_model_work_on_every_layout(zoo_dir, tmp_path, model, task, kwargs, ort_class):
    src = zoo_dir(model, task)
    out, _ = run_export(str(src), tmp_path / "out", task=task, exporter="torchscript", **kwargs)
    loaded = AutoModelForONNX.from_pretrained(out)
    assert type(loaded).__name__ == ort_class
    code, stdout, stderr = _validate(out)
    assert code == 0, stderr
    assert f"ok: {ort_class}" in stdout
    compared = "the tokens equal PyTorch's" if "generation" in task else "outputs match PyTorch's"
    assert compared in stdout  # the export's source_model is local: compared with PyTorch


def _validate(directory: Path, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["validate", str(directory), *extra])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("model", "task", "ort_class"),
    [
        ("bert", "text-classification", "ORTModelForSequenceClassification"),
        ("gpt2", "text-generation-with-past", "ORTModelForCausalLM"),
        ("t5", "text2text-generation-with-past", "ORTModelForSeq2SeqLM"),
    ],
)
def test_validate_reads_directories_optimum_wrote(zoo_dir, tmp_path, model, task, ort_class):
    from optimum.exporters.onnx import main_export

    src = zoo_dir(model, task)
    out = tmp_path / "optimum"
    main_export(str(src), out, task=task, do_validation=False, library_name="transformers")
    assert not (out / "export_metadata.json").exists()
    assert type(AutoModelForONNX.from_pretrained(out)).__name__ == ort_class
    code, stdout, stderr = _validate(out, "--model", str(src))
    assert code == 0, stderr
    assert f"ok: {ort_class}" in stdout and "PyTorch's" in stdout


def test_validate_reports_a_directory_that_does_not_match_its_source(zoo_dir, tmp_path):
    """Another model's weights as the source: validate says the outputs differ, exit 1."""
    out, _ = run_export(str(zoo_dir("bert", "text-classification")), tmp_path / "out", exporter="torchscript")
    other = tmp_path / "other"
    config = transformers.AutoConfig.from_pretrained(zoo_dir("bert", "text-classification"))
    torch.manual_seed(123)
    transformers.BertForSequenceClassification(config).save_pretrained(other)
    result = check_optimum(out, source=other)
    assert not result.ok and "differs from PyTorch" in result.reason
    code, _, stderr = _validate(out, "--model", str(other))
    assert code == 1 and "differs from PyTorch" in stderr


def test_auto_model_passes_keywords_through_and_works_in_a_pipeline(zoo_dir, tmp_path):
    import onnxruntime as ort

    src = zoo_dir("bert", "text-classification")
    out, _ = run_export(str(src), tmp_path / "out", exporter="torchscript")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    model = AutoModelForONNX.from_pretrained(out, provider="CPUExecutionProvider", session_options=options)
    assert model.providers == ["CPUExecutionProvider"]
    classify = transformers.pipeline(
        "text-classification", model=model, tokenizer=transformers.AutoTokenizer.from_pretrained(out)
    )
    results = classify(["a short text", "another one"])
    reference = transformers.pipeline("text-classification", model=str(src))(["a short text", "another one"])
    assert [r["label"] for r in results] == [r["label"] for r in reference]
    assert all(abs(a["score"] - b["score"]) < 1e-4 for a, b in zip(results, reference, strict=True))


def test_auto_model_loads_a_decoder_without_past_without_asking_for_a_cache(zoo_dir, tmp_path):
    out, _ = run_export(str(zoo_dir("gpt2", "text-generation")), tmp_path / "out", task="text-generation")
    model = AutoModelForONNX.from_pretrained(out)
    assert model.use_cache is False


def test_without_optimum_auto_model_says_what_to_install(zoo_dir, tmp_path):
    """In a process where optimum.onnxruntime cannot be imported (as with transformers 5.x)."""
    out, _ = run_export(str(zoo_dir("bert", "text-classification")), tmp_path / "out", exporter="torchscript")
    code = (
        "import sys; sys.modules['optimum.onnxruntime'] = None\n"
        "from modelexport import AutoModelForONNX, CompatibilityError\n"
        f"try:\n    AutoModelForONNX.from_pretrained({str(out)!r})\n"
        "except CompatibilityError as e:\n    print(e.one_line())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert (
        "optimum.onnxruntime does not import here" in result.stdout
        and "Fix: install optimum-onnx" in result.stdout
    )
    assert CompatibilityError.exit_code == 1
