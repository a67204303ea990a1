"""Which siblings of a ``ModuleList`` / ``ModuleDict`` must get equal node counts, and do they.

Nodes are counted without the ones that compute nothing on the model's data: ``Identity`` (the
TorchScript exporter's stand-ins for weights shared between modules, which D-FINE's box heads hold
unevenly), and shape arithmetic: ``Shape`` and ``Constant`` nodes and every node that reads only
their values and initializers. How a sibling is called changes those (Depth Anything's last fusion
layer upsamples by a constant factor, the others to the size of another tensor: 11 nodes of
``Shape``, ``Slice``, ``Concat``... in the TorchScript export), not what it computes.

Siblings are *alike* when built alike: the same class, the same parameter and buffer shapes, the
same submodules, and the same settings (attributes that are int, float, bool, str, None or tuples
and lists of them) on the module and on each submodule. A setting that counts up by one along the
list (``layer_idx``) says where a sibling sits, not what it computes, and is left out. So
ModernBERT's global and local attention layers (``local_attention``) and Swin's shifted and
plain windows (``shift_size``) are different groups.

Alike siblings may still run differently in one file. A submodule that holds no node and none of
whose weights is in the file (by name, or by value as stored or transposed) did not run: a sibling
called without an optional input (DPT's first fusion layer has no residual), or not called at all
(VITS drops a flow at inference). Siblings that did not run are not compared; siblings that left
out different submodules are compared submodule by submodule, on each submodule that neither left
out nor left anything out below; the others by their whole subtree. A submodule whose weights are
in the file did run, whatever its tags say: nodes tagged to a sibling instead still fail.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from ..hierarchy import HierarchyReport
from ..hierarchy.modules import CONTAINERS

SIBLING_TOLERANCE = 0.10
_SIMPLE = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class SiblingGroup:
    """Two or more alike children of one container, in container order."""

    container: str
    class_name: str
    members: tuple[str, ...]


@dataclass
class SiblingResult:
    """What one file's comparison found: groups compared, failures, siblings that ran less."""

    compared: int = 0
    failures: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)  # "<sibling>: not <submodules>"
    unused: list[str] = field(default_factory=list)  # siblings that did not run in the file


def sibling_groups(model: torch.nn.Module) -> list[SiblingGroup]:
    """Every group of two or more alike children of a container of ``model`` (a module listed
    twice counts once)."""
    modules = dict(model.named_modules())
    canonical = {id(m): p for p, m in modules.items()}
    out = []
    for path, container in modules.items():
        if not isinstance(container, CONTAINERS):
            continue
        children: list[tuple[str, torch.nn.Module]] = []
        for child in container.children():
            child_path = canonical.get(id(child))
            if child_path is not None and child_path not in (p for p, _ in children):
                children.append((child_path, child))
        settings = [_settings(child) for _, child in children]
        positions = _positions(settings)
        alike: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        for (child_path, child), found in zip(children, settings, strict=True):
            kept = tuple(sorted((k, v) for k, v in found.items() if k not in positions))
            key = (*_build(child), kept)
            alike[key].append(child_path)
        out += [SiblingGroup(path, sig[0], tuple(ms)) for sig, ms in alike.items() if len(ms) > 1]
    return out


def _build(module: torch.nn.Module) -> tuple[Any, ...]:
    """Class, parameter and buffer shapes, submodule classes."""
    tensors = [*module.named_parameters(), *module.named_buffers()]
    shapes = tuple((n, tuple(t.shape)) for n, t in tensors)
    children = tuple((n, type(m).__name__) for n, m in module.named_modules())
    return (type(module).__name__, shapes, children)


def _simple(value: Any) -> tuple[Any, ...]:
    """``(True, value)`` with lists as tuples when ``value`` is a setting, else ``(False,)``."""
    if isinstance(value, _SIMPLE):
        return (True, value)
    if isinstance(value, (tuple, list)):
        items = [_simple(v) for v in value]
        if all(i[0] for i in items):
            return (True, tuple(i[1] for i in items))
    return (False,)


def _settings(module: torch.nn.Module) -> dict[tuple[str, str], Any]:
    """(submodule path, attribute) -> value of every simple public attribute, the module's own
    (path ``""``) and its submodules'."""
    out = {}
    for sub_path, sub in module.named_modules():
        for name, value in vars(sub).items():
            if name.startswith("_") or name == "training":
                continue
            simple = _simple(value)
            if simple[0]:
                out[(sub_path, name)] = simple[1]
    return out


