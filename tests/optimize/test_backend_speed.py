"""What made the dynamo export slower in ONNX Runtime than TorchScript's, and the three graph edits
the dynamo backend now makes (modelexport.graph): an erf GELU in the order ONNX Runtime fuses, the
key's transpose as one op, and no intermediate shapes, with which ONNX Runtime fuses a
SkipLayerNormalization whose CPU kernel is slow."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from modelexport.graph import drop_intermediate_shapes, gelu_in_fusable_order, transpose_last_two_in_one_op


def runtime_ops(model: onnx.ModelProto, tmp_path: Path) -> Counter[str]:
    """Op types of the graph ONNX Runtime runs after its extended optimizations (fusions included)."""
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "runtime.onnx")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return Counter(n.op_type for n in onnx.load(str(tmp_path / "runtime.onnx")).graph.node)


def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(
        None, feeds
    )


def dynamo_gelu() -> onnx.ModelProto:
    """``x * (0.5 * (erf(x / sqrt(2)) + 1))``, in the order the dynamo exporter writes it."""
    consts = [
        numpy_helper.from_array(np.array(np.sqrt(2.0), np.float32), "sqrt2"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array(0.5, np.float32), "half"),
    ]
    nodes = [
        helper.make_node("Div", ["x", "sqrt2"], ["d"]),
        helper.make_node("Erf", ["d"], ["e"]),
        helper.make_node("Add", ["e", "one"], ["a"]),
        helper.make_node("Mul", ["half", "a"], ["h"]),
        helper.make_node("Mul", ["x", "h"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "gelu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 64])],
        consts,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_the_gelu_rewrite_is_exact_and_lets_onnxruntime_fuse_it(tmp_path):
    before = dynamo_gelu()
    after = dynamo_gelu()
    assert gelu_in_fusable_order(after.graph) == 1
    assert "Gelu" not in runtime_ops(before, tmp_path) and runtime_ops(after, tmp_path)["Gelu"] == 1
    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32) * 4
    np.testing.assert_array_equal(run(before, {"x": x})[0], run(after, {"x": x})[0])  # bit for bit
    assert gelu_in_fusable_order(after.graph) == 0  # nothing left to rewrite


def residual_norm(with_shapes: bool) -> onnx.ModelProto:
    hidden = 16
    weights = [
        numpy_helper.from_array(np.ones(hidden, np.float32), "gamma"),
        numpy_helper.from_array(np.zeros(hidden, np.float32), "beta"),
    ]
    # A residual branch through a reshape to a computed shape, as attention's output is: its shape
    # is known from the exporter's value_info, and not otherwise.
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Relu", ["x"], ["relu"]),
        helper.make_node("Reshape", ["relu", "shape"], ["r"]),
        helper.make_node("Add", ["r", "x"], ["s"]),
        helper.make_node("LayerNormalization", ["s", "gamma", "beta"], ["y"], axis=-1),
    ]
    shape = ["batch", "sequence", hidden]
    graph = helper.make_graph(
        nodes,
        "norm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        weights,
        value_info=[helper.make_tensor_value_info(v, TensorProto.FLOAT, shape) for v in ("r", "s")]
        if with_shapes
        else None,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_without_intermediate_shapes_onnxruntime_keeps_add_and_layer_norm(tmp_path):
    shaped = residual_norm(with_shapes=True)
    assert runtime_ops(shaped, tmp_path)["SkipLayerNormalization"] == 1
    assert drop_intermediate_shapes(shaped) == 2 and len(shaped.graph.value_info) == 0
    ops = runtime_ops(shaped, tmp_path)
    assert "SkipLayerNormalization" not in ops and ops["LayerNormalization"] == 1 and ops["Add"] == 1


def test_the_dynamo_export_runs_as_the_torchscript_one_does(bert_export, bert_dynamo_export, tmp_path):
    dynamo = onnx.load(str(bert_dynamo_export / "model.onnx"))
    assert len(dynamo.graph.value_info) == 0
    ops = runtime_ops(dynamo, tmp_path)
    assert "SkipLayerNormalization" not in ops and "Erf" not in ops
    assert (
        ops["BiasGelu"] == runtime_ops(onnx.load(str(bert_export / "model.onnx")), tmp_path)["BiasGelu"] == 2
    )


def rank_free_key_transpose() -> onnx.ModelProto:
    """``k.transpose(-2, -1)`` as torchlib writes it for any rank: flatten the leading axes, swap,
    reshape back to ``[*d[:-2], d[-1], d[-2]]``; then the attention scores ``q @ k^T``."""

    def ints(name: str, values: list[int]) -> onnx.TensorProto:
        return numpy_helper.from_array(np.array(values, np.int64), name)

    consts = [ints("minus_one", [-1]), ints("minus_two", [-2]), ints("big", [2**63 - 1])]
    consts += [ints("int64_min", [-(2**63)]), ints("unused", [7])]
    nodes = [
        helper.make_node("Shape", ["k"], ["shape"], start=0),
        helper.make_node("Slice", ["shape", "minus_two", "minus_one"], ["d2"]),
        helper.make_node("Slice", ["shape", "minus_one", "big"], ["d1"]),
        helper.make_node("Slice", ["shape", "int64_min", "minus_two"], ["lead"]),
        helper.make_node("Concat", ["minus_one", "d2", "d1"], ["flat_shape"], axis=0),
        helper.make_node("Reshape", ["k", "flat_shape"], ["flat"]),
        helper.make_node("Transpose", ["flat"], ["swapped"], perm=[0, 2, 1]),
        helper.make_node("Concat", ["lead", "d1", "d2"], ["back_shape"], axis=0),
        helper.make_node("Reshape", ["swapped", "back_shape"], ["k_t"], name="key_t"),
        helper.make_node("MatMul", ["q", "k_t"], ["scores"]),
    ]
    shape = ["batch", 2, "sequence", 8]
    graph = helper.make_graph(
        nodes,
        "attention",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("q", "k")],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 2, "sequence", "sequence"])],
        consts,
        value_info=[helper.make_tensor_value_info("k", TensorProto.FLOAT, shape)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_the_rank_free_key_transpose_becomes_one_transpose_with_the_same_values(tmp_path):
    before, after = rank_free_key_transpose(), rank_free_key_transpose()
    assert transpose_last_two_in_one_op(after) == 1
    ops = [n.op_type for n in after.graph.node]
    assert ops == ["Transpose", "MatMul"]
    assert list(after.graph.node[0].attribute[0].ints) == [0, 1, 3, 2] and after.graph.node[0].name == "key_t"
    assert sorted(t.name for t in after.graph.initializer) == ["unused"]  # only what the rewrite freed
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal((3, 2, 5, 8)).astype(np.float32) for n in ("q", "k")}
    np.testing.assert_array_equal(run(before, feeds)[0], run(after, feeds)[0])
    assert transpose_last_two_in_one_op(after) == 0


def test_the_dynamo_export_has_no_rank_free_transpose_left(bert_dynamo_export):
    dynamo = onnx.load(str(bert_dynamo_export / "model.onnx"))
    perms = [list(a.ints) for n in dynamo.graph.node if n.op_type == "Transpose" for a in n.attribute]
    assert [0, 1, 3, 2] in perms and [0, 2, 1] not in perms
