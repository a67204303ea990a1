"""ONNX Runtime sessions over edited copies of one graph, its weights loaded once.

A diff runs the same file twice with other outputs and inputs (every module boundary exposed; then
PyTorch's values fed at those boundaries). Re-serializing the weights for each edit would cost more
than running the model: the weights are taken out of the graph once, as arrays, and handed to each
session as external initializers, so an edit copies only the (small) graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import UserInputError, first_line
from ..graph import subgraphs

_INLINE_LIMIT = 1024  # bytes: smaller initializers stay in the graph
_IN_MEMORY = "in-memory"  # the location the stripped initializers name; never read from disk


@dataclass
class Weights:
    """A graph without its large initializers, and those initializers as arrays."""

    model: onnx.ModelProto
    arrays: dict[str, np.ndarray]


def _nbytes(init: onnx.TensorProto) -> int:
    """The size of an initializer's data from its shape and type (reading its bytes would copy them)."""
    if init.data_type in (onnx.TensorProto.STRING, onnx.TensorProto.UNDEFINED):
        return init.ByteSize()
    itemsize = onnx.helper.tensor_dtype_to_np_dtype(init.data_type).itemsize
    return int(np.prod(init.dims, dtype=np.int64)) * itemsize


def load_weights(path: Path) -> Weights:
    """``path``'s graph (external data read from beside it) with its large initializers taken out."""
    try:
        model = onnx.load(str(path), load_external_data=True)
    except Exception as e:
        raise UserInputError(
            f"'{path}' is not a readable ONNX model ({type(e).__name__}: {first_line(e)}).",
            hint="pass the directory the export wrote, with its files complete.",
        ) from e
    arrays: dict[str, np.ndarray] = {}
    for init in model.graph.initializer:
        if _nbytes(init) <= _INLINE_LIMIT:
            continue
        array = numpy_helper.to_array(init)
        arrays[init.name] = np.ascontiguousarray(array)
        for name in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "string_data"):
            init.ClearField(name)
        init.data_location = onnx.TensorProto.EXTERNAL
        del init.external_data[:]
        for key, value in (("location", _IN_MEMORY), ("offset", "0"), ("length", str(array.nbytes))):
            init.external_data.add(key=key, value=value)
    return Weights(model, arrays)


def session(weights: Weights, model: onnx.ModelProto | None = None) -> Any:
    """A CPU session over ``model`` (an edit of ``weights.model``) with the weights handed over."""
    import onnxruntime as ort

    graph = drop_unused(model if model is not None else weights.model)
    used = {i.name for i in graph.graph.initializer} & weights.arrays.keys()
    options = ort.SessionOptions()
    options.log_severity_level = 4
    names = sorted(used)
    values = [ort.OrtValue.ortvalue_from_numpy(weights.arrays[n]) for n in names]
    if names:
        options.add_external_initializers(names, values)
    return ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])


def reads(graph: onnx.GraphProto) -> set[str]:
    """Every value a node of ``graph`` (or of its subgraphs) reads."""
    used: set[str] = set()
    for node in graph.node:
        used.update(n for n in node.input if n)
        for _, sub in subgraphs(node):
            used.update(reads(sub))
    return used


def drop_unused(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` without the initializers no node reads (ONNX Runtime drops them before it takes
    external initializers, and then refuses those it no longer has)."""
    used = reads(model.graph)
    if all(i.name in used for i in model.graph.initializer):
        return model
    out = graph_copy(model)
    kept = [i for i in out.graph.initializer if i.name in used]
    del out.graph.initializer[:]
    out.graph.initializer.extend(kept)
    return out


def run(sess: Any, feeds: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
    """``outputs`` of ``sess`` for the feeds it takes."""
    wanted = {i.name for i in sess.get_inputs()}
    results = sess.run(outputs, {k: v for k, v in feeds.items() if k in wanted})
    return dict(zip(outputs, results, strict=True))


def graph_copy(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy to edit (cheap: the large weights are not in it)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def expose(model: onnx.ModelProto, values: list[str]) -> onnx.ModelProto:
    """A copy of ``model`` that also returns ``values`` (ONNX Runtime infers their types)."""
    out = graph_copy(model)
    present = {o.name for o in out.graph.output}
    for name in values:
        if name not in present:
            out.graph.output.append(onnx.ValueInfoProto(name=name))
            present.add(name)
    return out


def elem_type(array: np.ndarray) -> int:
    """The ONNX element type of ``array``'s dtype."""
    return int(onnx.helper.np_dtype_to_tensor_dtype(array.dtype))
