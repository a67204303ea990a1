"""What an export is made of: its parts (one ONNX file each), with what to trace and verify them on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from .common import IOSpec
from .tasks import TaskSpec

# model: a single-file task; decoder: a decoder-only model.onnx (with its cache); encoder,
# decoder_first, decoder_with_past: an encoder-decoder's files; decoder_merged: the last two in one
# file, a branch each.
Role = Literal["model", "decoder", "encoder", "decoder_first", "decoder_with_past", "decoder_merged"]
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


@dataclass(frozen=True)
class Merge:
    """Two captured parts written as one file: an ``If`` on ``flag`` runs ``with_past`` (then) or
    ``without_past`` (else), their shared weights stored once (Optimum's merged decoder)."""

    file: str
    without_past: str
    with_past: str
    flag: str = "use_cache_branch"


@dataclass
class Plan:
    """Every part of one export: ``parts`` are captured one each; ``merges`` join two of them into
    one file, verified as ``merged`` (a part whose module runs the branch its flag picks)."""

    task: TaskSpec
    parts: tuple[Part, ...]
    merges: tuple[Merge, ...] = ()
    merged: tuple[Part, ...] = ()

    @property
    def written(self) -> tuple[Part, ...]:
        """The parts written as files, in order: captured parts not merged away, then merged ones."""
        joined = {f for m in self.merges for f in (m.without_past, m.with_past)}
        return (*(p for p in self.parts if p.file not in joined), *self.merged)

    @property
    def files(self) -> list[str]:
        return [p.file for p in self.written]
