"""The TorchScript exporter (``torch.onnx.export(dynamo=False)``): fast, mature, deprecated upstream.

The graph is exported without its weights (``export_params=False``), which spares the exporter
copying every weight into a protobuf it then serialises; the weights are put back as initializers
whose bytes stay in the model's own tensors until the one write (:mod:`modelexport.wire`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import onnx
import torch

from ..common import INLINE_WEIGHT_LIMIT, BackendName, IOSpec
from ..graph import literal_reshapes
from ..hierarchy.capture import (
    TorchScriptScopes,
    capture_torchscript_scopes,
    exporter_module,
    record_model_to_graph,
)
from ..wire import can_defer, placeholder
from .base import Captured, weight_bytes


class _Sink:
    """A write-only file object that keeps the exporter's serialised bytes without copying them."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.chunks.append(data)
        return len(data)

    def flush(self) -> None:
        pass

    def getvalue(self) -> bytes:
        return self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)


def _lift_parameters(proto: onnx.ModelProto, parameters: dict[str, Any], inputs: list[str]) -> dict[str, Any]:
    """Turn the parameter inputs of a graph exported without weights into initializers (as
    ``export_params=True`` writes them) whose bytes are deferred; return name -> tensor."""
    weights: dict[str, Any] = {}
    kept = []
    for value in proto.graph.input:
        tensor = None if value.name in inputs else parameters.get(value.name)
        if tensor is None:
            kept.append(value)
        else:
            weights[value.name] = tensor
    del proto.graph.input[:]
    proto.graph.input.extend(kept)
    proto.graph.initializer.extend(placeholder(name, tensor) for name, tensor in weights.items())
    return weights


def _opset_bounds() -> tuple[int, int]:
    """The opsets torch's TorchScript exporter writes."""
    try:
        from torch.onnx import _constants
    except ImportError:
        return 7, 20
    return int(getattr(_constants, "ONNX_MIN_OPSET", 7)), int(
        getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 20)
    )


class TorchScriptBackend:
    name: BackendName = "torchscript"
    default_opset = 17
    reports_axis_ranges = False  # the tracer records sizes, not bounds
    min_opset, max_opset = _opset_bounds()

    def capture(
        self, module: torch.nn.Module, inputs: dict[str, torch.Tensor], io: IOSpec, opset: int, scratch: Path
    ) -> Captured:
        """Export, keeping the nodes' module scopes for the hierarchy stage (``tag_model``); reshapes
        to computed shapes read a 0 as PyTorch does (:func:`literal_reshapes`)."""
        captured = self._capture(module, inputs, io, opset, scratch)
        literal_reshapes(captured.proto)
        return captured

    def _capture(
        self, module: torch.nn.Module, inputs: dict[str, torch.Tensor], io: IOSpec, opset: int, scratch: Path
    ) -> Captured:
        if weight_bytes(module) > INLINE_WEIGHT_LIMIT:
            # Past protobuf's in-memory limit: the exporter writes external data next to a file.
            path = scratch / "captured.onnx"
            scopes, _ = _export(module, inputs, io, opset, str(path), export_params=True)
            return Captured(onnx.load(str(path)), scopes)  # external data is read into the proto
        if exporter_module() is not None:  # the parameters can be recorded: export without them
            sink = _Sink()
            scopes, parameters = _export(module, inputs, io, opset, sink, export_params=False)
            if all(can_defer(t) for t in parameters.values()):
                proto = onnx.load_model_from_string(sink.getvalue())
                return Captured(proto, scopes, weights=_lift_parameters(proto, parameters, io.input_names))
        sink = _Sink()  # a weight type raw bytes cannot carry: let the exporter encode the weights
        scopes, _ = _export(module, inputs, io, opset, sink, export_params=True)
        return Captured(onnx.load_model_from_string(sink.getvalue()), scopes)


def _export(
    module: torch.nn.Module,
    inputs: dict[str, torch.Tensor],
    io: IOSpec,
    opset: int,
    target: _Sink | str,
    *,
    export_params: bool,
) -> tuple[TorchScriptScopes, dict[str, Any]]:
    with (
        warnings.catch_warnings(),
        torch.no_grad(),
        capture_torchscript_scopes() as scopes,
        record_model_to_graph() as calls,
    ):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(inputs[n] for n in io.input_names),
            target,  # type: ignore[arg-type]  # any object with write() is accepted
            dynamo=False,
            export_params=export_params,
            input_names=io.input_names,
            output_names=io.output_names,
            dynamic_axes=io.dynamic_axes(),
            opset_version=opset,
            do_constant_folding=True,
        )
    # The exporter's named parameters after constant folding: what it writes as initializers.
    parameters: dict[str, Any] = dict(calls[-1][1]) if calls else {}
    return scopes, parameters