def _positions(settings: list[dict[tuple[str, str], Any]]) -> set[tuple[str, str]]:
    """Settings whose values along the container count up by one (``layer_idx`` 0, 1, 2...)."""
    keys = set().union(*settings) if settings else set()
    out = set()
    for key in keys:
        values = [s[key] for s in settings if key in s]
        ints = len(values) > 1 and all(type(v) is int for v in values)
        if ints and all(b - a == 1 for a, b in itertools.pairwise(values)):
            out.add(key)
    return out


class WeightsInFile:
    """Does an ONNX file hold a parameter or buffer of the model (by name, or by value as stored
    or transposed, as TorchScript stores Linear weights under names of its own)?"""

    def __init__(self, model: onnx.ModelProto, tensors: dict[str, torch.Tensor]) -> None:
        self._tensors = tensors
        stored = [*model.graph.initializer]
        for node in model.graph.node:  # weights folded into Constant nodes
            if node.op_type == "Constant":
                stored += [a.t for a in node.attribute if a.name == "value" and a.t.dims]
        self._names = {t.name for t in stored if t.name}
        self._arrays: dict[int, np.ndarray | None] = {}
        self._by_size: dict[int, list[onnx.TensorProto]] = defaultdict(list)
        for t in stored:
            self._by_size[int(np.prod(t.dims, dtype=np.int64))].append(t)

    def holds(self, name: str, twins: Iterable[str] = ()) -> bool:
        """Whether the file holds the model's tensor ``name`` (a parameter or buffer path). By
        value only when it differs from each of its ``twins`` (the same tensor of alike
        siblings): an exporter keeps one copy of equal tensors, which then says nothing."""
        if name in self._names or any(n.endswith("." + name) for n in self._names):
            return True
        tensor = self._tensors[name]
        for twin in twins:
            other = self._tensors.get(twin)
            if other is not None and other.shape == tensor.shape and torch.equal(other, tensor):
                return False
        mine = tensor.detach().float().numpy()
        for stored in self._by_size.get(mine.size, []):
            value = self._array(stored)
            if value is None:
                continue
            if value.shape == mine.shape and np.array_equal(value, mine):
                return True
            if mine.ndim == 2 and value.shape == mine.T.shape and np.array_equal(value, mine.T):
                return True
        return False

    def _array(self, stored: onnx.TensorProto) -> np.ndarray | None:
        key = id(stored)
        if key not in self._arrays:
            value = numpy_helper.to_array(stored)
            self._arrays[key] = value.astype(np.float32) if value.dtype.kind == "f" else None
        return self._arrays[key]


def shape_arithmetic(model: onnx.ModelProto) -> frozenset[str]:
    """Keys (name, or ``main#<index>``) of the main graph's nodes that compute on shapes and
    constants only: ``Shape``, ``Size``, ``Constant``, and nodes whose every input is an integer
    initializer or an output of such a node. A float initializer is a weight, never shape
    arithmetic: DETR's first decoder layer attends over learned queries and zeros, all constant,
    and is counted."""
    derived = {t.name for t in model.graph.initializer if t.data_type in _INTEGER_TYPES}
    out = set()
    for index, node in enumerate(model.graph.node):
        inputs = [i for i in node.input if i]
        if node.op_type in _SHAPE_SOURCES or all(i in derived for i in inputs):
            derived.update(node.output)
            out.add(node.name or f"main#{index}")
    return frozenset(out)


_SHAPE_SOURCES = frozenset({"Shape", "Size", "Constant"})
_INTEGER_TYPES = frozenset(
    {
        onnx.TensorProto.INT64,
        onnx.TensorProto.INT32,
        onnx.TensorProto.INT16,
        onnx.TensorProto.INT8,
        onnx.TensorProto.UINT8,
    }
)


def check_siblings(
    report: HierarchyReport,
    groups: Iterable[SiblingGroup],
    model: torch.nn.Module,
    weights: WeightsInFile,
    not_counted: frozenset[str] = frozenset(),
) -> SiblingResult:
    """Compare the alike siblings of ``groups`` in one file (``report``, its ``weights``), leaving
    the nodes keyed in ``not_counted`` (its :func:`shape_arithmetic`) out of the counts."""
    result = SiblingResult()
    _NOT_COUNTED[id(report)] = not_counted
    modules = dict(model.named_modules())
    for group in groups:
        counts = {m: _count(report, m) for m in group.members}
        if not any(counts.values()):
            continue  # not in this file
        missing = {m: _left_out(m, modules[m], report, weights, counts) for m in group.members}
        ran = [m for m in group.members if "" not in missing[m]]
        result.unused += [m for m in group.members if "" in missing[m]]
        if len(ran) < 2:
            continue
        result.compared += 1
        by_pattern: dict[frozenset[str], list[str]] = defaultdict(list)
        for m in ran:
            by_pattern[missing[m]].append(m)
            if missing[m]:
                result.partial.append(f"{m}: not {', '.join(sorted(missing[m]))}")
        label = f"{group.container or '(root)'} ({group.class_name})"
        for members in by_pattern.values():
            _compare(label, {m: counts[m] for m in members}, result)
        patterns = list(by_pattern.values())
        for i, a in enumerate(patterns):
            for b in patterns[i + 1 :]:
                _compare_parts(label, a[0], b[0], missing, modules, report, result)
    _COUNTS.pop(id(report), None)
    _NOT_COUNTED.pop(id(report), None)
    return result


