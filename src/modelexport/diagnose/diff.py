"""One file of an export against PyTorch, module by module.

PyTorch runs the file's traced module on one of the check input sets the exporter verified on,
with every module hooked (:mod:`.hooks`); ONNX Runtime runs the file with every module boundary
exposed (:mod:`.boundaries`), and again with PyTorch's values fed at those boundaries
(:mod:`.local`). Each module's boundary values are paired with its PyTorch tensors (:mod:`.match`)
and compared (:mod:`.compare`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from ..errors import UserInputError, first_line
from ..hierarchy.modules import within
from ..parts import Feeds, Part
from ..verify import part_window_defined
from ..wrappers import TracedModule
from . import runtime
from .boundaries import Boundaries, ancestors, find_boundaries
from .compare import Error, Positions, error, worst
from .hooks import Call, Recording, record
from .local import cut_model
from .match import Arrays, Counterpart, Dataflow, match_module, references
from .report import FedInput, Found, ModuleDiff, PartDiff, RunFailureError
from .stops import locate
from .tags import node_modules


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float


def _position_ids(feeds: Feeds) -> np.ndarray:
    """0..length-1 per row: what the matrix's checks feed a file that takes ``position_ids`` the
    model would otherwise derive itself."""
    ids = feeds["input_ids"]
    return np.broadcast_to(np.arange(ids.shape[-1], dtype=np.int64), tuple(ids.shape)).copy()


def graph_feeds(graph: onnx.GraphProto, feeds: Feeds, file: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """The file's inputs from the check's feeds, and the names derived here (not given to PyTorch)."""
    initializers = {i.name for i in graph.initializer}
    out: dict[str, np.ndarray] = {}
    derived: list[str] = []
    for value in graph.input:
        name = value.name
        if name in initializers:
            continue
        if name in feeds:
            out[name] = feeds[name].numpy()
        elif name == "position_ids" and "input_ids" in feeds:
            out[name] = _position_ids(feeds)
            derived.append(name)
        elif name == "token_type_ids" and "input_ids" in feeds:  # the model's own default: zeros
            out[name] = np.zeros(tuple(feeds["input_ids"].shape), dtype=np.int64)
            derived.append(name)
        else:
            raise UserInputError(
                f"{file} takes an input '{name}' that this task's inputs do not have.",
                hint="pass the --task the file was exported for.",
            )
    return out, derived


def _shapes(feeds: Feeds) -> str:
    return ", ".join(f"{k} {'×'.join(map(str, v.shape))}" for k, v in feeds.items())


def _positions(part: Part, feeds: Feeds) -> Positions | None:
    """Where values are defined: a decoder's unpadded positions; a sliding-window model's positions
    with a real token in their window (:func:`modelexport.verify.window_defined`); else everywhere."""
    if "attention_mask" not in feeds or "input_ids" not in feeds:
        return None
    mask = feeds["attention_mask"].numpy()
    if part.role != "decoder":
        defined = part_window_defined(part, mask)
        return None if defined is None else Positions(defined, int(mask.shape[-1]))
    return Positions(mask, int(feeds["input_ids"].shape[-1]))


def _known_modules(model: torch.nn.Module) -> dict[str, str]:
    """Every name of every module (tied aliases too) -> its canonical (first) name."""
    canonical = {id(m): p for p, m in model.named_modules()}
    return {p: canonical[id(m)] for p, m in model.named_modules(remove_duplicate=False)}


@dataclass
class _Runs:
    """Everything measured for one file: PyTorch's calls, both ONNX Runtime runs and the pairs."""

    recording: Recording
    graph: onnx.GraphProto
    reference: dict[str, np.ndarray]
    bounds: Boundaries
    values: dict[str, np.ndarray]
    local: dict[str, np.ndarray]
    counterparts: list[Counterpart]
    fed: dict[str, Counterpart]
    derived: list[str]
    notes: list[str] = field(default_factory=list)


Recorded = tuple[Any, Recording]  # PyTorch's result and its recorded calls


def _traced(part: Part) -> TracedModule:
    if not isinstance(part.module, TracedModule):
        raise TypeError(f"{part.file}'s module is a {type(part.module).__name__}, not a TracedModule")
    return part.module


def record_part(part: Part, check: str) -> Recorded:
    """PyTorch's run of ``part``'s traced module on its ``check`` inputs, every module hooked."""
    feeds, traced = part.checks[check], _traced(part)
    return record(traced.model, lambda: traced.run(feeds))


