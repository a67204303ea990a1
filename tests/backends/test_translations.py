"""The dynamo backend's own ATen-to-ONNX translations (modelexport.backends.translations) compute
what PyTorch computes, at shapes other than the traced one."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import torch

from helpers import standalone, wrap
from modelexport.backends import capture_graph, dynamo
from modelexport.backends.dynamo import DynamoBackend
from modelexport.common import IOSpec, TensorSpec


class LastTokenPooler(torch.nn.Module):
    """What transformers < 4.53 does in decoder classifiers: ``(argmax(...) - 1) % input_ids.shape[-1]``,
    a remainder by a size the export keeps dynamic; and the same by a constant, which torchlib handles."""

    def forward(self, input_ids: torch.Tensor, scores: torch.Tensor) -> tuple[torch.Tensor, ...]:
        last = (torch.eq(input_ids, 0).int().argmax(-1) - 1) % input_ids.shape[-1]
        return last, scores % scores.shape[-1], scores % 3, input_ids % 5


IO = IOSpec(
    inputs=(
        TensorSpec("input_ids", {0: "batch_size", 1: "sequence_length"}),
        TensorSpec("scores", {0: "batch_size", 1: "sequence_length"}),
    ),
    outputs=(
        TensorSpec("last", {0: "batch_size"}),
        TensorSpec("by_size", {0: "batch_size", 1: "sequence_length"}),
        TensorSpec("by_float_constant", {0: "batch_size", 1: "sequence_length"}),
        TensorSpec("by_int_constant", {0: "batch_size", 1: "sequence_length"}),
    ),
)


def _inputs(batch: int, length: int, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 50, (batch, length), generator=generator)
    ids[0, length // 2 :] = 0  # one padded row; the others have no pad token, so argmax is 0 and -1 % n wraps
    scores = torch.randn(batch, length, generator=generator) * 20
    return {"input_ids": ids, "scores": scores}


def _export(module: torch.nn.Module, tmp_path) -> bytes:
    wrapped = wrap(_Named(module), IO)
    return standalone(
        capture_graph(DynamoBackend(), wrapped, _inputs(2, 16, 0), IO, 18, tmp_path)
    ).SerializeToString()


def test_remainder_by_a_dynamic_size_exports_and_matches_pytorch(tmp_path):
    pooler = LastTokenPooler()
    session = ort.InferenceSession(_export(pooler, tmp_path), providers=["CPUExecutionProvider"])
    feed = _inputs(3, 37, 1)
    got = session.run(None, {k: v.numpy() for k, v in feed.items()})
    with torch.no_grad():
        expected = pooler(**feed)
    for name, actual, reference in zip(IO.output_names, got, expected, strict=True):
        np.testing.assert_allclose(actual, reference.numpy(), rtol=1e-6, atol=1e-5, err_msg=name)


class _Named(torch.nn.Module):
    """The pooler behind the keyword call and ``outputs[name]`` access the export wrapper makes."""

    def __init__(self, pooler: LastTokenPooler) -> None:
        super().__init__()
        self.pooler = pooler

    def forward(self, input_ids: torch.Tensor, scores: torch.Tensor, return_dict: bool = True) -> dict:
        return dict(zip(IO.output_names, self.pooler(input_ids, scores), strict=True))


class ConstantDivisors(LastTokenPooler):
    def forward(self, input_ids: torch.Tensor, scores: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return input_ids[:, 0] % 7, scores % 2.5, scores % 3, input_ids % 5


def test_graphs_torchlib_translates_are_unchanged(tmp_path, monkeypatch):
    ours = _export(ConstantDivisors(), tmp_path)
    monkeypatch.setattr(dynamo, "translation_table", dict)
    assert _export(ConstantDivisors(), tmp_path) == ours
