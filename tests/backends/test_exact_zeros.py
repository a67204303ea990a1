"""The dynamo exporter's graph optimizer keeps an addition of a small constant (an RMSNorm's 1e-8
epsilon): onnxscript's rewriter otherwise removes it as ``x + 0``, and a zero vector then normalises
to NaN where PyTorch gives zeros."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from helpers import standalone, wrap
from modelexport import export_with_config
from modelexport.backends import capture_graph
from modelexport.backends.dynamo import DynamoBackend
from modelexport.backends.exact_zeros import exact_zero_patterns
from modelexport.common import IOSpec, TensorSpec


class TinyEpsilonNorm(torch.nn.Module):
    """Helium's RMSNorm: ``x / sqrt(mean(x²) + 1e-8)``, plus an addition of a true 0 the optimizer
    may still remove."""

    def forward(self, hidden: torch.Tensor, return_dict: bool = True) -> dict:
        normed = hidden * torch.rsqrt(hidden.pow(2).mean(-1, keepdim=True) + 1e-8)
        return {"normed": normed + 0.0}


IO = IOSpec(
    inputs=(TensorSpec("hidden", {0: "batch_size", 1: "sequence_length"}),),
    outputs=(TensorSpec("normed", {0: "batch_size", 1: "sequence_length"}),),
)


def _ops(proto) -> list[str]:
    return [n.op_type for n in proto.graph.node]


def test_an_epsilon_of_1e_8_is_kept_and_a_zero_vector_normalises_to_zeros(tmp_path):
    feed = torch.randn(2, 5, 8)
    proto = standalone(
        capture_graph(DynamoBackend(), wrap(TinyEpsilonNorm(), IO), {"hidden": feed}, IO, 18, tmp_path)
    )
    assert _ops(proto).count("Add") == 1  # the epsilon's; the + 0.0 is still removed
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    hidden = torch.randn(3, 7, 8)
    hidden[0, :2] = 0.0  # two zero vectors, as a padding token's embedding
    (got,) = session.run(None, {"hidden": hidden.numpy()})
    expected = TinyEpsilonNorm()(hidden)["normed"].numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_the_rewriter_is_restored_after_the_export():
    from onnxscript.rewriter import _matcher

    with exact_zero_patterns():
        assert _matcher.math.isclose(1e-9, 0.0, abs_tol=1e-8) is False
        assert _matcher.math.isclose(1.0 + 1e-7, 1.0, rel_tol=1e-5) is True  # other constants as before
    assert _matcher.math.isclose(1e-9, 0.0, abs_tol=1e-8) is True


@pytest.mark.slow
@pytest.mark.parametrize("task", ["feature-extraction", "feature-extraction-with-past"])
def test_helium_exports_with_dynamo(zoo_dir, tmp_path, task):
    """Helium's rms_norm_eps is 1e-8, and its padding token's embedding is zeros: the export verified
    NaN there before (and, with past, differed at the padded prompt positions, which are undefined
    and no longer compared)."""
    out = export_with_config(
        str(zoo_dir("helium", "text-generation")), tmp_path / "out", task=task, exporter="dynamo"
    )
    assert (out / "model.onnx").is_file()
