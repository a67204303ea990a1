"""restore_tags: after ONNX Runtime's optimizations, its transformer fusions, dynamic quantization
and Optimum's decoder merging, every node of the rewritten graph is tagged from the original, and
the tags say what happened (kept, restored, fused, inherited). The tools run for real."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from modelexport.errors import TagError
from modelexport.graph import walk
from modelexport.hierarchy import FUSED, RESTORED, TAG_KEYS, restore_tags
from modelexport.hierarchy.survival import FILE_TOOLS, run_tool
from modelexport.hierarchy.table import ModuleTable

BACKENDS = ("torchscript", "dynamo")
pytestmark = pytest.mark.slow


def _tags(node: onnx.NodeProto) -> dict[str, str]:
    return {p.key: p.value for p in node.metadata_props}


def _tagged(model: onnx.ModelProto) -> float:
    refs = walk(model.graph)
    return sum(1 for r in refs if set(TAG_KEYS) <= _tags(r.node).keys()) / len(refs)


def _run(tool: str, source: Path, target: Path) -> onnx.ModelProto:
    """The tool as a user runs it (modelexport.hierarchy.survival.run_tool; BERT's fusions)."""
    run_tool(tool, source, target, "bert")
    return onnx.load(str(target))


TOOLS = FILE_TOOLS


@pytest.fixture(scope="module")
def rewritten(zoo_export, tmp_path_factory):
    """(backend, tool) -> (original, rewritten as the tool wrote it, restored copy, stats)."""
    cache: dict[tuple[str, str], tuple[onnx.ModelProto, ...]] = {}

    def get(backend: str, tool: str):
        if (backend, tool) not in cache:
            source = zoo_export("bert", "text-classification", backend).path / "model.onnx"
            target = tmp_path_factory.mktemp(f"{tool}-{backend}") / "model.onnx"
            as_written = _run(tool, source, target)
            restored = onnx.ModelProto()
            restored.CopyFrom(as_written)
            original = onnx.load(str(source))
            stats = restore_tags(original, restored)
            cache[(backend, tool)] = (original, as_written, restored, stats, target)
        return cache[(backend, tool)]

    return get


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("tool", list(TOOLS))
def test_every_node_is_tagged_with_a_module_of_the_original_after_restoring(rewritten, backend, tool):
    original, as_written, restored, stats, _ = rewritten(backend, tool)
    assert _tagged(restored) == 1.0
    assert stats.survival_after == 1.0 and stats.survival_before == pytest.approx(_tagged(as_written))
    table = ModuleTable.from_model(original)
    for ref in walk(restored.graph):
        tags = _tags(ref.node)
        module = table.info(tags["modelexport.module"])
        assert module.path == tags["modelexport.module"], tags  # a module the original names
        assert (tags["modelexport.class"], tags["modelexport.tag"], tags["namespace"]) == (
            module.class_name,
            module.tag,
            module.namespace,
        )
    counts = Counter(_tags(r.node)["modelexport.source"] for r in walk(restored.graph))
    assert counts[RESTORED] == stats.restored and counts[FUSED] == stats.fused
    assert stats.kept + stats.restored + stats.fused + stats.inherited + stats.unresolved == stats.nodes
    assert stats.unresolved == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("tool", list(TOOLS))
def test_restored_model_is_valid_and_computes_exactly_what_the_tool_wrote(rewritten, backend, tool, tmp_path):
    _, _, restored, _, written_path = rewritten(backend, tool)
    onnx.checker.check_model(restored)
    restored_path = tmp_path / "restored.onnx"
    onnx.save(restored, str(restored_path))
    feeds = {
        "input_ids": np.arange(24, dtype=np.int64).reshape(2, 12) % 50 + 5,
        "attention_mask": np.ones((2, 12), dtype=np.int64),
        "token_type_ids": np.zeros((2, 12), dtype=np.int64),
    }
    outs = [
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feeds)
        for p in (written_path, restored_path)
    ]
    assert np.array_equal(outs[0][0], outs[1][0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_ort_optimizations_drop_every_tag_and_unchanged_nodes_get_their_own_back(rewritten, backend):
    original, as_written, restored, _, _ = rewritten(backend, "ort-basic")
    if backend == "torchscript":
        assert _tagged(as_written) == 0.0  # measured: ORT writes no node metadata of ours
    by_name = {n.name: _tags(n) for n in original.graph.node}
    same = [n for n in restored.graph.node if n.name in by_name]
    assert len(same) > 0.9 * len(restored.graph.node)
    for node in same:
        tags, before = _tags(node), by_name[node.name]
        if tags["modelexport.source"] == RESTORED:
            assert tags["modelexport.module"] == before["modelexport.module"]


def test_a_fused_attention_takes_the_lowest_common_module_of_the_nodes_it_replaced(rewritten):
    _, _, restored, stats, _ = rewritten("torchscript", "transformers-optimizer")
    fused = {n.name: _tags(n) for n in restored.graph.node if _tags(n)["modelexport.source"] == FUSED}
    by_op = {}
    for node in restored.graph.node:
        by_op.setdefault(node.op_type, []).append(_tags(node)["modelexport.module"])
    layer = "bert.encoder.layer"
    assert by_op["Attention"] == [f"{layer}.0.attention.self", f"{layer}.1.attention.self"]
    # Skip + LayerNorm replaces the residual Add, the bias Add and the LayerNorm of one output block.
    assert by_op["SkipLayerNormalization"] == [
        f"{layer}.0.attention.output",
        f"{layer}.0.output",
        f"{layer}.1.attention.output",
        f"{layer}.1.output",
    ]
    assert by_op["EmbedLayerNormalization"] == ["bert.embeddings"]
    assert len(fused) == stats.fused >= 9


def test_quantized_weight_ops_stay_in_their_module(rewritten):
    _, _, restored, _, _ = rewritten("torchscript", "quantize-dynamic")
    matmuls = [n for n in restored.graph.node if n.op_type == "MatMulInteger"]
    assert len(matmuls) >= 12
    for node in matmuls:  # /model/bert/encoder/layer.0/attention/self/query/MatMul_quant
        expected = node.name.removeprefix("/model/").rsplit("/", 1)[0].replace("/", ".")
        assert _tags(node)["modelexport.module"] == expected


def test_optimums_decoder_merging_keeps_the_branches_and_tags_the_if(zoo_export, tmp_path):
    from optimum.onnx import merge_decoders

    export = zoo_export("t5", "text2text-generation-with-past", "torchscript", merge_decoders=False)
    first = onnx.load(str(export.path / "decoder_model.onnx"))
    merged = merge_decoders(
        export.path / "decoder_model.onnx",
        export.path / "decoder_with_past_model.onnx",
        save_path=tmp_path / "decoder_model_merged.onnx",
        strict=False,
    )
    before = _tagged(merged)
    stats = restore_tags(first, merged)
    assert before > 0.99 and _tagged(merged) == 1.0
    branch = next(n for n in merged.graph.node if n.op_type == "If")
    assert _tags(branch)["modelexport.module"] == "" and _tags(branch)["modelexport.source"] == FUSED
    assert stats.kept == stats.nodes - stats.fused - stats.inherited - stats.restored


def test_restoring_twice_changes_nothing(rewritten):
    original, _, restored, _, _ = rewritten("dynamo", "transformers-optimizer")
    again = onnx.ModelProto()
    again.CopyFrom(restored)
    stats = restore_tags(original, again)
    assert again == restored and stats.kept == stats.nodes


def test_an_untagged_original_is_refused_with_one_line(rewritten):
    original, as_written, _, _, _ = rewritten("torchscript", "ort-basic")
    with pytest.raises(TagError) as error:
        restore_tags(as_written, original)
    assert "no modelexport tags" in error.value.one_line() and "\n" not in error.value.one_line()
