"""Write an ONNX model whose weights are still torch tensors, without copying them.

The TorchScript backend exports the graph without its weights (``export_params=False``: the
exporter otherwise copies every weight into its protobuf and serialises it) and keeps each
initializer as a placeholder (name, shape, type) with its bytes deferred to the tensor it came from.
:func:`serialize_chunks` then yields the model's serialisation as chunks: the small graph, serialised
as usual, and each weight's bytes as a zero-copy view of the tensor's memory, so the file is written
straight from the model's parameters.

The chunks concatenate to exactly ``materialize(proto, weights).SerializeToString()`` (fields in
canonical order), which the tests check.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import onnx
import torch

_LEN = 2  # wire type of length-delimited fields
_GRAPH_FIELD = 7  # ModelProto.graph
_INITIALIZER_FIELD = 5  # GraphProto.initializer
_RAW_DATA_FIELD = 9  # TensorProto.raw_data

Chunk = bytes | memoryview

# torch dtype -> TensorProto.DataType, for the dtypes whose raw bytes are ONNX's little-endian layout.
ONNX_DTYPES: dict[torch.dtype, int] = {
    torch.float32: onnx.TensorProto.FLOAT,
    torch.float16: onnx.TensorProto.FLOAT16,
    torch.bfloat16: onnx.TensorProto.BFLOAT16,
    torch.float64: onnx.TensorProto.DOUBLE,
    torch.int64: onnx.TensorProto.INT64,
    torch.int32: onnx.TensorProto.INT32,
    torch.int16: onnx.TensorProto.INT16,
    torch.int8: onnx.TensorProto.INT8,
    torch.uint8: onnx.TensorProto.UINT8,
    torch.bool: onnx.TensorProto.BOOL,
}


def can_defer(tensor: Any) -> bool:
    """Whether ``tensor``'s bytes can be written as ONNX raw_data straight from memory."""
    return isinstance(tensor, torch.Tensor) and tensor.dtype in ONNX_DTYPES and sys.byteorder == "little"


def tensor_bytes(tensor: torch.Tensor) -> memoryview:
    """A view of ``tensor``'s bytes in row-major order (a copy only if it is not contiguous)."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().data.cast("B")


def placeholder(name: str, tensor: torch.Tensor) -> onnx.TensorProto:
    """An initializer with ``tensor``'s name, shape and type and no data (see :func:`serialize_chunks`)."""
    proto = onnx.TensorProto(name=name, data_type=ONNX_DTYPES[tensor.dtype])
    proto.dims.extend(tensor.shape)
    return proto


def materialize(model: onnx.ModelProto, weights: Mapping[str, torch.Tensor]) -> None:
    """Copy the deferred weights into their placeholders: ``model`` becomes self-contained."""
    for init in model.graph.initializer:
        if init.name in weights and not init.raw_data:
            init.raw_data = bytes(tensor_bytes(weights[init.name]))


def serialize_chunks(
    model: onnx.ModelProto, weights: Mapping[str, torch.Tensor] | None = None
) -> Sequence[Chunk]:
    """Chunks whose concatenation is ``model``'s serialisation with ``weights`` in its placeholders."""
    if not weights:
        return [model.SerializeToString()]
    graph_head, graph_tail = _split_at_field(
        _copy_except(model.graph, "initializer").SerializeToString(), _INITIALIZER_FIELD
    )
    inits: list[Chunk] = []
    for init in model.graph.initializer:
        tensor = weights.get(init.name)
        if tensor is None or init.raw_data:
            payload: list[Chunk] = [init.SerializeToString()]
        else:
            head, tail = _split_at_field(init.SerializeToString(), _RAW_DATA_FIELD - 1)
            data = tensor_bytes(tensor)
            payload = [head, _key(_RAW_DATA_FIELD) + _varint(len(data)), data, tail]
        inits += [_key(_INITIALIZER_FIELD) + _varint(sum(len(c) for c in payload)), *payload]
    model_head, model_tail = _split_at_field(_copy_except(model, "graph").SerializeToString(), _GRAPH_FIELD)
    graph_size = len(graph_head) + sum(len(c) for c in inits) + len(graph_tail)
    return [model_head, _key(_GRAPH_FIELD) + _varint(graph_size), graph_head, *inits, graph_tail, model_tail]


def _key(field: int) -> bytes:
    return _varint(field << 3 | _LEN)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, int]]:
    """``(field number, offset of its key)`` for each top-level field of a serialised message."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _read_varint(buf, pos)
        wire_type = key & 7
        if wire_type == 0:
            _, pos = _read_varint(buf, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == _LEN:
            length, pos = _read_varint(buf, pos)
            pos += length
        elif wire_type == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        yield key >> 3, start


def _split_at_field(data: bytes, number: int) -> tuple[bytes, bytes]:
    """Split canonically serialised ``data`` before its first field numbered above ``number``."""
    for field, start in _fields(memoryview(data)):
        if field > number:
            return data[:start], data[start:]
    return data, b""


def _copy_except(message: Any, skip: str) -> Any:
    """A copy of ``message`` without field ``skip`` (the fields left are small)."""
    copy = type(message)()
    for descriptor, value in message.ListFields():
        if descriptor.name == skip:
            continue
        if isinstance(value, (str, bytes, int, float)):
            setattr(copy, descriptor.name, value)
        elif hasattr(value, "CopyFrom"):  # a singular message
            getattr(copy, descriptor.name).CopyFrom(value)
        else:  # a repeated field
            getattr(copy, descriptor.name).extend(value)
    return copy
