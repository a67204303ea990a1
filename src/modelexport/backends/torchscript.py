"""The TorchScript exporter (``torch.onnx.export(dynamo=False)``): fast, mature, deprecated upstream."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from ..hierarchy.capture import TorchScriptScopes, capture_torchscript_scopes
from ..inputs import IOSpec
from .base import BackendName


class TorchScriptBackend:
    name: BackendName = "torchscript"
    default_opset = 17

    def export(
        self, module: torch.nn.Module, inputs: dict[str, torch.Tensor], io: IOSpec, path: Path, opset: int
    ) -> TorchScriptScopes:
        """Export, and return the nodes' module scopes for the hierarchy stage (``tag_model``)."""
        with warnings.catch_warnings(), torch.no_grad(), capture_torchscript_scopes() as scopes:
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
        return scopes
