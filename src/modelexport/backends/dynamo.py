"""The dynamo exporter (``torch.onnx.export(dynamo=True)``): torch.export + onnxscript, the future
default upstream, which also records each node's module scope in its metadata.

Every ``torch.onnx.export(dynamo=True)`` call rebuilds the registry of torchlib's ATen-to-ONNX
functions from their Python source, about 1.3 s, the same each time. The backend builds it once per
opset and process and hands each export a copy (:func:`reuse_torchlib_registry`); the matrix's fork
server builds it before forking, so no cell pays for it.
"""

from __future__ import annotations

import contextlib
import io as _io
import warnings
from collections.abc import Iterator
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
            reuse_torchlib_registry(),
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


_REGISTRIES: dict[int, Any] = {}


def _registration_module() -> Any | None:
    try:
        from torch.onnx._internal.exporter import _registration
    except ImportError:
        return None
    registry = getattr(_registration, "ONNXRegistry", None)
    return _registration if isinstance(registry, type) and "from_torchlib" in vars(registry) else None


def _cached_registry(build: Any, cls: type, opset_version: int) -> Any:
    """A copy of the registry for ``opset_version``, built once. The exporter only reads it (a custom
    translation table, which modelexport never passes, would add to the copy's lists)."""
    cached = _REGISTRIES.get(opset_version)
    if cached is None:
        cached = _REGISTRIES[opset_version] = build(cls, opset_version)
    copy: Any = object.__new__(cls)
    copy.__dict__.update(cached.__dict__)
    copy.functions = {target: list(decomps) for target, decomps in cached.functions.items()}
    return copy


@contextlib.contextmanager
def reuse_torchlib_registry() -> Iterator[None]:
    """While active, ``ONNXRegistry.from_torchlib`` returns copies of a registry built once per opset."""
    module = _registration_module()
    if module is None:  # another torch layout: exports still work, each building its own registry
        yield
        return
    cls = module.ONNXRegistry
    original = vars(cls)["from_torchlib"]
    build = original.__func__
    default_opset = getattr(getattr(module, "_constants", None), "TORCHLIB_OPSET", 18)

    def from_torchlib(klass: type, opset_version: int = default_opset) -> Any:
        return _cached_registry(build, klass, opset_version)

    cls.from_torchlib = classmethod(from_torchlib)
    try:
        yield
    finally:
        cls.from_torchlib = original


def warm_torchlib_registry(opset_version: int = DynamoBackend.default_opset) -> None:
    """Build the registry now (the matrix's fork server calls this, so forked cells inherit it)."""
    module = _registration_module()
    if module is not None:
        with reuse_torchlib_registry():
            module.ONNXRegistry.from_torchlib(opset_version=opset_version)
