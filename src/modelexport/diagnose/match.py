"""Pair each module's ONNX boundary values with the tensors PyTorch's calls of it took and returned.

Within one module and one direction (outputs with outputs, inputs with inputs) a PyTorch tensor and
an ONNX value can pair when their kinds agree (floating, or integer/boolean) and their shapes do
(or, failing that, their sizes: a value the graph keeps flattened); the pairs are taken closest
first by mean absolute difference, one to one, so a wrong value still pairs with its own tensor
when its siblings are right. A graph input the check did not feed as PyTorch was fed (an input
PyTorch's model derives by itself, such as Optimum's ``position_ids``) pairs by name first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ..hierarchy.modules import ROOT, within
from .boundaries import Boundaries, ModuleBoundary
from .hooks import Call, Recording

Role = Literal["output", "input"]
_UNRELATED = float("inf")


@dataclass
class Counterpart:
    """The PyTorch tensor one ONNX value stands for, in the value's shape and dtype."""

    value: str
    module: str
    role: Role
    call: int  # the call's start order
    name: str  # where the tensor sat in the call: ``output.0``, ``args.0``, ``attention_mask``
    array: np.ndarray
    reshaped: bool  # paired by size, not shape


class Arrays:
    """PyTorch tensors as NumPy arrays, converted once."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[torch.Tensor, np.ndarray]] = {}

    def __call__(self, tensor: torch.Tensor) -> np.ndarray:
        hit = self._cache.get(id(tensor))
        if hit is None:
            t = tensor.detach().cpu()
            if t.dtype in (torch.bfloat16, torch.float16):
                t = t.float()
            hit = (tensor, t.numpy())
            self._cache[id(tensor)] = hit
        return hit[1]


def _kind(array: np.ndarray) -> str:
    return "f" if array.dtype.kind in "fc" else "i" if array.dtype.kind in "iub" else "?"


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = (a, b) if a.dtype.kind == "f" and b.dtype.kind == "f" else (a.astype(float), b.astype(float))
    with np.errstate(invalid="ignore", over="ignore"):
        d = float(np.mean(np.abs(a64 - b64))) if a.size else 0.0
    return d if np.isfinite(d) else _UNRELATED


def _compatible(t: np.ndarray, v: np.ndarray, by_name: bool) -> bool:
    """Floating values pair by size; integer ones (ids, masks, and shapes the graph computes) by
    shape and equal values, or by name: feeding a wrong shape tensor in the local run would break it."""
    kind = _kind(t)
    if kind != _kind(v) or kind == "?" or t.size != v.size:
        return False
    return kind == "f" or by_name or (t.shape == v.shape and np.array_equal(t, v))


def _named(torch_name: str, value: str) -> bool:
    """The PyTorch argument is named as the ONNX value (``position_ids``)."""
    return torch_name.rsplit(".", 1)[-1] == value


def pair(
    torch_side: list[tuple[int, str, np.ndarray]],  # (slot, name, array)
    onnx_side: list[str],
    values: Mapping[str, np.ndarray],
    named: set[str],
    allowed: set[tuple[int, int]] | None = None,
) -> list[tuple[int, int]]:
    """Closest-first one-to-one pairs (torch index, onnx index); ``named``: values paired by name
    first; ``allowed``: the pairs that may be made (all when None). Distances are computed only
    where a tensor or a value has more than one candidate."""
    links = [
        (i, j)
        for i, (_, _, t) in enumerate(torch_side)
        for j, value in enumerate(onnx_side)
        if (allowed is None or (i, j) in allowed)
        and _compatible(t, values[value], value in named and _named(torch_side[i][1], value))
    ]
    per_t: dict[int, int] = {}
    per_o: dict[int, int] = {}
    for i, j in links:
        slot = torch_side[i][0]
        per_t[slot] = per_t.get(slot, 0) + 1
        per_o[j] = per_o.get(j, 0) + 1
    scored = []
    for i, j in links:
        _, name, t = torch_side[i]
        v = values[onnx_side[j]]
        ambiguous = per_t[torch_side[i][0]] > 1 or per_o[j] > 1
        by_name = onnx_side[j] in named and _named(name, onnx_side[j])
        distance = _distance(t.reshape(v.shape), v) if ambiguous else 0.0
        scored.append(((not by_name, t.shape != v.shape, distance), i, j))
    scored.sort(key=lambda s: s[0])
    used_t: set[int] = set()
    used_o: set[int] = set()
    out = []
    for _, i, j in scored:
        slot = torch_side[i][0]
        if slot not in used_t and j not in used_o:
            used_t.add(slot)
            used_o.add(j)
            out.append((i, j))
    return out


class Dataflow:
    """Where PyTorch's tensors come from and go, as ONNX can see it: modules without nodes in the
    file (batch norm folded into a convolution, dropout) are looked through."""

    def __init__(self, recording: Recording, has_nodes: set[str], given: list[torch.Tensor]) -> None:
        self.recording, self.has_nodes = recording, has_nodes
        self.given = {id(t) for t in given}  # the tensors fed to PyTorch (and to ONNX Runtime)

    def delivered(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """A module's output and what it becomes through a chain of node-less modules that each
        take it alone and return one tensor (a batch norm folded into the convolution before it,
        whose ONNX node then returns the normalized value; or a pooler the graph dropped)."""
        chain = [tensor]
        for _ in range(_MAX_CHAIN):
            users = self.recording.received_by(chain[-1])
            if len(users) != 1 or users[0].path in self.has_nodes or len(users[0].outputs) != 1:
                break
            chain.append(users[0].outputs[0][1])
        return chain

    def origin(self, tensor: torch.Tensor, receiver: Call) -> str:
        """The module whose nodes should make ``tensor``: the innermost module with nodes that
        returned it (through node-less modules), else the module whose own code made it."""
        for _ in range(_MAX_CHAIN):
            call = self.recording.returned_by(tensor)
            if call is None:
                return self.recording.creator(tensor, receiver) or ROOT
            if call.path in self.has_nodes:
                return call.path
            inputs = [t for _, t in call.inputs]
            if len(inputs) != 1:
                return call.path
            tensor, receiver = inputs[0], call
        return ROOT


_MAX_CHAIN = 16


Entry = tuple[int, Call, str, torch.Tensor]  # (slot, call, name, tensor)


def _side(role: Role, calls: list[Call], flow: Dataflow) -> list[Entry]:
    """The tensors a module's boundary values may stand for; entries sharing a slot are
    alternatives for one output (itself, or what node-less modules made of it)."""
    if role == "input":
        return [(i, c, n, t) for i, (c, n, t) in enumerate((c, n, t) for c in calls for n, t in c.inputs)]
    flat = [(c, n, t) for c in calls for n, t in c.outputs]
    return [(i, c, n, alt) for i, (c, n, t) in enumerate(flat) for alt in flow.delivered(t)]


def match_module(
    boundary: ModuleBoundary,
    calls: list[Call],
    values: Mapping[str, np.ndarray],
    arrays: Arrays,
    given: set[str],
    flow: Dataflow,
    made_by: Mapping[str, str | None],
) -> list[Counterpart]:
    """Counterparts of one module's boundary values; ``given``: graph inputs fed as PyTorch was
    (exact by construction, not compared). An input pairs only with a value made where PyTorch
    made it (by the module it came from, or one of that module's ancestors): a value an exporter
    shared across modules (a mask computed once, in the first layer, for all) is left unpaired.
    A graph input PyTorch was not given pairs only with a tensor PyTorch made."""
    out: list[Counterpart] = []
    for role in ("output", "input"):
        side = [v for v in getattr(boundary, role + "s") if v in values and v not in given]
        entries = _side(role, calls, flow)
        torch_side = [(slot, n, arrays(t)) for slot, _, n, t in entries]
        allowed = None
        if role == "input":
            origins = [flow.origin(t, c) for _, c, _, t in entries]
            allowed = {
                (i, j)
                for i, origin in enumerate(origins)
                for j, v in enumerate(side)
                if (
                    id(entries[i][3]) not in flow.given
                    if made_by[v] is None
                    else within(origin, made_by[v] or ROOT)
                )
            }
        named = set(side) if role == "input" else set()
        for i, j in pair(torch_side, side, values, named, allowed):
            _, call, name, _ = entries[i]
            start, array = call.start, torch_side[i][2]
            shape = values[side[j]].shape
            reshaped = array.shape != shape
            fed = (array if not reshaped else array.reshape(shape)).astype(values[side[j]].dtype, copy=False)
            out.append(Counterpart(side[j], boundary.path, role, start, name, fed, reshaped))
    return out


def references(counterparts: list[Counterpart], boundaries: Boundaries) -> dict[str, Counterpart]:
    """One counterpart per value, the one to feed in the local run: what the module that made it
    returned (the innermost such module), else what the innermost module given it received."""

    def rank(c: Counterpart) -> tuple[int, int]:
        return (0 if c.role == "output" else 1, -len(c.module.split(".")) if c.module else 0)

    best: dict[str, Counterpart] = {}
    for c in counterparts:
        if c.value not in best or rank(c) < rank(best[c.value]):
            best[c.value] = c
    return best