def _measure(
    part: Part, weights: runtime.Weights, sidecar: Path | None, feeds: Feeds, recorded: Recorded
) -> tuple[_Runs, str]:
    model = _traced(part).model
    result, recording = recorded
    reference = {n: t.detach().cpu().numpy() for n, t in zip(part.io.output_names, result, strict=True)}
    graph = weights.model.graph
    known = _known_modules(model)
    paths, tag_source = node_modules(graph, sidecar, known, {c.path for c in recording.calls})
    bounds = find_boundaries(graph, paths, {c.path for c in recording.calls})
    onnx_feeds, derived = graph_feeds(graph, feeds, part.file)
    exposed = [v for v in bounds.values() if v not in onnx_feeds]
    outputs = list(dict.fromkeys([*bounds.graph_outputs, *exposed]))
    try:
        full = runtime.run(
            runtime.session(weights, runtime.expose(weights.model, exposed)), onnx_feeds, outputs
        )
    except Exception as e:
        stop = locate(graph, paths, onnx_feeds, e, part.file)
        where = (
            f"it stops at {stop.op} node '{stop.node}' of module '{stop.module or '(the model itself)'}'"
            if stop.module is not None
            else f"it refuses input '{stop.input}'"
            if stop.input
            else "it fails"
        )
        raise RunFailureError(
            f"ONNX Runtime cannot run {part.file} on these inputs ({_shapes(feeds)}): {where}: {stop.message}",
            stop,
            hint="the file does not run where PyTorch does; re-export it (modelexport export verifies this).",
        ) from e
    values = {**onnx_feeds, **full}
    arrays = Arrays()
    flow = Dataflow(recording, set(bounds.modules), list(feeds.values()))
    made_by = {v: bounds.made_by(v) for v in values}
    given = set(onnx_feeds) - set(derived)
    counterparts = [
        c
        for path, calls in recording.by_path().items()
        if path in bounds.modules
        for c in match_module(bounds.modules[path], calls, values, arrays, given, flow, made_by)
    ]
    fed = references(counterparts, bounds)
    runs = _Runs(recording, graph, reference, bounds, values, {}, counterparts, fed, derived)
    cut, names = cut_model(weights.model, {v: c.array for v, c in fed.items()})
    local_feeds = {**onnx_feeds, **{v: c.array for v, c in fed.items()}}
    try:
        local = runtime.run(runtime.session(weights, cut), local_feeds, list(names.values()))
    except Exception as e:  # reported: the diff stands without local errors
        runs.notes.append(
            f"the local run failed, so no local errors: {type(e).__name__}: {first_line(e, 200)}"
        )
        return runs, tag_source
    runs.local = {v: local[n] for v, n in names.items()}
    return runs, tag_source


class _Errors:
    """Errors of the full run, each (value, PyTorch array) pair compared once."""

    def __init__(self, runs: _Runs, tol: Tolerance, positions: Positions | None) -> None:
        self.runs, self.tol, self.positions = runs, tol, positions
        self._cache: dict[tuple[str, int], Error] = {}

    def __call__(self, c: Counterpart) -> Error:
        key = (c.value, id(c.array))
        if key not in self._cache:
            got = self.runs.values[c.value]
            self._cache[key] = error(c.array, got, self.tol.atol, self.tol.rtol, self.positions)
        return self._cache[key]


def _creator(runs: _Runs, c: Counterpart) -> str | None:
    """The module whose code made the PyTorch value of a derived graph input."""
    call = runs.recording.calls[c.call]
    tensor = next((t for n, t in (call.inputs if c.role == "input" else call.outputs) if n == c.name), None)
    return runs.recording.creator(tensor, call) if tensor is not None and c.role == "input" else c.module


def _value_errors(runs: _Runs, tol: Tolerance, positions: Positions | None) -> dict[str, tuple[Error, str]]:
    """Local error per fed value and the module it is charged to (the module whose nodes made it; for
    a derived graph input, the module whose PyTorch code made it)."""
    out: dict[str, tuple[Error, str]] = {}
    for value, c in runs.fed.items():
        if value in runs.local:
            made_by = runs.bounds.made_by(value)
            out[value] = (error(c.array, runs.local[value], tol.atol, tol.rtol, positions), made_by or "")
        elif value in runs.derived:
            charged = _creator(runs, c)
            out[value] = (error(c.array, runs.values[value], tol.atol, tol.rtol, positions), charged or "")
    return out


