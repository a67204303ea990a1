"""``modelexport quantize``: dynamic int8 by ONNX Runtime, modules left out by path, every node
tagged, outputs compared with PyTorch (max |Δ| and cosine), per-module sensitivity, loadable by
Optimum."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from click.testing import CliRunner

from modelexport.cli import main
from modelexport.hierarchy import TAG_KEYS
from modelexport.hierarchy.modules import within
from modelexport.optimize import quantize_export
from modelexport.optimize.agreement import cosine

TASK = "text-classification"
LINEARS = [
    f"bert.encoder.layer.{i}.{m}"
    for i in range(2)
    for m in (
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
        "intermediate.dense",
        "output.dense",
    )
]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def tagged_nodes(directory: str | Path) -> list[tuple[onnx.NodeProto, dict[str, str]]]:
    model = onnx.load(str(Path(directory) / "model.onnx"))
    return [(n, {p.key: p.value for p in n.metadata_props}) for n in model.graph.node]


def test_linears_become_integer_matmuls_and_every_node_keeps_a_module(bert_export, bert_int8):
    nodes = tagged_nodes(bert_int8.output_dir)
    assert all(set(TAG_KEYS) <= set(t) for _, t in nodes)
    integer = sorted(t["modelexport.module"] for n, t in nodes if n.op_type == "MatMulInteger")
    assert integer == sorted([*LINEARS, "bert.pooler.dense", "classifier"])
    # The node that now computes each linear's output (its scale or bias, after MatMulInteger) is
    # fused on the linear's module; the integer MatMul before it inherits that module.
    weights = {i.name for i in onnx.load(str(bert_export / "model.onnx")).graph.initializer}
    linear_outputs = {
        n.output[0]: t["modelexport.module"]
        for n, t in tagged_nodes(bert_export)
        if n.op_type in ("MatMul", "Gemm") and n.input[1] in weights
    }
    fused = {n.output[0]: t for n, t in nodes if n.output[0] in linear_outputs}
    assert len(fused) == len(linear_outputs) == 14
    for value, t in fused.items():
        assert (t["modelexport.module"], t["modelexport.source"]) == (linear_outputs[value], "fused")
    assert {t["modelexport.source"] for n, t in nodes if n.op_type == "MatMulInteger"} == {"inherited"}
    # The activation's quantization belongs with the linears that read it: query, key and value
    # share one, which goes to their lowest common module.
    shared = [t["modelexport.module"] for n, t in nodes if n.op_type == "DynamicQuantizeLinear"]
    assert "bert.encoder.layer.0.attention.self" in shared
    assert bert_int8.tags["model.onnx"]["unresolved"] == 0


def test_outputs_are_compared_with_pytorch_by_cosine_and_max_error(bert_int8):
    meta = json.loads((Path(bert_int8.output_dir) / "export_metadata.json").read_text())
    verification = meta["verification"]
    assert verification["ok"] and verification["min_cosine"] >= verification["min_cosine_required"] == 0.99
    assert 0 < verification["max_abs_diff"] < 1
    assert {(o["check"], o["output"]) for o in verification["outputs"]} == {
        ("batch", "logits"),
        ("single", "logits"),
    }
    record = meta["quantization"]
    assert record["per_channel"] and record["files"]["model.onnx"]["integer_ops"]["MatMulInteger"] == 14


def test_optimum_loads_it_and_stays_close_to_pytorch(bert_source, bert_int8):
    from optimum.onnxruntime import ORTModelForSequenceClassification

    from helpers import pytorch_outputs, sample_inputs

    out = Path(bert_int8.output_dir)
    inputs = sample_inputs(out, TASK, text_batch=2)
    got = ORTModelForSequenceClassification.from_pretrained(out)(**inputs).logits.numpy()
    want = pytorch_outputs(bert_source, TASK, inputs)["logits"]
    assert got.shape == want.shape and cosine(want, got) > 0.99


def test_an_excluded_module_stays_fp32(bert_export, tmp_path):
    status = quantize_export(
        bert_export, tmp_path / "int8", exclude_modules=["bert.encoder.layer.1", "*.pooler.*"]
    )
    nodes = tagged_nodes(status.output_dir)
    integer = {t["modelexport.module"] for n, t in nodes if n.op_type == "MatMulInteger"}
    assert integer and not any(
        within(m, "bert.encoder.layer.1") or m.startswith("bert.pooler") for m in integer
    )
    fp32 = Counter(t["modelexport.module"] for n, t in nodes if n.op_type == "MatMul")
    assert all(fp32[m] == 1 for m in LINEARS if m.startswith("bert.encoder.layer.1"))
    record = status.record["files"]["model.onnx"]
    assert record["exclude_modules"] == {
        "bert.encoder.layer.1": 1,
        "*.pooler.*": 2,
    }  # pooler.dense, .activation


def test_the_cli_names_what_each_glob_matched(bert_export, tmp_path):
    """``?`` stays within a path segment: the feed-forward output projections, not the attention's."""
    glob = "bert.encoder.layer.?.output.dense"
    code, out, _ = run("quantize", str(bert_export), str(tmp_path / "out"), "--exclude-module", glob)
    assert code == 0 and f"'{glob}' 2 module(s)" in out
    integer = {
        t["modelexport.module"] for n, t in tagged_nodes(tmp_path / "out") if n.op_type == "MatMulInteger"
    }
    assert {f"bert.encoder.layer.{i}.attention.output.dense" for i in range(2)} <= integer
    assert not {f"bert.encoder.layer.{i}.output.dense" for i in range(2)} & integer


