"""The TorchScript exporter (``torch.onnx.export(dynamo=False)``): fast, mature, deprecated upstream."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from ..inputs import IOSpec


class TorchScriptBackend:
    name = "torchscript"
    default_opset = 17

    def export(
        self, module: torch.nn.Module, inputs: dict[str, torch.Tensor], io: IOSpec, path: Path, opset: int
    ) -> None:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                tuple(inputs[n] for n in io.input_names),
                str(path),
                dynamo=False,
                input_names=io.input_names,
                output_names=io.output_names,
                dynamic_axes=io.dynamic_axes(),
                opset_version=opset,
                do_constant_folding=True,
            )
