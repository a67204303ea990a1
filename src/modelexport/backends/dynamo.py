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
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import onnx
import torch

from ..common import BackendName, IOSpec, TensorSpec
from ..graph import (
    drop_intermediate_shapes,
    gelu_in_fusable_order,
    portable_stack_traces,
    transpose_last_two_in_one_op,
    without_addresses,
)
from ..hierarchy.direct_calls import record_direct_calls
from .base import Captured, capture_graph
from .exact_zeros import exact_zero_patterns
from .fixed_axes import axis_ranges, fixed_axes_behind
from .translations import translation_table


class DynamoBackend:
    name: BackendName = "dynamo"
    default_opset = 18
    reports_axis_ranges = True  # torch.export's range constraints
    # Below 14 the exporter writes opset 18 whatever was asked; above what the onnx package knows,
    # there is no such opset (what ONNX Runtime runs is checked by verification).
    min_opset, max_opset = 14, int(onnx.defs.onnx_opset_version())

    def capture(
        self,
        module: torch.nn.Module,
        inputs: dict[str, torch.Tensor],
        io: IOSpec,
        opset: int,
        scratch: Path,
    ) -> Captured:
        # The exporter prints progress lines to stdout, and torch.export prints the partial graph
        # (thousands of lines) to stderr when it fails; the error raised names the failure and its
        # cause, so keep the caller's output clean.
        with (
            warnings.catch_warnings(),
            torch.no_grad(),
            contextlib.redirect_stdout(_io.StringIO()),
            contextlib.redirect_stderr(_io.StringIO()),
            reuse_torchlib_registry(),
            record_direct_calls(module),  # a layer.forward(x) call is recorded as a module call
            exact_zero_patterns(),  # an RMSNorm's 1e-8 epsilon is not an addition of zero
        ):
            warnings.simplefilter("ignore")
            try:
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
                    custom_translation_table=translation_table(),
                )
            except Exception as e:
                fixed = fixed_axes_behind(e, io)
                if fixed is not None:  # the pipeline exports again with those axes fixed
                    raise fixed from e
                raise
        if program is None:
            raise RuntimeError("torch.onnx.export(dynamo=True) returned no program")
        # The graph and its module scopes are already in memory: no file round trip.
        proto = program.model_proto
        without_addresses(proto)
        portable_stack_traces(proto)
        # As fast in ONNX Runtime as TorchScript's graph (docs/optimize.md): its GELU fusable, the
        # key's transpose one op, no intermediate shapes that make ONNX Runtime fuse a slow
        # SkipLayerNormalization (dropped last: the transpose rewrite reads ranks from them).
        gelu_in_fusable_order(proto.graph)
        transpose_last_two_in_one_op(proto)
        drop_intermediate_shapes(proto)
        return Captured(proto, axis_ranges=axis_ranges(getattr(program, "exported_program", None), io))


# Axes every model must keep dynamic; the exporter raises if the model specialises one of them.
_REQUIRED_DYNAMIC = frozenset(
    {
        "batch_size",
        "sequence_length",
        "num_choices",
        "text_batch_size",
        "image_batch_size",
        "encoder_sequence_length",
        "decoder_sequence_length",
    }
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
_REGISTRATION_LOGGER = "torch.onnx._internal.exporter._registration"


def _registration_module() -> Any | None:
    try:
        from torch.onnx._internal.exporter import _registration
    except ImportError:
        return None
    registry = getattr(_registration, "ONNXRegistry", None)
    return _registration if isinstance(registry, type) and "from_torchlib" in vars(registry) else None


def _cached_registry(build: Any, cls: type, opset_version: int) -> Any:
    """A copy of the registry for ``opset_version``, built once. The exporter reads it and adds the
    custom translations to the copy's own lists, never to the cached registry's."""
    cached = _REGISTRIES.get(opset_version)
    if cached is None:
        # Building it warns once per torchvision operator when torchvision is absent, which is
        # expected (modelexport does not use it): keep those warnings out of the user's terminal.
        quiet = logging.getLogger(_REGISTRATION_LOGGER)
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            cached = _REGISTRIES[opset_version] = build(cls, opset_version)
        finally:
            quiet.setLevel(level)
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


class _WarmUpModel(torch.nn.Module):
    """Layers of the kinds the zoo is made of (embedding, attention, layer norm, convolution, batch
    norm), with text and image inputs, for :func:`warm_dynamo_exporter`."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(32, 16)
        self.norm = torch.nn.LayerNorm(16)
        self.qkv = torch.nn.Linear(16, 48)
        self.out = torch.nn.Linear(16, 16)
        self.conv = torch.nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.bn = torch.nn.BatchNorm2d(16)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pixel_values: torch.Tensor
    ) -> torch.Tensor:
        x = self.norm(self.embed(input_ids))
        batch, length, _ = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, 2, 8).permute(2, 0, 3, 1, 4).unbind(0)
        mask = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        scores = torch.softmax(q @ k.transpose(-1, -2) / 8**0.5 + mask, dim=-1)
        text = torch.nn.functional.gelu(self.out((scores @ v).transpose(1, 2).reshape(x.shape)))
        image = torch.relu(self.bn(self.conv(pixel_values))).flatten(2).mean(-1)
        return text.mean(dim=1) + image


def warm_dynamo_exporter(opset_version: int = DynamoBackend.default_opset) -> None:
    """Build torchlib's registry and export a small model once, in this process.

    What the exporter sets up on first use (the registry, the ONNX-friendly decomposition table,
    lazily resolved operators and their decompositions, sympy's caches) is then in place; the
    matrix's fork server calls this so that no forked cell pays for it. The files of later exports
    are unchanged (tests/test_dynamo_registry.py).
    """
    io = IOSpec(
        inputs=(
            TensorSpec("input_ids", {0: "batch_size", 1: "sequence_length"}),
            TensorSpec("attention_mask", {0: "batch_size", 1: "sequence_length"}),
            TensorSpec("pixel_values", {0: "batch_size", 1: "num_channels", 2: "height", 3: "width"}),
        ),
        outputs=(TensorSpec("logits", {0: "batch_size"}),),
    )
    inputs = {
        "input_ids": torch.ones(2, 8, dtype=torch.long),
        "attention_mask": torch.ones(2, 8, dtype=torch.long),
        "pixel_values": torch.zeros(2, 3, 16, 16),
    }
    capture_graph(
        DynamoBackend(), _WarmUpModel().eval(), inputs, io, opset_version, Path(tempfile.gettempdir())
    )
