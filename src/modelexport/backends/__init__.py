"""Exporter backends behind one small protocol."""

from __future__ import annotations

from ..errors import UserInputError
from .base import WRAPPER_ATTRIBUTE, Backend, BackendName, ExportWrapper, wrap
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
    "WRAPPER_ATTRIBUTE",
    "Backend",
    "BackendName",
    "ExportWrapper",
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
