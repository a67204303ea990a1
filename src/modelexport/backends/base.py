"""What every exporter backend shares: the protocol, what a capture returns, and the capture call."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import onnx
import torch

from ..common import BackendName, IOSpec
from ..hierarchy.capture import TorchScriptScopes
from .fixed_axes import Range


@dataclass
class Captured:
    """What a backend hands the tag stage.

    ``proto``: the graph. ``scopes``: the module scopes the exporter recorded where they are not
    in the graph itself (TorchScript), else ``None``. ``weights``: initializers of ``proto`` that
    are placeholders (name, shape, type, no data) with their bytes still in these tensors; write
    the model with :func:`modelexport.packaging.save_onnx`, or :func:`modelexport.wire.materialize`
    it first to use ``proto`` on its own. ``axis_ranges``: see the field.
    """

    proto: onnx.ModelProto
    scopes: TorchScriptScopes | None = None
    weights: dict[str, torch.Tensor] = field(default_factory=dict)
    # Dynamic axes the model's code bounds (axis name -> (min, max or None)), as torch.export
    # inferred them; the dynamo backend only (TorchScript's tracer records no such thing).
    axis_ranges: dict[str, Range] = field(default_factory=dict)


class Backend(Protocol):
    name: BackendName
    default_opset: int
    # The opsets it can write (``--opset`` outside them is refused before any work).
    min_opset: int
    max_opset: int
    # Whether ``Captured.axis_ranges`` says what the model's code bounds (else it is always empty).
    reports_axis_ranges: bool

    def capture(
        self,
        module: torch.nn.Module,
        inputs: dict[str, torch.Tensor],
        io: IOSpec,
        opset: int,
        scratch: Path,
    ) -> Captured:
        """Trace ``module`` on ``inputs`` into an in-memory ONNX graph. ``scratch`` is an empty
        directory the backend may use for models too large to capture in memory."""
        ...


def weight_bytes(module: torch.nn.Module) -> int:
    """Bytes of parameters and buffers: what the ONNX initializers will weigh, near enough."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def capture_graph(
    backend: Backend,
    module: torch.nn.Module,
    inputs: dict[str, torch.Tensor],
    io: IOSpec,
    opset: int,
    workdir: Path,
) -> Captured:
    """``backend.capture`` with a scratch directory under ``workdir`` that is gone afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix=".capture-", dir=workdir))
    try:
        return backend.capture(module, inputs, io, opset, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
