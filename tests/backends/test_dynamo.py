"""The dynamo backend builds torchlib's registry once per process and hands each export a copy; the
files must be exactly those of exports that each built their own, and the same in every process."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys

import onnx
import pytest

from modelexport.backends import dynamo
from modelexport.export import run_export


@pytest.mark.slow
def test_exports_with_the_shared_registry_are_byte_identical(zoo_dir, tmp_path, monkeypatch):
    source = zoo_dir("bert", "text-classification")
    with monkeypatch.context() as patch:
        patch.setattr(dynamo, "reuse_torchlib_registry", contextlib.nullcontext)
        run_export(str(source), tmp_path / "own", task="text-classification", exporter="dynamo")
    run_export(str(source), tmp_path / "shared-1", task="text-classification", exporter="dynamo")
    run_export(str(source), tmp_path / "shared-2", task="text-classification", exporter="dynamo")
    files = [(tmp_path / d / "model.onnx").read_bytes() for d in ("own", "shared-1", "shared-2")]
    assert files[0] == files[1] == files[2]


def test_each_export_gets_its_own_copy_of_the_registry():
    from torch.onnx._internal.exporter import _registration

    with dynamo.reuse_torchlib_registry():
        first = _registration.ONNXRegistry.from_torchlib(opset_version=18)
        target = next(iter(first.functions))
        first.functions[target].clear()  # what a custom translation table could do to a copy
        second = _registration.ONNXRegistry.from_torchlib(opset_version=18)
    assert second is not first and second.functions[target]
    assert second.opset_version == 18 and len(second.functions) == len(first.functions)
    # Outside the context the exporter builds its own registry again.
    assert "from_torchlib" in vars(_registration.ONNXRegistry)
    assert vars(_registration.ONNXRegistry)["from_torchlib"].__func__.__name__ == "from_torchlib"
    assert vars(_registration.ONNXRegistry)["from_torchlib"].__func__.__module__ == _registration.__name__


_EXPORT = """
import sys
from modelexport.backends.dynamo import warm_dynamo_exporter
from modelexport.export import run_export
if sys.argv[3] == "warm":
    warm_dynamo_exporter()
run_export(sys.argv[1], sys.argv[2], task=sys.argv[4], exporter="dynamo")
"""


def _export_in_new_process(source, out, state: str, task: str) -> bytes:
    subprocess.run(
        [sys.executable, "-c", _EXPORT, str(source), str(out), state, task], check=True, capture_output=True
    )
    return (out / "model.onnx").read_bytes()


@pytest.mark.slow
def test_exports_after_the_fork_servers_warm_up_are_byte_identical(zoo_dir, tmp_path):
    """The matrix's fork server exports a small model before forking; a cell's file must be the one
    a cold process writes."""
    source = zoo_dir("bert", "text-classification")
    cold, warm = (
        _export_in_new_process(source, tmp_path / s, s, "text-classification") for s in ("cold", "warm")
    )
    assert cold == warm


@pytest.mark.slow
def test_a_graph_calling_python_functions_exports_to_the_same_bytes_in_every_process(zoo_dir, tmp_path):
    """DeBERTa's attention calls ``torch.sym_min``; the exporter records that function's repr, whose
    memory address differs per process. Two processes must still write the same file."""
    source = zoo_dir("deberta", "feature-extraction")
    first, second = (
        _export_in_new_process(source, tmp_path / n, "cold", "feature-extraction") for n in ("one", "two")
    )
    assert first == second
    model = onnx.load_from_string(first)
    values = [p.value for n in model.graph.node for p in n.metadata_props]
    assert any("<function sym_min>" in v for v in values)  # what the entry names is kept
    assert not any(re.search(r" at 0x[0-9a-fA-F]+>", v) for v in values)


def test_without_addresses_drops_only_the_address():
    node = onnx.helper.make_node("Min", ["a", "b"], ["c"])
    node.metadata_props.add(
        key="pkg.torch.onnx.class_hierarchy", value="['M', '<function sym_min at 0x7f1f0afb6f20>']"
    )
    node.metadata_props.add(key="modelexport.module", value="encoder.layer.0")
    inner = onnx.helper.make_node("Identity", ["x"], ["y"])
    inner.metadata_props.add(key="k", value="<bound method A.f of <A object at 0xABCDEF01>>")
    branch = onnx.helper.make_graph([inner], "branch", [], [])
    node_if = onnx.helper.make_node("If", ["cond"], ["z"], then_branch=branch, else_branch=branch)
    model = onnx.helper.make_model(onnx.helper.make_graph([node, node_if], "g", [], []))
    assert dynamo.without_addresses(model) == 3  # the main graph's node and one in each branch
    assert [p.value for p in model.graph.node[0].metadata_props] == [
        "['M', '<function sym_min>']",
        "encoder.layer.0",
    ]
    for branch_attribute in model.graph.node[1].attribute:
        assert branch_attribute.g.node[0].metadata_props[0].value == "<bound method A.f of <A object>>"


def test_the_warm_up_export_runs_and_leaves_the_registry_cached():
    dynamo._REGISTRIES.clear()
    dynamo.warm_dynamo_exporter()
    assert dynamo.DynamoBackend.default_opset in dynamo._REGISTRIES


def test_the_axes_torch_export_says_the_model_fixes_are_read_off_its_error():
    """Both ways torch.export reports a dimension the model's code specialises, through the chain
    of causes torch.onnx wraps it in; an axis that cannot be fixed, or any other error, is none."""
    from modelexport.backends.fixed_axes import fixed_axes_behind
    from modelexport.common import IOSpec, TensorSpec

    text = {0: "batch_size", 1: "sequence_length"}
    io = IOSpec((TensorSpec("input_ids", text), TensorSpec("attention_mask", text)), ())
    hint = ValueError(
        "Found the following conflicts between user-specified ranges and inferred ranges from model tracing:\n"
        "- Received user-specified dim hint Dim.DYNAMIC(min=None, max=None), but tracing inferred a static "
        "shape of 16 for dimension inputs['input_ids'].shape[1].\n"
        "- Received user-specified dim hint Dim.DYNAMIC(min=None, max=None), but tracing inferred a static "
        "shape of 16 for dimension inputs['attention_mask'].shape[1]."
    )
    wrapped = RuntimeError("Failed to export the model with torch.export.")
    wrapped.__cause__ = hint
    found = fixed_axes_behind(wrapped, io)
    assert found is not None and found.sizes == {"sequence_length": 16}
    assert "static shape of 16 for dimension inputs['input_ids'].shape[1]" in found.reason

    violated = RuntimeError(
        'Constraints violated (sequence_length)! For more information, run with TORCH_LOGS="+dynamic".\n'
        "  - You marked sequence_length as dynamic but your code specialized it to be a constant (16).\n"
        "Suggested fixes:\n  sequence_length = 16\n"
    )
    assert fixed_axes_behind(violated, io).sizes == {"sequence_length": 16}

    images = IOSpec((TensorSpec("pixel_values", {0: "batch_size", 2: "height"}),), ())
    on_height = ValueError(
        "but tracing inferred a static shape of 64 for dimension inputs['pixel_values'].shape[2]."
    )
    assert fixed_axes_behind(on_height, images) is None  # height is not an axis the inputs fix
    assert fixed_axes_behind(ValueError("tracing inferred a range [2, 512]"), io) is None
    assert fixed_axes_behind(RuntimeError("Could not guard on data-dependent expression u0 > 0"), io) is None
