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


def every_graph(model: onnx.ModelProto) -> list[onnx.GraphProto]:
    """The main graph and every subgraph of its control-flow nodes, at any depth."""
    return [model.graph, *(sub for ref in walk(model.graph) for _, sub in subgraphs(ref.node))]


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


def _scalar(graph: onnx.GraphProto, name: str) -> float | None:
    """The value of a one-element float initializer or Constant output ``name``, else None."""
    from onnx import numpy_helper

    tensor = next((t for t in graph.initializer if t.name == name), None)
    if tensor is None:
        constant = next((n for n in graph.node if n.op_type == "Constant" and n.output[0] == name), None)
        tensor = next((a.t for a in constant.attribute if a.name == "value"), None) if constant else None
    if tensor is None:
        return None
    array = numpy_helper.to_array(tensor)
    return float(array.reshape(-1)[0]) if array.size == 1 and array.dtype.kind == "f" else None


def gelu_in_fusable_order(graph: onnx.GraphProto) -> int:
    """Rewrite ``x * (0.5 * (erf(..) + 1))`` as ``(x * (erf(..) + 1)) * 0.5``; returns how many.

    The same values bit for bit (multiplying by 0.5 is exact), in the order ONNX Runtime's Gelu
    fusion recognises: the dynamo exporter's erf GELU otherwise runs as five element-wise ops where
    TorchScript's becomes one BiasGelu kernel.
    """
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    changed = 0
    for half in graph.node:
        if half.op_type != "Mul" or len(half.input) != 2 or len(consumers[half.output[0]]) != 1:
            continue
        outer = consumers[half.output[0]][0]
        constant = next((i for i in half.input if _scalar(graph, i) == 0.5), None)
        if outer.op_type != "Mul" or constant is None:
            continue
        other = half.input[1] if half.input[0] == constant else half.input[0]
        add = producer.get(other)
        if add is None or add.op_type != "Add":
            continue
        if not any((p := producer.get(i)) is not None and p.op_type == "Erf" for i in add.input):
            continue
        x = outer.input[1] if outer.input[0] == half.output[0] else outer.input[0]
        half.input[:] = [x, other]
        outer.input[:] = [half.output[0], constant]
        changed += 1
    return changed


def literal_reshapes(model: onnx.ModelProto) -> int:
    """Mark every ``Reshape`` to a computed shape ``allowzero=1``; returns how many (0 before opset 14).

    In PyTorch a 0 in a view's size is a literal 0 (an empty dimension); ONNX's ``Reshape`` reads it
    as "copy the input's size here" unless ``allowzero`` is set. TorchScript's exporter leaves it
    unset, so a size computed from the inputs that is 0 at run time only (LongT5's global blocks for
    inputs shorter than one block) fails or reshapes wrongly. Shapes that are initializers or
    ``Constant`` outputs are left as the exporter wrote them.
    """
    if next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0) < 14:
        return 0
    changed = 0
    for graph in every_graph(model):
        constant = {t.name for t in graph.initializer}
        constant.update(n.output[0] for n in graph.node if n.op_type == "Constant")
        for node in graph.node:
            if node.op_type != "Reshape" or len(node.input) < 2 or node.input[1] in constant:
                continue
            kept = [a for a in node.attribute if a.name != "allowzero"]
            del node.attribute[:]
            node.attribute.extend([*kept, onnx.helper.make_attribute("allowzero", 1)])
            changed += 1
    return changed


def drop_intermediate_shapes(model: onnx.ModelProto) -> int:
    """Remove ``value_info`` (shapes of intermediate values) from every graph; returns how many.

    With them, ONNX Runtime knows every value's shape and fuses a residual ``Add`` and its
    ``LayerNormalization`` into ``SkipLayerNormalization`` when a session loads the file, and that
    CPU kernel is a scalar loop, 4-11x slower than the two ops (docs/optimize.md). Without them, as in
    TorchScript's graphs (Optimum's included), its own shape inference stops at reshapes to computed
    shapes (attention's output) and the two ops stay.
    """
    removed = 0
    for graph in every_graph(model):
        removed += len(graph.value_info)
        del graph.value_info[:]
    return removed


_INT64_MIN = -(2**63)


def _ints(graph: onnx.GraphProto, name: str) -> list[int] | None:
    """The values of an integer initializer or Constant output ``name``, else None."""
    from onnx import numpy_helper

    tensor = next((t for t in graph.initializer if t.name == name), None)
    if tensor is None:
        constant = next((n for n in graph.node if n.op_type == "Constant" and n.output[0] == name), None)
        tensor = next((a.t for a in constant.attribute if a.name == "value"), None) if constant else None
    if tensor is None:
        return None
    array = numpy_helper.to_array(tensor)
    return [int(v) for v in array.reshape(-1)] if array.dtype.kind == "i" else None


def _shape_slice(
    graph: onnx.GraphProto, producer: dict[str, onnx.NodeProto], value: str, of: str
) -> tuple[list[int] | None, list[int] | None] | None:
    """(starts, ends) when ``value`` is ``Slice(Shape(of), starts, ends)`` on axis 0, else None."""
    node = producer.get(value)
    if node is None or node.op_type != "Slice" or len(node.input) < 3:
        return None
    shape = producer.get(node.input[0])
    if shape is None or shape.op_type != "Shape" or shape.input[0] != of:
        return None
    if any(a.name != "start" or a.i != 0 for a in shape.attribute):
        return None
    if len(node.input) > 3 and node.input[3] and _ints(graph, node.input[3]) != [0]:
        return None
    return _ints(graph, node.input[1]), _ints(graph, node.input[2])


