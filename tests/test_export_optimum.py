"""Zoo exports load in Optimum's ORTModelFor<Task> and match PyTorch at a new shape."""

from __future__ import annotations

import json

import pytest

from helpers import max_abs_diffs, optimum_outputs, pytorch_outputs, sample_inputs
from modelexport import export_with_config

CASES = [
    ("bert", "text-classification", "torchscript"),
    ("bert", "text-classification", "dynamo"),
    ("bert", "feature-extraction", "torchscript"),
    ("bert", "question-answering", "torchscript"),
    ("bert", "token-classification", "torchscript"),
    ("bert", "fill-mask", "torchscript"),
    ("bert", "multiple-choice", "torchscript"),
    ("roberta", "text-classification", "torchscript"),
    ("bart", "text-classification", "torchscript"),  # its head pools at </s>: inputs must end in one
    ("roberta", "text-classification", "dynamo"),
    ("vit", "image-classification", "torchscript"),
    ("vit", "image-classification", "dynamo"),
    ("resnet", "image-classification", "torchscript"),
    ("resnet", "image-classification", "dynamo"),
    ("clip", "zero-shot-image-classification", "torchscript"),
    ("clip", "zero-shot-image-classification", "dynamo"),
]


@pytest.mark.parametrize(("name", "task", "exporter"), CASES, ids=["-".join(c) for c in CASES])
def test_optimum_loads_the_export_and_matches_pytorch_at_a_new_shape(zoo_dir, tmp_path, name, task, exporter):
    src = zoo_dir(name, task)
    out = export_with_config(str(src), tmp_path / "out", exporter=exporter)

    meta = json.loads((out / "export_metadata.json").read_text())
    assert meta["task"] == task, "the task must be inferred from config.architectures"
    assert meta["verification"]["ok"] is True

    inputs = sample_inputs(src, task, text_batch=3 if task == "zero-shot-image-classification" else 1)
    diffs = max_abs_diffs(pytorch_outputs(src, task, inputs), optimum_outputs(out, task, inputs))
    assert max(diffs.values()) <= 1e-4, diffs