def test_a_glob_matching_no_module_is_refused_with_one_line(bert_export, tmp_path):
    code, _, err = run("quantize", str(bert_export), str(tmp_path / "out"), "--exclude-module", "decoder.*")
    assert code == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "matches no module" in lines[0] and "modelexport hierarchy" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_below_the_cosine_floor_nothing_is_written(bert_export, tmp_path):
    code, _, err = run("quantize", str(bert_export), str(tmp_path / "out"), "--min-cosine", "0.9999999")
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "cosine similarity" in lines[0] and "--exclude-module" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_sensitivity_ranks_every_quantized_module(bert_int8):
    rows = bert_int8.extra["sensitivity"]["model.onnx"]
    by_module = {r.module: r for r in rows}
    assert set(LINEARS) <= set(by_module)
    assert [r.local_cosine for r in rows] == sorted(r.local_cosine for r in rows)
    assert all(0.9 < r.local_cosine <= 1.0 and r.local_max_abs >= 0 for r in rows)
    # Nothing is quantized before the word embeddings: their local error is their whole error.
    first = by_module["bert.embeddings.word_embeddings"]
    assert np.isclose(first.local_max_abs, first.output_max_abs) and np.isclose(
        first.local_cosine, first.output_cosine
    )
    # Deeper modules inherit error from the ones before them.
    last = by_module["bert.encoder.layer.1.output.dense"]
    assert last.output_max_abs > last.local_max_abs


def test_the_cli_prints_the_sensitivity_table(bert_export, tmp_path):
    code, out, _ = run("quantize", str(bert_export), str(tmp_path / "out"), "--sensitivity")
    assert code == 0
    assert "per-module error" in out and "local cos" in out
    assert "bert.encoder.layer.0.attention.self.query" in out
    assert "lowest cosine similarity" in out


def test_an_optimized_export_can_be_quantized(bert_o2, tmp_path):
    status = quantize_export(bert_o2.output_dir, tmp_path / "o2-int8")
    nodes = tagged_nodes(status.output_dir)
    assert all(set(TAG_KEYS) <= set(t) for _, t in nodes)
    attention = [t["modelexport.module"] for n, t in nodes if n.op_type == "QAttention"]
    assert sorted(attention) == [f"bert.encoder.layer.{i}.attention.self" for i in range(2)]
    meta = json.loads((Path(status.output_dir) / "export_metadata.json").read_text())
    assert meta["optimization"]["level"] == "O2" and meta["quantization"]["per_channel"]


def test_a_quantized_export_is_not_quantized_again(bert_int8, tmp_path):
    code, _, err = run("quantize", bert_int8.output_dir, str(tmp_path / "out"))
    assert code == 2 and "already quantized" in err
    assert list(tmp_path.iterdir()) == []


def test_the_quantized_graph_keeps_add_and_layer_norm_apart_in_onnxruntime(bert_int8, tmp_path):
    """Without the quantizer's inferred shapes ONNX Runtime does not fuse its slow
    SkipLayerNormalization when a session loads the file."""
    import onnxruntime as ort

    path = Path(bert_int8.output_dir) / "model.onnx"
    assert len(onnx.load(str(path)).graph.value_info) == 0
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "runtime.onnx")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    ops = Counter(n.op_type for n in onnx.load(str(tmp_path / "runtime.onnx")).graph.node)
    assert "SkipLayerNormalization" not in ops and ops["LayerNormalization"] == 5  # embeddings + 2 x 2


def test_weights_are_7_bit_exactly_on_x86_cpus_whose_int8_products_saturate(tmp_path, monkeypatch):
    import platform

    from modelexport.optimize.quantize import QuantizeOptions, int8_saturates

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    cpus = {
        "avx2 only (AMD EPYC, older Xeons)": ("fpu sse2 avx avx2 fma", True),
        "avx512 without vnni (Skylake-SP)": ("avx2 avx512f avx512bw", True),
        "avx512 vnni (Cascade Lake and later)": ("avx2 avx512f avx512_vnni", False),
        "avx vnni (Alder Lake)": ("avx2 avx_vnni", False),
    }
    for name, (flags, saturates) in cpus.items():
        info = tmp_path / name
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        assert int8_saturates(info) is saturates, name
    assert int8_saturates(tmp_path / "missing") is False
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert int8_saturates(tmp_path / next(iter(cpus))) is False
    # What the user asks for wins over the CPU.
    assert QuantizeOptions.for_this_cpu(True, False, ()).reduce_range is False
    assert QuantizeOptions.for_this_cpu(True, True, ()).reduce_range is True


def test_the_quantize_record_says_which_weight_range_ran_on_this_cpu(bert_int8):
    from modelexport.optimize.quantize import int8_saturates

    assert bert_int8.record["reduce_range"] is int8_saturates()
