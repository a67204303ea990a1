"""Exporter backends behind one small protocol."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch

from ..errors import UserInputError
from ..inputs import IOSpec
from .base import INLINE_WEIGHT_LIMIT, WRAPPER_ATTRIBUTE, Backend, BackendName, Captured, ExportWrapper, wrap
from .dynamo import DynamoBackend
from .torchscript import TorchScriptBackend

BACKENDS: dict[str, Backend] = {"torchscript": TorchScriptBackend(), "dynamo": DynamoBackend()}
# "auto": TorchScript first, dynamo when TorchScript fails to capture or verify (see README).
AUTO_EXPORTER = "auto"
DEFAULT_BACKEND = AUTO_EXPORTER

__all__ = [
    "AUTO_EXPORTER",
    "BACKENDS",
    "DEFAULT_BACKEND",
    "INLINE_WEIGHT_LIMIT",
    "WRAPPER_ATTRIBUTE",
    "Backend",
    "BackendName",
    "Captured",
    "ExportWrapper",
    "capture_graph",
    "get_backend",
    "wrap",
]


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise UserInputError(
            f"unknown exporter '{name}'.", hint=f"use one of: {AUTO_EXPORTER}, {', '.join(sorted(BACKENDS))}."
        ) from None


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
