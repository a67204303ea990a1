"""``--node-data``: per-node error in Model Explorer's node-data format, checked with Model
Explorer's own package (``ai-edge-model-explorer``: its ``node_data_builder`` dataclasses take our
JSON as it is and write it back unchanged) and its ONNX adapter (``model-explorer-onnx``: every
node id we write is a node of the graph it shows)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import onnx
import pytest
from click.testing import CliRunner
from diff_faults import change_epsilon, module_of, scale_initializer

from modelexport.cli import main

node_data_builder = pytest.importorskip(
    "model_explorer.node_data_builder", reason="pip install ai-edge-model-explorer"
)
adapter = pytest.importorskip("model_explorer_onnx.main", reason="pip install model-explorer-onnx")
pytestmark = pytest.mark.slow


def _through_model_explorer(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` read into Model Explorer's ModelNodeData and written back by it, without the fields
    it adds with their defaults (``gradient``, the stats tables' switches)."""
    nd = node_data_builder
    graphs = {
        graph: nd.GraphNodeData(
            results={k: nd.NodeDataResult(**v) for k, v in g["results"].items()},
            name=g["name"],
            thresholds=[nd.ThresholdItem(**t) for t in g["thresholds"]],
        )
        for graph, g in data.items()
    }
    written = json.loads(nd.ModelNodeData(graphsData=graphs).to_json_string())
    defaults = json.loads(nd.GraphNodeData(results={}).to_json_string())
    for g in written.values():
        assert all(g[k] == v for k, v in defaults.items() if k not in ("results", "name", "thresholds"))
    return {
        graph: {k: v for k, v in g.items() if k not in defaults or k in ("results", "name", "thresholds")}
        for graph, g in written.items()
    }


def _explorer_nodes(path: Path) -> dict[str, set[str]]:
    graphs = adapter.ONNXAdapter().convert(str(path), {})["graphs"]
    return {g.id: {n.id for n in g.nodes} for g in graphs}


def _diff(export: Path, target: Path) -> list[Path]:
    result = CliRunner().invoke(main, ["diff", str(export), "--node-data", str(target)])
    assert result.exit_code == 1, result.output
    return [
        Path(line.split(": ", 1)[1])
        for line in result.stderr.splitlines() + result.stdout.splitlines()
        if line.startswith("node data for Model Explorer:")
    ]


@pytest.mark.parametrize("backend", ["torchscript", "dynamo"])
def test_node_data_colours_the_faulty_module_and_leaves_earlier_layers_green(exported, tmp_path, backend):
    export = tmp_path / "export"
    shutil.copytree(exported("bert", "text-classification", backend), export)
    module = "bert.encoder.layer.1.attention.self.value"
    scale_initializer(export / "model.onnx", module)
    written = _diff(export, tmp_path / "errors.json")
    assert written == [tmp_path / "errors.json"]
    data = json.loads(written[0].read_text())
    assert _through_model_explorer(data) == data
    shown = _explorer_nodes(export / "model.onnx")
    assert set(data) <= set(shown)
    ((graph, node_data),) = data.items()
    assert set(node_data["results"]) <= shown[graph]
    atol = node_data["thresholds"][0]["value"]
    assert atol == 1e-4 and [t["value"] for t in node_data["thresholds"]] == sorted(
        t["value"] for t in node_data["thresholds"]
    )
    modules = {
        n.name: module_of(n) or ""
        for n in onnx.load(str(export / "model.onnx"), load_external_data=False).graph.node
    }
    value = {name: r["value"] for name, r in node_data["results"].items()}
    assert max(v for n, v in value.items() if modules.get(n) == module) > 10 * atol
    earlier = [
        v
        for n, v in value.items()
        if (modules.get(n) or "").startswith(("bert.embeddings", "bert.encoder.layer.0."))
    ]
    assert earlier and max(earlier) <= atol


def test_a_merged_decoder_node_data_covers_both_branches_as_model_explorer_embeds_them(exported, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(exported("bart", "text2text-generation-with-past", "torchscript"), export)
    module = "model.decoder.layers.1.self_attn_layer_norm"
    change_epsilon(export / "decoder_model_merged.onnx", module, branch="then_branch")
    written = _diff(export, tmp_path / "errors.json")
    assert sorted(p.name for p in written) == [
        "errors.decoder_model_merged.json",
        "errors.encoder_model.json",
    ]
    for path in written:
        data = json.loads(path.read_text())
        assert _through_model_explorer(data) == data
        shown = _explorer_nodes(export / (path.stem.split(".", 1)[1] + ".onnx"))
        ((graph, node_data),) = data.items()
        assert graph in shown and set(node_data["results"]) <= shown[graph]
    merged = json.loads((tmp_path / "errors.decoder_model_merged.json").read_text())
    results = next(iter(merged.values()))["results"]
    branches = {k.split("/")[1] for k in results}
    assert branches == {"then_branch", "else_branch"}
    atol = 1e-4
    worst = {b: max(r["value"] for k, r in results.items() if k.split("/")[1] == b) for b in branches}
    assert worst["then_branch"] > 10 * atol and worst["else_branch"] <= atol