# Ops that compute nothing: the TorchScript exporter inserts Identity nodes for weights shared or
# deduplicated between modules, so their number says how weights are shared, not what a module does.
_NOT_COMPUTING = frozenset({"Identity"})
_COUNTS: dict[int, tuple[HierarchyReport, Counter[str]]] = {}
_NOT_COUNTED: dict[int, frozenset[str]] = {}


def _count(report: HierarchyReport, path: str) -> int:
    """The computing nodes tagged to ``path`` or below it."""
    cached = _COUNTS.get(id(report))
    if cached is None or cached[0] is not report:
        subtree: Counter[str] = Counter()
        skipped = _NOT_COUNTED.get(id(report), frozenset())
        for node in report.nodes:
            if node.op_type in _NOT_COMPUTING or node.key in skipped:
                continue
            module = node.module
            while True:
                subtree[module] += 1
                if not module:
                    break
                module = module.rpartition(".")[0]
        cached = _COUNTS[id(report)] = (report, subtree)
    return cached[1].get(path, 0)


def _left_out(
    path: str,
    module: torch.nn.Module,
    report: HierarchyReport,
    weights: WeightsInFile,
    counts: dict[str, int],
) -> frozenset[str]:
    """Relative paths (``""`` for the sibling itself) of the outermost submodules that did not run:
    no node, weights of their own, and none of them in the file. Only asked where an alike sibling
    has nodes in that submodule, so a fully alike group costs no weight look-up."""
    out: set[str] = set()
    for rel, sub in module.named_modules():
        if any(rel == o or rel.startswith(o + ".") or not o for o in out):
            continue
        full = f"{path}.{rel}" if rel else path
        if _count(report, full) or not _ran_elsewhere(rel, path, report, counts):
            continue
        names = [f"{rel}.{n}" if rel else n for n, _ in [*sub.named_parameters(), *sub.named_buffers()]]
        twins = [m for m in counts if m != path]
        if names and not any(weights.holds(f"{path}.{n}", [f"{t}.{n}" for t in twins]) for n in names):
            out.add(rel)
    return frozenset(out)


def _ran_elsewhere(rel: str, path: str, report: HierarchyReport, counts: dict[str, int]) -> bool:
    return any(_count(report, f"{m}.{rel}" if rel else m) for m in counts if m != path)


def _compare(label: str, found: dict[str, int], result: SiblingResult) -> None:
    if len(found) < 2:
        return
    low, high = min(found.values()), max(found.values())
    if high - low > SIBLING_TOLERANCE * high:
        shown = " ".join(f"{m.rsplit('.', 1)[-1]}={n}" for m, n in found.items())
        result.failures.append(f"{label}: {shown}")


def _compare_parts(
    label: str,
    a: str,
    b: str,
    missing: dict[str, frozenset[str]],
    modules: dict[str, torch.nn.Module],
    report: HierarchyReport,
    result: SiblingResult,
) -> None:
    """Compare ``a`` and ``b``, which left out different submodules, on each outermost submodule
    that neither left out, nor left anything out below, nor lies below what one left out."""
    out = missing[a] | missing[b]
    done: list[str] = []
    for rel, _ in modules[a].named_modules():
        if not rel or any(rel.startswith(d + ".") for d in done):
            continue
        if any(rel == o or o.startswith(rel + ".") or rel.startswith(o + ".") for o in out):
            continue
        done.append(rel)
        found = {m: _count(report, f"{m}.{rel}") for m in (a, b)}
        low, high = min(found.values()), max(found.values())
        if high - low > SIBLING_TOLERANCE * high:
            shown = " ".join(f"{m.rsplit('.', 1)[-1]}.{rel}={n}" for m, n in found.items())
            result.failures.append(f"{label}: {shown}")
