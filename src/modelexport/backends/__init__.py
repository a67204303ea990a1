"""Exporter backends behind one small protocol (:class:`~.base.Backend`), by name."""

from __future__ import annotations

from ..common import AUTO, BackendName
from ..errors import UserInputError
from .base import Backend, Captured, capture_graph
from .dynamo import DynamoBackend
from .torchscript import TorchScriptBackend

BACKENDS: dict[BackendName, Backend] = {"torchscript": TorchScriptBackend(), "dynamo": DynamoBackend()}

__all__ = ["BACKENDS", "Backend", "Captured", "capture_graph", "get_backend"]


def get_backend(name: str) -> Backend:
    """The backend called ``name``; a one-line error naming the choices otherwise."""
    backend = BACKENDS.get(name)  # type: ignore[call-overload]
    if backend is None:
        raise UserInputError(
            f"unknown exporter '{name}'.", hint=f"use one of: {AUTO}, {', '.join(BACKENDS)}."
        )
    return backend
