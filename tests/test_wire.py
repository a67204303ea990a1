"""The TorchScript backend exports without weights and writes them straight from the tensors
(modelexport.wire). The file must be exactly what torch's own export with weights gives, for a real
checkpoint and for weights of every dtype the fast path takes."""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import transformers
from torch import nn

from helpers import wrap
from modelexport.backends import BACKENDS, capture_graph
from modelexport.common import IOSpec, TensorSpec
from modelexport.graph import literal_reshapes
from modelexport.packaging import save_onnx
from modelexport.wire import ONNX_DTYPES, can_defer, materialize, placeholder, serialize_chunks, tensor_bytes

TEXT_AXES = {0: "batch_size", 1: "sequence_length"}


def _torch_export_with_weights(module: nn.Module, inputs: dict[str, torch.Tensor], io_spec: IOSpec) -> bytes:
    """torch's own TorchScript export, weights included, with the one edit the backend makes to
    every graph (reshapes to computed shapes marked ``allowzero``): the reference for the fast path."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(inputs[n] for n in io_spec.input_names),
            buffer,
            dynamo=False,
            input_names=io_spec.input_names,
            output_names=io_spec.output_names,
            dynamic_axes=io_spec.dynamic_axes(),
            opset_version=17,
            do_constant_folding=True,
        )
    proto = onnx.load_model_from_string(buffer.getvalue())
    literal_reshapes(proto)
    return proto.SerializeToString()


def _fast_export(module: nn.Module, inputs: dict[str, torch.Tensor], io_spec: IOSpec, tmp_path) -> bytes:
    captured = capture_graph(BACKENDS["torchscript"], module, inputs, io_spec, 17, tmp_path)
    assert captured.weights, "the fast path was not taken"
    assert all(not t.raw_data for t in captured.proto.graph.initializer)  # placeholders only
    path = tmp_path / "model.onnx"
    save_onnx(captured.proto, path, captured.weights)
    return path.read_bytes()


def test_minilm_file_is_byte_identical_to_torchs_export_with_weights(minilm_dir, tmp_path):
    model = transformers.BertModel.from_pretrained(minilm_dir).eval()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    io_spec = IOSpec(
        tuple(TensorSpec(n, TEXT_AXES) for n in names), (TensorSpec("last_hidden_state", TEXT_AXES),)
    )
    inputs = {n: torch.ones(2, 16, dtype=torch.long) for n in names}
    inputs["token_type_ids"] = torch.zeros(2, 16, dtype=torch.long)
    wrapper = wrap(model, io_spec)

    ours = _fast_export(wrapper, inputs, io_spec, tmp_path)
    reference = _torch_export_with_weights(wrapper, inputs, io_spec)

    assert len(ours) > 80_000_000  # the real 22.7M-parameter checkpoint, weights included
    assert ours == reference
    onnx.checker.check_model(onnx.load_model_from_string(ours))


class MixedDtypes(nn.Module):
    """Weights and buffers of several dtypes, one non-contiguous, one 0-dim, all used."""

    def __init__(self) -> None:
        super().__init__()
        self.w16 = nn.Parameter(torch.randn(8, 8).half())
        self.bf16 = nn.Parameter(torch.randn(8).bfloat16())
        self.w64 = nn.Parameter(torch.randn(8, dtype=torch.float64))
        self.register_buffer("mask", torch.rand(8) > 0.5)
        self.register_buffer("index", torch.arange(8, dtype=torch.int64).flip(0))
        self.register_buffer("bytes_", torch.randint(0, 255, (8,), dtype=torch.uint8))
        self.register_buffer("transposed", torch.randn(8, 4).t())  # non-contiguous (4, 8)
        self.register_buffer("scale", torch.tensor(0.5))  # 0-dim

    def forward(self, x: torch.Tensor, return_dict: bool = True) -> dict[str, torch.Tensor]:
        y = (x.half() @ self.w16).float() + self.bf16.float() + self.w64.float()
        y = torch.where(self.mask, y, -y)[:, self.index] + self.bytes_.float()
        return {"logits": (y @ self.transposed.t().float()) * self.scale}


def test_weights_of_every_deferred_dtype_round_trip_exactly(tmp_path):
    torch.manual_seed(0)
    module = MixedDtypes().eval()
    axes = {0: "batch_size"}
    io_spec = IOSpec((TensorSpec("x", axes),), (TensorSpec("logits", axes),))
    inputs = {"x": torch.randn(2, 8)}
    wrapper = wrap(module, io_spec)

    ours = _fast_export(wrapper, inputs, io_spec, tmp_path)
    assert ours == _torch_export_with_weights(wrapper, inputs, io_spec)

    session = ort.InferenceSession(ours, providers=["CPUExecutionProvider"])
    x = torch.randn(5, 8)
    (got,) = session.run(None, {"x": x.numpy()})
    with torch.no_grad():
        expected = module(x)["logits"].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)  # float16 matmul inside


@pytest.mark.parametrize("dtype", sorted(ONNX_DTYPES, key=str))
def test_chunks_concatenate_to_the_materialized_serialisation(dtype):
    tensors = {
        "a": (torch.rand(3, 5) * 100).to(dtype),
        "b": (torch.rand(5, 3) * 100).to(dtype).t(),  # non-contiguous
        "c": torch.tensor(7).to(dtype),  # 0-dim
    }
    model = onnx.helper.make_model(
        onnx.helper.make_graph(
            [onnx.helper.make_node("Identity", ["a"], ["y"], name="n")],
            "g",
            [],
            [onnx.helper.make_tensor_value_info("y", ONNX_DTYPES[dtype], [3, 5])],
            initializer=[placeholder(name, t) for name, t in tensors.items()],
            doc_string="a graph doc string sorts after the initializers",
        ),
        producer_name="test",
    )
    chunks = serialize_chunks(model, tensors)
    materialize(model, tensors)
    assert b"".join(chunks) == model.SerializeToString()
    for init in model.graph.initializer:
        assert init.raw_data == bytes(tensor_bytes(tensors[init.name]))


def test_types_raw_bytes_cannot_carry_are_not_deferred():
    assert can_defer(torch.zeros(2))
    assert not can_defer(torch.zeros(2, dtype=torch.complex64))
    assert not can_defer(np.zeros(2, dtype=np.float32))
