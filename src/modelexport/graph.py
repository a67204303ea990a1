"""ONNX graphs: every node of a model (subgraphs included) and its neighbours, and the edits the
pipeline makes to a captured graph (value names, dynamic axis names, node metadata)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import onnx

from .common import IOSpec
from .errors import UserInputError

MAIN = "main"


def read_model(path: Path) -> onnx.ModelProto:
    """The graph of the ONNX model at ``path`` (external data not read), or a one-line
    :class:`UserInputError` for anything that is not one (empty, truncated, random bytes)."""
    hint = "pass an ONNX model file (model.onnx) or an export directory."
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise UserInputError(f"'{path}' is not an ONNX model ({type(e).__name__}).", hint=hint) from e
    if model.ir_version <= 0 or not model.opset_import or not model.graph.node:
        raise UserInputError(f"'{path}' is not an ONNX model (no graph, IR version or opset).", hint=hint)
    return model


@dataclass(frozen=True)
class NodeRef:
    """A node and where it lives: ``graph`` is ``main`` or ``<main>/<If node>/<then_branch>/...``."""

    index: int  # position in the flat walk
    graph: str
    node: onnx.NodeProto
    parent: int | None  # flat index of the control-flow node owning this subgraph


def subgraphs(node: onnx.NodeProto) -> Iterator[tuple[str, onnx.GraphProto]]:
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.name, attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            for i, g in enumerate(attr.graphs):
                yield f"{attr.name}.{i}", g


def walk(graph: onnx.GraphProto | onnx.FunctionProto) -> list[NodeRef]:
    """All nodes, depth first: a control-flow node is followed by its subgraphs' nodes."""
    out: list[NodeRef] = []

    def visit(g: onnx.GraphProto | onnx.FunctionProto, where: str, parent: int | None) -> None:
        for node in g.node:
            ref = NodeRef(len(out), where, node, parent)
            out.append(ref)
            for attr_name, sub in subgraphs(node):
                visit(sub, f"{where}/{node.name or ref.index}/{attr_name}", ref.index)

    visit(graph, MAIN, None)
    return out


def node_keys(refs: list[NodeRef]) -> list[str]:
    """A unique key per node: its name, or ``<graph>#<index>`` when the name is empty or repeated."""
    counts: dict[str, int] = defaultdict(int)
    for ref in refs:
        counts[ref.node.name] += 1
    return [
        ref.node.name if ref.node.name and counts[ref.node.name] == 1 else f"{ref.graph}#{ref.index}"
        for ref in refs
    ]


def neighbours(refs: list[NodeRef]) -> tuple[list[list[int]], list[list[int]]]:
    """(consumers, producers) of every node by flat index; a subgraph's use of an outer value counts."""
    producer: dict[str, int] = {}
    for ref in refs:
        for out in ref.node.output:
            if out:
                producer[out] = ref.index
    consumers: list[list[int]] = [[] for _ in refs]
    producers: list[list[int]] = [[] for _ in refs]
    for ref in refs:
        for name in ref.node.input:
            source = producer.get(name) if name else None
            if source is not None and source != ref.index:
                consumers[source].append(ref.index)
                producers[ref.index].append(source)
    return consumers, producers


def rename_values(graph: onnx.GraphProto, renames: dict[str, str]) -> None:
    """Rename graph inputs/outputs and every reference to them, subgraphs included."""
    for value in (*graph.input, *graph.output, *graph.value_info):
        value.name = renames.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
        for _, sub in subgraphs(node):
            rename_values(sub, renames)


def name_dynamic_axes(model: onnx.ModelProto, io: IOSpec) -> None:
    """Rename symbolic dims the exporter chose (``s59``) to the names in ``io`` throughout the graph.

    The dynamo exporter names only the axes it was asked to keep dynamic; axes it was allowed to
    decide on (height, width) come out as ``sN``. A no-op for graphs already named as ``io`` says.
    """
    renames: dict[str, str] = {}
    by_name = {v.name: v for v in (*model.graph.input, *model.graph.output)}
    for spec in (*io.inputs, *io.outputs):
        value = by_name.get(spec.name)
        if value is None:
            continue
        dims = value.type.tensor_type.shape.dim
        for axis, name in spec.axes.items():
            if axis < len(dims) and dims[axis].dim_param and dims[axis].dim_param != name:
                renames.setdefault(dims[axis].dim_param, name)
    if not renames:
        return
    for value in (*model.graph.input, *model.graph.output, *model.graph.value_info):
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in renames:
                dim.dim_param = renames[dim.dim_param]


def _node_metadata(model: onnx.ModelProto) -> Iterator[onnx.StringStringEntryProto]:
    for g in [model.graph, *model.functions]:
        for ref in walk(g):
            yield from ref.node.metadata_props


# A Python object's default repr, ``<function sym_min at 0x7f3a...>``: the address part.
_ADDRESS = re.compile(r"(<[^<>]*?) at 0x[0-9a-fA-F]+>")


def without_addresses(model: onnx.ModelProto) -> int:
    """Drop memory addresses from node metadata; returns how many values changed.

    The dynamo exporter writes the repr of each Python function a graph calls (``torch.sym_min`` in
    DeBERTa's attention) into ``pkg.torch.onnx.class_hierarchy``, address included. The address
    differs from process to process, so the same model exported twice gave two different files;
    without it, the export is reproducible byte for byte. What the entry names is kept.
    """
    changed = 0
    for prop in _node_metadata(model):
        value = _ADDRESS.sub(r"\1>", prop.value)
        if value != prop.value:
            prop.value = value
            changed += 1
    return changed


STACK_TRACE = "pkg.torch.onnx.stack_trace"
_TRACE_FILE = re.compile(r'File "([^"]+)"')


def _portable(path: str) -> str:
    """A source file as a reader anywhere can place it: from the installed package on
    (``transformers/models/t5/modeling_t5.py``), else its name alone (no user's directories)."""
    for marker in ("site-packages/", "dist-packages/", "transformers_modules/"):
        if marker in path:
            return path.rsplit(marker, 1)[1]
    return path.rsplit("/", 1)[-1]


def portable_stack_traces(model: onnx.ModelProto) -> int:
    """Rewrite the file paths of the dynamo exporter's per-node stack traces with :func:`_portable`
    (they named this machine's virtual environment); returns how many traces changed."""
    changed = 0
    for prop in _node_metadata(model):
        if prop.key == STACK_TRACE:
            value = _TRACE_FILE.sub(lambda m: f'File "{_portable(m.group(1))}"', prop.value)
            if value != prop.value:
                prop.value = value
                changed += 1
    return changed


def strip_node_metadata(model: onnx.ModelProto) -> int:
    """Remove every node's ``metadata_props`` (ours and the exporter's), subgraphs and functions
    included; returns how many entries were removed."""
    removed = 0
    for g in [model.graph, *model.functions]:
        for ref in walk(g):
            removed += len(ref.node.metadata_props)
            del ref.node.metadata_props[:]
    return removed