def _module_rows(runs: _Runs, full: _Errors, local_errors: dict[str, tuple[Error, str]]) -> list[ModuleDiff]:
    by_path: dict[str, list[Call]] = runs.recording.by_path()
    mine: dict[str, list[Counterpart]] = {}
    for c in runs.counterparts:
        mine.setdefault(c.module, []).append(c)
    rows: list[ModuleDiff] = []
    for path, boundary in runs.bounds.modules.items():
        calls = by_path.get(path, [])
        first = calls[0] if calls else None
        row = ModuleDiff(
            path=path,
            class_name=first.class_name if first else "?",
            order=first.start if first else len(runs.recording.calls),
            end=first.end if first else len(runs.recording.calls),
            calls=len(calls),
            nodes=boundary.nodes,
        )
        outs = [(c.value, full(c)) for c in mine.get(path, []) if c.role == "output"]
        ins = [full(c) for c in mine.get(path, []) if c.role == "input"]
        row.output, row.input = worst([e for _, e in outs]), worst(ins)
        row.outputs_compared = len(outs)
        row.outputs_unpaired = len(boundary.outputs) - len(outs)
        row.worst_output = max(outs, key=lambda o: o[1].max_abs)[0] if outs else None
        row.local = worst([e for e, owner in local_errors.values() if within(owner, path)])
        rows.append(row)
    rows.sort(key=lambda r: r.order)
    return rows


def _innermost_earliest(flagged: list[ModuleDiff]) -> ModuleDiff | None:
    paths = {m.path for m in flagged}
    inner = [m for m in flagged if not any(p != m.path and within(p, m.path) for p in paths)]
    return min(inner, key=lambda m: (m.end, m.order)) if inner else None


def first_divergent(rows: list[ModuleDiff]) -> tuple[str | None, Found | None]:
    """The module the error starts in: by local error first, else by outputs beyond tolerance with
    inputs within it (see :mod:`.report`). A local error counts only where the module's own
    outputs diverge too (or were not compared): a module whose ONNX outputs match PyTorch's made no
    error, whatever its nodes give on PyTorch's inputs (a value paired with the wrong tensor, as in
    Funnel's attention, which reads position encodings computed once for every layer)."""
    hit = _innermost_earliest(
        [m for m in rows if m.local is not None and not m.local.ok and (m.output is None or not m.output.ok)]
    )
    if hit is not None:
        return hit.path, "local"
    carried = [
        m for m in rows if m.output is not None and not m.output.ok and (m.input is None or m.input.ok)
    ]
    hit = _innermost_earliest(carried)
    return (hit.path, "output") if hit is not None else (None, None)


def _node_errors(runs: _Runs, full: _Errors, rows: list[ModuleDiff]) -> list[float | None]:
    """Per node of the graph, in order: the error of its output where that is a compared value,
    else its module's output error (the innermost module on its path that has one)."""
    by_module = {m.path: m.output.max_abs for m in rows if m.output is not None}
    known = set(runs.bounds.modules)
    out: list[float | None] = []
    for index, node in enumerate(runs.graph.node):
        compared = [full(runs.fed[o]).max_abs for o in node.output if o in runs.fed]
        if compared:
            out.append(max(compared))
            continue
        path = runs.bounds.node_module[index]
        owner = next((p for p in ancestors(path, known) if p in by_module), None)
        out.append(by_module[owner] if owner is not None else None)
    return out


def diff_part(
    part: Part,
    weights: runtime.Weights,
    sidecar: Path | None,
    check: str,
    tol: Tolerance,
    file: str | None = None,
    branch: str | None = None,
    outer: list[int] | None = None,
) -> PartDiff:
    """Diff one graph of an export (a file, or one branch of a merged file) on ``part``'s ``check``
    inputs; ``outer``: for a branch, the outer graph's nodes its graph starts with."""
    feeds = part.checks[check]
    runs, tag_source = _measure(part, weights, sidecar, feeds, record_part(part, check))
    positions = _positions(part, feeds)
    outputs = {
        name: error(ref, runs.values[name], tol.atol, tol.rtol, positions)
        for name, ref in runs.reference.items()
        if name in runs.values
    }
    value_errors = _value_errors(runs, tol, positions)
    full = _Errors(runs, tol, positions)
    rows = _module_rows(runs, full, value_errors)
    path, found = first_divergent(rows)
    derived = [
        FedInput(
            n,
            value_errors[n][1] if n in value_errors else None,
            value_errors[n][0] if n in value_errors else None,
        )
        for n in runs.derived
    ]
    return PartDiff(
        file=file or part.file,
        branch=branch,
        role=part.role,
        check=check,
        tags=tag_source,  # type: ignore[arg-type]
        input_shapes={k: list(v.shape) for k, v in feeds.items()},
        outputs=outputs,
        modules=rows,
        first_divergent_module=path,
        found_by=found,
        derived_inputs=derived,
        outer_nodes=outer or [],
        notes=runs.notes,
        node_errors=_node_errors(runs, full, rows),
    )
