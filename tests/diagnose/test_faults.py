"""Fault injection: a fault put into one module of an exported file is found there, and nowhere
else; the untouched export reports no divergence. Several zoo models, both backends, every kind of
file (one file, a decoder with its cache, an encoder and a merged decoder)."""

from __future__ import annotations

import pytest
from diff_faults import approximate_gelu, change_epsilon, scale_initializer

from modelexport.diagnose import diff_export

BACKENDS = ["torchscript", "dynamo"]
pytestmark = pytest.mark.slow

# (model, task, file, module whose weight is scaled, module whose LayerNorm epsilon changes)
CASES = [
    (
        "bert",
        "text-classification",
        "model.onnx",
        "bert.encoder.layer.1.attention.self.value",
        "bert.encoder.layer.0.output.LayerNorm",
    ),
    (
        "vit",
        "image-classification",
        "model.onnx",
        "vit.encoder.layer.1.intermediate.dense",
        "vit.encoder.layer.0.layernorm_after",
    ),
    (
        "gpt2",
        "text-generation-with-past",
        "model.onnx",
        "transformer.h.1.attn.c_attn",
        "transformer.h.0.ln_2",
    ),
    (
        "bart",
        "text2text-generation-with-past",
        "encoder_model.onnx",
        "model.encoder.layers.0.self_attn.q_proj",
        "model.encoder.layers.1.final_layer_norm",
    ),
    (
        "bart",
        "text2text-generation-with-past",
        "decoder_model_merged.onnx",
        "model.decoder.layers.1.fc1",
        "model.decoder.layers.0.encoder_attn_layer_norm",
    ),
]
IDS = [f"{c[0]}-{c[2].removesuffix('.onnx')}" for c in CASES]


def _diverging(report) -> list[tuple[str, str | None, str | None]]:
    """(file, branch, first divergent module) of every graph that diverges."""
    return [(p.file, p.branch, p.first_divergent_module) for p in report.parts if p.diverges]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("model", "task"), sorted({(c[0], c[1]) for c in CASES}))
def test_an_untouched_export_reports_no_divergent_module(exported, model, task, backend):
    report = diff_export(exported(model, task, backend))
    assert report.first_divergent_module is None
    assert _diverging(report) == []
    for part in report.parts:
        assert part.outputs and all(e.ok for e in part.outputs.values())
        assert all(m.local is None or m.local.ok for m in part.modules), part.file
        assert sum(m.output is not None for m in part.modules) >= len(part.modules) // 2


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("model", "task", "file", "module", "_"), CASES, ids=IDS)
def test_a_scaled_weight_is_found_in_its_module(exported, copy_of, model, task, file, module, _, backend):
    export = copy_of(exported(model, task, backend))
    scale_initializer(export / file, module)
    report = diff_export(export)
    assert report.first_divergent_module == module
    diverging = _diverging(report)
    assert {f for f, _, _ in diverging} == {file}
    assert {m for _, _, m in diverging} == {module}
    part = report.first
    assert part is not None and part.found_by == "local"
    found = part.module(module)
    assert found is not None and not found.local.ok and not found.output.ok and found.input.ok
    # Every other module that makes an error of its own contains the faulty one.
    makers = {m.path for m in part.modules if m.local is not None and not m.local.ok}
    assert all(module == p or module.startswith(p + ".") or p == "" for p in makers), makers


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("model", "task", "file", "_", "module"), CASES, ids=IDS)
def test_a_changed_op_attribute_is_found_in_its_module(
    exported, copy_of, model, task, file, _, module, backend
):
    export = copy_of(exported(model, task, backend))
    change_epsilon(export / file, module)
    report = diff_export(export)
    assert report.first_divergent_module == module
    assert {(f, m) for f, _, m in _diverging(report)} == {(file, module)}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("model", "task", "module"),
    [
        ("bert", "text-classification", "bert.encoder.layer.1.intermediate.intermediate_act_fn"),
        ("vit", "image-classification", "vit.encoder.layer.0.intermediate.intermediate_act_fn"),
    ],
)
def test_an_approximated_gelu_is_found_in_its_module(exported, copy_of, model, task, module, backend):
    export = copy_of(exported(model, task, backend))
    approximate_gelu(export / "model.onnx", module)
    report = diff_export(export)
    assert report.first_divergent_module == module
    assert report.first.found_by == "local"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_fault_in_one_branch_of_a_merged_decoder_is_found_in_that_branch(exported, copy_of, backend):
    export = copy_of(exported("bart", "text2text-generation-with-past", backend))
    module = "model.decoder.layers.1.self_attn_layer_norm"
    change_epsilon(export / "decoder_model_merged.onnx", module, branch="then_branch")
    report = diff_export(export)
    assert _diverging(report) == [("decoder_model_merged.onnx", "then_branch", module)]
    first_step = next(p for p in report.parts if p.branch == "else_branch")
    assert first_step.first_divergent_module is None and first_step.check == "first"
    assert report.first.check == "cached"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_clean_onnx_export_is_diffed_through_its_hierarchy_json(zoo_dir, tmp_path, backend):
    """``--clean-onnx`` leaves no tags in the file: the modules come from ``hierarchy.json``."""
    from modelexport import run_export

    export = tmp_path / "export"
    run_export(str(zoo_dir("bert", "text-classification")), export, exporter=backend, clean_onnx=True)
    report = diff_export(export)
    assert [(p.tags, p.first_divergent_module) for p in report.parts] == [("hierarchy.json", None)]
    module = "bert.encoder.layer.0.attention.self.key"
    scale_initializer(export / "model.onnx", module, sidecar=export / "hierarchy.json")
    report = diff_export(export)
    assert report.first_divergent_module == module and report.first.found_by == "local"
