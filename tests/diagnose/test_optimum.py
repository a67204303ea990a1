"""Optimum's own exports (no tags): modules come from the TorchScript scopes in node names, the
report says so, a fault is found in its module, and the matrix's failing Optimum cell for OPT
feature-extraction is explained."""

from __future__ import annotations

import shutil

import pytest
from diff_faults import scale_initializer

from modelexport.diagnose import diff_export, first_divergence

pytest.importorskip("optimum.exporters.onnx", reason="pip install modelexport[optimum]")
pytestmark = pytest.mark.slow


def test_an_untouched_optimum_export_reports_none_through_its_node_names(optimum_exported):
    export, source = optimum_exported("bert", "text-classification")
    report = diff_export(export, model=str(source))
    assert report.exporter == "unknown (no export_metadata.json)"
    (part,) = report.parts
    assert part.tags == "node-names" and part.first_divergent_module is None
    assert all(e.ok for e in part.outputs.values())
    compared = {m.path for m in part.modules if m.output is not None}
    assert {"bert.encoder.layer.1.attention.self.value", "bert.pooler", "classifier"} <= compared
    assert first_divergence(export, source, "text-classification") is None


@pytest.mark.parametrize(
    "module", ["bert.encoder.layer.1.attention.self.value", "bert.encoder.layer.0.intermediate.dense"]
)
def test_a_fault_in_an_optimum_export_is_found_by_its_node_names(optimum_exported, tmp_path, module):
    shared, source = optimum_exported("bert", "text-classification")
    export = tmp_path / "export"
    shutil.copytree(shared, export)
    scale_initializer(export / "model.onnx", module, by_name=True)
    record = first_divergence(export, source, "text-classification")
    assert record is not None
    assert (record["module"], record["class"], record["found_by"], record["tags"]) == (
        module,
        "Linear",
        "local",
        "node-names",
    )
    assert (
        record["local_max_abs"] > 1e-4 and record["output_max_abs"] > 1e-4 and record["input_max_abs"] <= 1e-4
    )


def test_optimum_opt_feature_extraction_diverges_through_the_position_ids_it_takes(optimum_exported):
    """Optimum's OPT feature-extraction file takes ``position_ids``; the matrix feeds 0..n-1, as
    for a model without them, while OPTDecoder derives them from the attention mask: the 4.0
    failure in the published matrix is that input, on the padded row's padding positions."""
    export, source = optimum_exported("opt", "feature-extraction")
    record = first_divergence(export, source, "feature-extraction")
    assert record is not None
    assert {k: record[k] for k in ("module", "class", "found_by", "derived_input", "tags", "file")} == {
        "module": "decoder",
        "class": "OPTDecoder",
        "found_by": "local",
        "derived_input": "position_ids",
        "tags": "node-names",
        "file": "model.onnx",
    }
    assert record["output_max_abs"] == pytest.approx(4.03, abs=0.01)
    report = diff_export(export, model=str(source), task="feature-extraction")
    (part,) = report.parts
    # every module's own nodes are exact on PyTorch's values: the graph itself is right
    assert all(m.local.ok for m in part.modules if m.local is not None and m.path != "decoder" and m.path)
