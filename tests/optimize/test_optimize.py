"""``modelexport optimize``: ONNX Runtime's fusions on an export, every node tagged, verified against
PyTorch, loadable by Optimum; bad input gets one line and leaves nothing behind."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from modelexport.cli import main
from modelexport.graph import node_keys, walk
from modelexport.hierarchy import TAG_KEYS, HierarchyReport
from modelexport.optimize import optimize_export

TASK = "text-classification"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def one_error_line(stderr: str, *needles: str) -> None:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def load(directory: Path | str) -> onnx.ModelProto:
    return onnx.load(str(Path(directory) / "model.onnx"))


def tags(node: onnx.NodeProto) -> dict[str, str]:
    return {p.key: p.value for p in node.metadata_props}


def test_o2_fuses_attention_and_gelu_without_slow_skip_layer_norm(bert_export, bert_o2):
    before, after = load(bert_export), load(bert_o2.output_dir)
    ops = Counter(n.op_type for n in after.graph.node)
    assert ops["Attention"] == 2 and ops["BiasGelu"] == 2  # the zoo BERT has two layers
    assert "SkipLayerNormalization" not in ops and "EmbedLayerNormalization" not in ops
    assert len(after.graph.node) < len(before.graph.node)
    assert len(after.graph.value_info) == 0  # else ONNX Runtime fuses SkipLayerNorm at load
    assert [i.name for i in after.graph.input] == [i.name for i in before.graph.input]
    assert [o.name for o in after.graph.output] == [o.name for o in before.graph.output]


def test_every_node_is_tagged_and_fused_nodes_take_the_lowest_common_module(bert_export, bert_o2):
    after = load(bert_o2.output_dir)
    assert all(set(TAG_KEYS) <= set(tags(n)) for n in after.graph.node)
    by_op: dict[str, list[dict[str, str]]] = {}
    for node in after.graph.node:
        by_op.setdefault(node.op_type, []).append(tags(node))
    assert sorted(t["modelexport.module"] for t in by_op["Attention"]) == [
        f"bert.encoder.layer.{i}.attention.self" for i in range(2)
    ]
    assert sorted(t["modelexport.module"] for t in by_op["BiasGelu"]) == [
        f"bert.encoder.layer.{i}.intermediate" for i in range(2)
    ]
    assert {t["modelexport.source"] for t in by_op["Attention"] + by_op["BiasGelu"]} == {"fused"}
    attention = by_op["Attention"][0]
    assert "SelfAttention" in attention["modelexport.class"]
    assert attention["modelexport.tag"].rsplit("/", 1)[-1].startswith(attention["modelexport.class"])
    assert attention["namespace"].endswith("self: " + attention["modelexport.class"])
    # A node the optimizer kept (ONNX Runtime dropped its tags) gets the original node's module back.
    original = {n.name: tags(n) for n in load(bert_export).graph.node}
    kept = [n for n in after.graph.node if n.name in original and n.op_type == "MatMul"]
    assert kept
    for node in kept:
        mine, theirs = tags(node), original[node.name]
        assert (mine["modelexport.module"], mine["modelexport.source"]) == (
            theirs["modelexport.module"],
            "restored",
        )
    assert bert_o2.tags["model.onnx"]["unresolved"] == 0


def test_hierarchy_json_describes_the_optimized_graph(bert_o2):
    out = Path(bert_o2.output_dir)
    report = HierarchyReport.from_json(json.loads((out / "hierarchy.json").read_text()))
    model = load(out)
    refs = walk(model.graph)
    assert [n.key for n in report.nodes] == node_keys(refs)
    assert [n.module for n in report.nodes] == [tags(r.node)["modelexport.module"] for r in refs]
    assert report.summary()["nodes_fused"] == bert_o2.tags["model.onnx"]["fused"] == 4
    code, stdout, _ = run("hierarchy", str(out))
    assert code == 0 and "attention" in stdout


def test_metadata_records_the_level_the_tolerance_and_the_verification(bert_export, bert_o2):
    out = Path(bert_o2.output_dir)
    meta = json.loads((out / "export_metadata.json").read_text())
    original = json.loads((bert_export / "export_metadata.json").read_text())
    record = meta["optimization"]
    assert record["level"] == "O2" and (record["atol"], record["rtol"]) == (1e-4, 1e-4)
    assert record["rewritten_from"] == str(bert_export)
    assert record["files"]["model.onnx"]["fused_operators"]["Attention"] == 2
    verification = meta["verification"]
    assert verification["ok"] and verification["max_abs_diff"] < 1e-4
    assert {c["check"] for c in verification["checks"]} == {
        c["check"] for c in original["verification"]["checks"]
    }
    for key in ("source_model", "task", "exporter", "onnx_files", "io"):
        assert meta[key] == original[key]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in bert_export.iterdir())


def test_optimum_loads_it_and_matches_pytorch(bert_source, bert_o2):
    from optimum.onnxruntime import ORTModelForSequenceClassification

    from helpers import pytorch_outputs, sample_inputs

    out = Path(bert_o2.output_dir)
    inputs = sample_inputs(out, TASK, text_batch=2)
    model = ORTModelForSequenceClassification.from_pretrained(out)
    got = model(**inputs).logits.numpy()
    want = pytorch_outputs(bert_source, TASK, inputs)["logits"]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_a_dynamo_export_is_optimized_and_tagged_too(bert_dynamo_export, tmp_path):
    status = optimize_export(bert_dynamo_export, tmp_path / "o2")
    model = load(status.output_dir)
    assert "BiasGelu" in {n.op_type for n in model.graph.node}
    assert all(set(TAG_KEYS) <= set(tags(n)) for n in model.graph.node)
    assert status.verification["ok"]


@pytest.mark.parametrize(
    ("level", "present", "absent", "atol"),
    [("O1", "Erf", "Attention", 1e-4), ("O3", "FastGelu", "BiasGelu", 1e-2)],
)
def test_each_level_verifies_at_its_own_tolerance(bert_export, tmp_path, level, present, absent, atol):
    status = optimize_export(bert_export, tmp_path / level, level=level)
    assert status.record["atol"] == atol and status.verification["atol"] == atol
    assert status.verification["ok"]
    ops = {n.op_type for n in load(status.output_dir).graph.node}
    assert present in ops and absent not in ops


def test_a_clean_export_stays_clean_and_its_hierarchy_json_maps_every_node(bert_source, bert_o2, tmp_path):
    from modelexport import export_with_config

    exported = export_with_config(str(bert_source), tmp_path / "clean", task=TASK, clean_onnx=True)
    status = optimize_export(exported, tmp_path / "o2")
    model = load(status.output_dir)
    assert not any(n.metadata_props for n in model.graph.node)
    report = json.loads((Path(status.output_dir) / "hierarchy.json").read_text())
    assert list(report["nodes"]) == node_keys(walk(model.graph))
    modules = [v["module"] for v in report["nodes"].values()]
    assert "bert.encoder.layer.1.attention.self" in modules
    # Tags restored from hierarchy.json alone are the ones restored from the tagged graph.
    tagged = json.loads((Path(bert_o2.output_dir) / "hierarchy.json").read_text())
    assert report["nodes"] == tagged["nodes"]
    assert status.tags == bert_o2.tags


def test_not_an_export_is_refused_with_one_line(tmp_path):
    (tmp_path / "plain").mkdir()
    code, _, err = run("optimize", str(tmp_path / "plain"), str(tmp_path / "out"))
    assert code == 2
    one_error_line(err, "not a modelexport export", "Fix:")
    assert not (tmp_path / "out").exists()


def test_an_existing_output_needs_force(bert_export, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = run("optimize", str(bert_export), str(out), "--level", "O1")
    assert code == 2
    one_error_line(err, "--force")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    code, _, _ = run("optimize", str(bert_export), str(out), "--level", "O1", "--force")
    assert code == 0 and (out / "model.onnx").is_file() and not (out / "keep.txt").exists()


def test_an_output_inside_the_export_is_refused(bert_export):
    before = sorted(p.name for p in bert_export.iterdir())
    code, _, err = run("optimize", str(bert_export), str(bert_export / "o2"))
    assert code == 2
    one_error_line(err, "inside")
    assert sorted(p.name for p in bert_export.iterdir()) == before


def test_a_failed_verification_writes_nothing(bert_export, tmp_path):
    code, _, err = run(
        "optimize", str(bert_export), str(tmp_path / "out"), "--level", "O3", "--atol", "0", "--rtol", "0"
    )
    assert code == 1
    one_error_line(err, "verify failed", "atol=0")
    assert list(tmp_path.iterdir()) == []


def test_a_moved_source_model_is_named_with_the_fix(bert_export, bert_source, tmp_path):
    moved = tmp_path / "export"
    shutil.copytree(bert_export, moved)
    meta = json.loads((moved / "export_metadata.json").read_text())
    meta["source_model"] = str(tmp_path / "gone")
    (moved / "export_metadata.json").write_text(json.dumps(meta))
    code, _, err = run("optimize", str(moved), str(tmp_path / "out"))
    assert code == 2
    one_error_line(err, "--model")
    assert not (tmp_path / "out").exists()
    code, _, _ = run(
        "optimize", str(moved), str(tmp_path / "out"), "--model", str(bert_source), "--level", "O1"
    )
    assert code == 0


def test_a_quantized_export_is_not_optimized(bert_int8, tmp_path):
    code, _, err = run("optimize", bert_int8.output_dir, str(tmp_path / "out"))
    assert code == 2
    one_error_line(err, "already quantized")