def _is_swap_of_last_two(
    graph: onnx.GraphProto, producer: dict[str, onnx.NodeProto], flat: onnx.NodeProto, back: onnx.NodeProto
) -> bool:
    """``flat``'s shape is ``[-1, d[-2], d[-1]]`` and ``back``'s ``[*d[:-2], d[-1], d[-2]]``, with
    ``d`` the shape of ``flat``'s input."""
    x = flat.input[0]
    first, second = producer.get(flat.input[1]), producer.get(back.input[1])
    if first is None or second is None or (first.op_type, second.op_type) != ("Concat", "Concat"):
        return False
    if len(first.input) != 3 or len(second.input) != 3 or _ints(graph, first.input[0]) != [-1]:
        return False
    d2, d1 = (
        _shape_slice(graph, producer, first.input[1], x),
        _shape_slice(graph, producer, first.input[2], x),
    )
    lead = _shape_slice(graph, producer, second.input[0], x)
    return (
        d2 == ([-2], [-1])
        and d1 is not None
        and d1[0] == [-1]
        and lead is not None
        and lead[0] in ([0], [_INT64_MIN])
        and lead[1] == [-2]
        and list(second.input[1:]) == [first.input[2], first.input[1]]
    )


def _rank(graph: onnx.GraphProto, producer: dict[str, onnx.NodeProto], value: str) -> int | None:
    for info in [*graph.value_info, *graph.input]:
        if info.name == value and info.type.tensor_type.HasField("shape"):
            return len(info.type.tensor_type.shape.dim)
    node = producer.get(value)
    perm = [list(a.ints) for a in node.attribute if a.name == "perm"] if node is not None else []
    return len(perm[0]) if node is not None and node.op_type == "Transpose" and perm else None


def transpose_last_two_in_one_op(model: onnx.ModelProto) -> int:
    """Rewrite ``Reshape(Transpose(Reshape(x, [-1, d-2, d-1]), [0, 2, 1]), [*d[:-2], d-1, d-2])``
    as one ``Transpose(x)`` swapping the last two axes; returns how many (unused nodes removed).

    The same values. The dynamo exporter writes attention's ``key.transpose(-2, -1)`` this rank-free
    way, with a ``Shape``, three ``Slice``s and two ``Concat``s around it; ONNX Runtime then cannot
    fold the transpose into the ``MatMul`` and the ViT export ran 1.07x Optimum's (docs/optimize.md).
    Run before intermediate shapes are dropped (the rank of ``x`` comes from them).
    """
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    replaced: list[onnx.NodeProto] = []
    for back in graph.node:
        swap = producer.get(back.input[0]) if back.op_type == "Reshape" else None
        if swap is None or swap.op_type != "Transpose":
            continue
        if [list(a.ints) for a in swap.attribute if a.name == "perm"] != [[0, 2, 1]]:
            continue
        flat = producer.get(swap.input[0])
        if flat is None or flat.op_type != "Reshape" or not _is_swap_of_last_two(graph, producer, flat, back):
            continue
        rank = _rank(graph, producer, flat.input[0])
        if rank is None or rank < 2:
            continue
        replaced += [swap, producer[back.input[1]]]
        back.op_type = "Transpose"
        back.input[:] = [flat.input[0]]
        del back.attribute[:]
        back.attribute.append(onnx.helper.make_attribute("perm", [*range(rank - 2), rank - 1, rank - 2]))
    if replaced:
        _remove_unused(model, replaced, producer)
    return len(replaced) // 2


def _remove_unused(
    model: onnx.ModelProto, roots: list[onnx.NodeProto], producer: dict[str, onnx.NodeProto]
) -> None:
    """Drop ``roots`` and the main-graph nodes upstream of them once nothing reads their outputs
    (subgraphs' reads of outer values count), and the initializers only they read."""
    graph = model.graph
    outputs = {o.name for o in graph.output}

    def reads(nodes: list[onnx.NodeProto]) -> set[str]:
        found = set(outputs)
        for node in nodes:
            found.update(node.input)
            for _, sub in subgraphs(node):
                found.update(v for ref in walk(sub) for v in ref.node.input)
        return found

    alive = list(graph.node)
    gone: set[tuple[str, ...]] = set()  # outputs of removed nodes (unique: a graph is in SSA form)
    removed_reads: set[str] = set()
    pending = list(roots)
    while pending:
        used = reads(alive)
        dead = [
            n for n in pending if tuple(n.output) not in gone and not any(o in used for o in n.output if o)
        ]
        gone.update(tuple(n.output) for n in dead)
        alive = [n for n in alive if tuple(n.output) not in gone]
        removed_reads.update(v for n in dead for v in n.input)
        pending = [producer[v] for n in dead for v in n.input if v in producer]
    kept_nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in alive]
    del graph.node[:]
    graph.node.extend(kept_nodes)
    used = reads(kept_nodes)
    kept = [t for t in graph.initializer if t.name in used or t.name not in removed_reads]
    if len(kept) != len(graph.initializer):
        del graph.initializer[:]
        graph.initializer.extend(kept)
