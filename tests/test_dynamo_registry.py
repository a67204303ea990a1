"""The dynamo backend builds torchlib's registry once per process and hands each export a copy; the
files must be exactly those of exports that each built their own."""

from __future__ import annotations

import contextlib
import subprocess
import sys

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
run_export(sys.argv[1], sys.argv[2], task="text-classification", exporter="dynamo")
"""


@pytest.mark.slow
def test_exports_after_the_fork_servers_warm_up_are_byte_identical(zoo_dir, tmp_path):
    """The matrix's fork server exports a small model before forking; a cell's file must be the one
    a cold process writes."""
    source = zoo_dir("bert", "text-classification")
    for state in ("cold", "warm"):
        subprocess.run(
            [sys.executable, "-c", _EXPORT, str(source), str(tmp_path / state), state],
            check=True,
            capture_output=True,
        )
    assert (tmp_path / "cold" / "model.onnx").read_bytes() == (tmp_path / "warm" / "model.onnx").read_bytes()


def test_the_warm_up_export_runs_and_leaves_the_registry_cached():
    dynamo._REGISTRIES.clear()
    dynamo.warm_dynamo_exporter()
    assert dynamo.DynamoBackend.default_opset in dynamo._REGISTRIES
