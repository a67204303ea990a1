"""Leaf definitions every layer shares: backend names and the order ``auto`` tries them in, the
ONNX input/output spec, and size limits. Imports nothing of the package."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

BackendName = Literal["torchscript", "dynamo"]
BACKEND_NAMES: tuple[BackendName, ...] = ("torchscript", "dynamo")
AUTO = "auto"
# What ``exporter="auto"`` tries, in order: TorchScript, the faster exporter, then dynamo.
AUTO_ORDER: tuple[BackendName, ...] = ("torchscript", "dynamo")

# The attribute under which a traced wrapper holds the Hugging Face model; tags strip it.
WRAPPER_ATTRIBUTE = "model"

# protobuf cannot hold a message past 2 GiB: beyond this many bytes of weights, the exporters write
# external data and the ONNX file keeps its weights beside it.
INLINE_WEIGHT_LIMIT = 1_800_000_000

T = TypeVar("T")


def first_working(outcomes: Iterable[T | None], works: Callable[[T], bool]) -> T | None:
    """The ``auto`` rule over the outcomes of :data:`AUTO_ORDER`'s backends, in that order (lazily
    produced by an export, read from recorded rows by the matrix): the first that works, else the
    last one; ``None`` where an outcome is missing before that."""
    last: T | None = None
    for outcome in outcomes:
        if outcome is None:
            return None
        if works(outcome):
            return outcome
        last = outcome
    return last


Axes = Mapping[int, str]


def identifier(name: str) -> str:
    """``past_key_values.0.key`` -> ``past_key_values_0_key``: a Python parameter name for a traced forward."""
    return re.sub(r"\W", "_", name)


@dataclass(frozen=True)
class TensorSpec:
    name: str
    axes: Axes


@dataclass(frozen=True)
class IOSpec:
    """Names and dynamic axes of one ONNX file's inputs and outputs, as Optimum names them."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    # Axes the model fixes at one size although the task's spec makes them dynamic (an exporter
    # found the model's code specialises them), with that size: no input declares them, and the
    # check inputs are made at that size (see modelexport.pipeline).
    fixed: tuple[tuple[str, int], ...] = ()
    # The largest size of a dynamic axis the model's code allows (an exporter found it bounds the
    # axis below the size the check inputs would have): the check inputs are made no larger.
    limits: tuple[tuple[str, int], ...] = ()

    def fixed_size(self, axis: str) -> int | None:
        """The size the export fixes ``axis`` at, or ``None`` when it is not fixed."""
        return dict(self.fixed).get(axis)

    def limit(self, axis: str) -> int | None:
        """The largest size the export allows ``axis``, or ``None`` when it sets none."""
        return dict(self.limits).get(axis)

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {t.name: dict(t.axes) for t in (*self.inputs, *self.outputs)}

    def traced(self) -> IOSpec:
        """This spec with identifier names: what the backends trace (dynamo binds shapes by parameter
        name); the graph's values get the real names back afterwards."""

        def rename(specs: tuple[TensorSpec, ...]) -> tuple[TensorSpec, ...]:
            return tuple(TensorSpec(identifier(t.name), t.axes) for t in specs)

        return IOSpec(rename(self.inputs), rename(self.outputs), self.fixed, self.limits)

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": {t.name: {str(k): v for k, v in t.axes.items()} for t in self.inputs},
            "outputs": {t.name: {str(k): v for k, v in t.axes.items()} for t in self.outputs},
        }
