"""The dynamo exporter (``torch.onnx.export(dynamo=True)``): torch.export + onnxscript, the future
default upstream, which also records each node's module scope in its metadata."""

from __future__ import annotations

import contextlib
import io as _io
import warnings
from pathlib import Path
from typing import Any

import torch

from ..inputs import IOSpec
from .base import BackendName, Captured


class DynamoBackend:
    name: BackendName = "dynamo"
    default_opset = 18

    def capture(
        self,
        module: torch.nn.Module,
        inputs: dict[str, torch.Tensor],
        io: IOSpec,
        opset: int,
        scratch: Path,
    ) -> Captured:
        # The exporter prints progress lines to stdout; keep the caller's output clean.
        with (
            warnings.catch_warnings(),
            torch.no_grad(),
            contextlib.redirect_stdout(_io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module,
                tuple(inputs[n] for n in io.input_names),
                dynamo=True,
                input_names=io.input_names,
                output_names=io.output_names,
                dynamic_shapes=_dynamic_shapes(io),
                opset_version=opset,
                optimize=True,
                verbose=False,
            )
        if program is None:
            raise RuntimeError("torch.onnx.export(dynamo=True) returned no program")
        # The graph and its module scopes are already in memory: no file round trip.
        return Captured(program.model_proto)


# Axes every model must keep dynamic; the exporter raises if the model specialises one of them.
_REQUIRED_DYNAMIC = frozenset(
    {"batch_size", "sequence_length", "num_choices", "text_batch_size", "image_batch_size"}
)


def _dynamic_shapes(io: IOSpec) -> dict[str, dict[int, Any]]:
    """Batch and sequence axes are required to stay dynamic (named strings); the others (channels,
    height, width) are left to the exporter (``Dim.AUTO``), since models like ViT fix them."""
    return {
        t.name: {
            axis: name if name in _REQUIRED_DYNAMIC else torch.export.Dim.AUTO
            for axis, name in t.axes.items()
        }
        for t in io.inputs
    }
