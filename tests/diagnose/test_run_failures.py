"""A file ONNX Runtime cannot run at all (a shape baked at export time) has no values to compare:
``diff`` names the module of the node where ONNX Runtime stops, or the input it refuses, and the
matrix's divergence record says the same; our tags and, for Optimum's files, scoped node names."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from diff_faults import break_reshape, fix_input_dim
from onnx import TensorProto, helper

from modelexport.cli import main
from modelexport.diagnose import RunFailureError, diff_export
from modelexport.diagnose.stops import locate
from modelexport.matrix.cell_records import divergence_record
from modelexport.render.records import divergence_summary

MODULE = "bert.encoder.layer.1.attention.self"


@pytest.mark.parametrize("backend", ["torchscript", "dynamo"])
def test_the_module_where_onnx_runtime_stops_is_named(exported, copy_of, zoo_dir, backend):
    out = copy_of(exported("bert", "text-classification", backend))
    node = break_reshape(out / "model.onnx", MODULE)
    with pytest.raises(RunFailureError) as raised:
        diff_export(out)
    failure = raised.value.failure
    assert (failure.module, failure.node, failure.op, failure.file) == (MODULE, node, "Reshape", "model.onnx")
    assert "Reshape" in failure.message

    record = divergence_record(out, zoo_dir("bert", "text-classification"), "text-classification", 1e-4, 1e-4)
    assert (record["module"], record["node"], record["found_by"]) == (MODULE, node, "run")
    assert divergence_summary(record).startswith(f"{MODULE} in model.onnx, where ONNX Runtime stops (Reshape")

    result = CliRunner().invoke(main, ["diff", str(out)])
    assert result.exit_code == 1
    assert f"it stops at Reshape node '{node}' of module '{MODULE}'" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_input_the_file_refuses_is_named_and_no_module_is_blamed(exported, copy_of, zoo_dir):
    out = copy_of(exported("bert", "text-classification", "torchscript"))
    fix_input_dim(out / "model.onnx", "input_ids")
    with pytest.raises(RunFailureError) as raised:
        diff_export(out)
    assert (raised.value.failure.module, raised.value.failure.input) == (None, "input_ids")
    record = divergence_record(out, zoo_dir("bert", "text-classification"), "text-classification", 1e-4, 1e-4)
    assert record["module"] is None and record["input"] == "input_ids"
    assert divergence_summary(record).startswith(
        "none: ONNX Runtime refuses input input_ids before any module"
    )


def test_optimums_file_is_located_through_its_scoped_node_names(optimum_exported, copy_of):
    exported, source = optimum_exported("bert", "text-classification")
    out = copy_of(exported)
    node = break_reshape(out / "model.onnx", "bert.encoder.layer.1.attention.self", by_name=True)
    with pytest.raises(RunFailureError) as raised:
        diff_export(out, model=str(source), task="text-classification")
    assert (raised.value.failure.module, raised.value.failure.node) == (MODULE, node)


def test_a_dtype_onnx_runtime_does_not_name_is_found_by_comparing_the_feeds():
    inputs = [
        helper.make_tensor_value_info("states", TensorProto.FLOAT, [None, 3]),
        helper.make_tensor_value_info("timesteps", TensorProto.FLOAT, [None, 3]),
    ]
    graph = helper.make_graph([], "g", inputs, [])
    feeds = {"states": np.zeros((2, 3), np.float32), "timesteps": np.zeros((2, 3), np.int64)}
    error = RuntimeError("INVALID_ARGUMENT : Unexpected input data type. Actual: (tensor(int64))")
    failure = locate(graph, [], feeds, error, "model.onnx")
    assert (failure.input, failure.module, failure.node) == ("timesteps", None, None)
    assert failure.message == f"RuntimeError: {error}"
