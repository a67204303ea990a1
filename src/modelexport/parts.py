"""What an export is made of: its parts (one ONNX file each), with what to trace and verify them on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from .common import IOSpec
from .tasks import TaskSpec

# model: a single-file task; decoder: a decoder-only model.onnx (with its cache); encoder,
# decoder_first, decoder_with_past: an encoder-decoder's files.
Role = Literal["model", "decoder", "encoder", "decoder_first", "decoder_with_past"]
Feeds = dict[str, torch.Tensor]


@dataclass
class Part:
    """One ONNX file: its name and role, its inputs/outputs, the module traced for it, the inputs to
    trace it with, and the named input sets it is verified on (each of another shape)."""

    file: str
    role: Role
    io: IOSpec
    module: torch.nn.Module  # a modelexport.wrappers.TracedModule
    trace: Feeds
    checks: dict[str, Feeds]


@dataclass
class Plan:
    """Every part of one export, in the order they are written."""

    task: TaskSpec
    parts: tuple[Part, ...]

    @property
    def files(self) -> list[str]:
        return [p.file for p in self.parts]
