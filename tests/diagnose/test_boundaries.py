"""Module boundaries from node tags, on a graph small enough to know every answer."""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from modelexport.diagnose.boundaries import GRAPH_INPUT, ancestors, find_boundaries


def _graph() -> tuple[onnx.GraphProto, list[str]]:
    """x -> [a.lin: MatMul, Add] -> [a: Relu] -> [b: Neg] -> y; a Constant in b; a shape value
    computed at the root and read by b."""
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["mm"]),  # a.lin
        helper.make_node("Add", ["mm", "bias"], ["lin"]),  # a.lin
        helper.make_node("Relu", ["lin"], ["a_out"]),  # a
        helper.make_node("Shape", ["x"], ["shape"]),  # root
        helper.make_node(
            "Constant", [], ["c"], value=helper.make_tensor("c", TensorProto.FLOAT, [], [2.0])
        ),  # b
        helper.make_node("Mul", ["a_out", "c"], ["scaled"]),  # b
        helper.make_node("Reshape", ["scaled", "shape"], ["y"]),  # b
    ]
    modules = ["a.lin", "a.lin", "a", "", "b", "b", "b"]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [
            helper.make_tensor("w", TensorProto.FLOAT, [3, 3], [0.0] * 9),
            helper.make_tensor("bias", TensorProto.FLOAT, [3], [0.0] * 3),
        ],
    )
    return graph, modules


def test_boundaries_are_the_values_crossing_each_module_edge():
    graph, modules = _graph()
    b = find_boundaries(graph, modules, {"", "a", "a.lin", "b"})
    assert b.modules["a.lin"].inputs == ["x"] and b.modules["a.lin"].outputs == ["lin"]
    assert b.modules["a"].inputs == ["x"] and b.modules["a"].outputs == ["a_out"]
    # constants and initializers are not boundary values; a value the root made is b's input
    assert b.modules["b"].inputs == ["a_out", "shape"] and b.modules["b"].outputs == ["y"]
    assert b.modules[""].inputs == ["x"] and b.modules[""].outputs == ["y"]
    assert [b.modules[p].nodes for p in ("", "a", "a.lin", "b")] == [7, 3, 2, 3]
    assert b.made_by("lin") == "a.lin" and b.made_by("x") is None and b.producer["x"] == GRAPH_INPUT
    assert "c" not in b.values() and "mm" not in b.values()


def test_ancestors_skip_paths_that_are_not_modules():
    assert ancestors("encoder.layer.0.attention", {"encoder", "encoder.layer.0"}) == [
        "encoder.layer.0.attention",
        "encoder.layer.0",
        "encoder",
        "",
    ]
    assert ancestors("", set()) == [""]
