"""The dynamo exporter (``torch.onnx.export(dynamo=True)``): torch.export + onnxscript, the future
default upstream, which also records each node's module scope in its metadata."""

from __future__ import annotations

import contextlib
import io as _io
import warnings
from pathlib import Path

import torch

from ..inputs import IOSpec


class DynamoBackend:
    name = "dynamo"
    default_opset = 18

    def export(
        self, module: torch.nn.Module, inputs: dict[str, torch.Tensor], io: IOSpec, path: Path, opset: int
    ) -> None:
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
                dynamic_axes=io.dynamic_axes(),
                opset_version=opset,
                optimize=True,
                verbose=False,
            )
        if program is None:
            raise RuntimeError("torch.onnx.export(dynamo=True) returned no program")
        program.save(str(path))
