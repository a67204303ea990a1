"""Module boundaries in an ONNX graph, from the module each node is tagged with.

A module's *outputs* are the values its nodes (its submodules' included) produce and the rest of the
graph consumes (or the graph returns); its *inputs* are the values its nodes consume that were made
outside it (graph inputs included, initializers and constants left out). These are the values a
diff exposes, compares with PyTorch and, in the local run, replaces by PyTorch's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import onnx

from ..graph import subgraphs

ROOT = ""
GRAPH_INPUT = -1  # the producer of a graph input


def within(path: str, ancestor: str) -> bool:
    """``path`` is ``ancestor`` or lies below it (everything lies within the root)."""
    return not ancestor or path == ancestor or path.startswith(ancestor + ".")


def ancestors(path: str, known: set[str]) -> list[str]:
    """``path`` and every known module above it, innermost first, the root last."""
    chain = [path]
    parts = path.split(".") if path else []
    for end in range(len(parts) - 1, 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            chain.append(candidate)
    if path:
        chain.append(ROOT)
    return chain


@dataclass
class ModuleBoundary:
    """The values crossing one module's edge, in graph order."""

    path: str
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    nodes: int = 0  # nodes tagged with the module itself or a submodule


@dataclass
class Boundaries:
    """Every module's boundary, and who makes each value (node index, or GRAPH_INPUT)."""

    modules: dict[str, ModuleBoundary]
    producer: dict[str, int]
    consumers: dict[str, list[int]]
    node_module: list[str]
    graph_inputs: list[str]
    graph_outputs: list[str]

    def made_by(self, value: str) -> str | None:
        """The module of the node producing ``value``; None for a graph input."""
        index = self.producer.get(value, GRAPH_INPUT)
        return None if index == GRAPH_INPUT else self.node_module[index]

    def values(self) -> list[str]:
        """Every boundary value, in graph order of their producers (graph inputs first)."""
        seen = {v for b in self.modules.values() for v in (*b.inputs, *b.outputs)}
        return [v for v in self.producer if v in seen]


def _outer_uses(node: onnx.NodeProto) -> set[str]:
    """Values a control-flow node's subgraphs read from the enclosing graph."""
    used: set[str] = set()
    for _, graph in subgraphs(node):
        made = {i.name for i in graph.input} | {i.name for i in graph.initializer}
        for inner in graph.node:
            used.update(n for n in inner.input if n and n not in made)
            used.update(_outer_uses(inner) - made)
            made.update(inner.output)
    return used


def _links(graph: onnx.GraphProto) -> tuple[dict[str, int], dict[str, list[int]]]:
    producer: dict[str, int] = {i.name: GRAPH_INPUT for i in graph.input}
    consumers: dict[str, list[int]] = {}
    for index, node in enumerate(graph.node):
        for name in dict.fromkeys([*node.input, *sorted(_outer_uses(node))]):
            if name:
                consumers.setdefault(name, []).append(index)
        if node.op_type != "Constant":
            producer.update((o, index) for o in node.output if o)
    return producer, consumers


def _add(table: dict[str, ModuleBoundary], paths: Iterable[str], value: str, role: str) -> None:
    for path in paths:
        values = getattr(table.setdefault(path, ModuleBoundary(path)), role)
        if value not in values:
            values.append(value)


def _below(chain: list[str], other: str) -> list[str]:
    """The modules of ``chain`` that do not contain ``other``."""
    return [p for p in chain if not within(other, p)]


def find_boundaries(graph: onnx.GraphProto, node_module: Sequence[str], known: set[str]) -> Boundaries:
    """The boundary of every module with nodes in ``graph`` (main graph; a control-flow node counts as
    one node of its module). ``known``: every module path of the model."""
    producer, consumers = _links(graph)
    known = known | set(node_module)
    chains = {p: ancestors(p, known) for p in set(node_module)}
    table: dict[str, ModuleBoundary] = {}
    for path in node_module:
        for p in chains[path]:
            table.setdefault(p, ModuleBoundary(p)).nodes += 1
    outputs = [o.name for o in graph.output]
    for value, index in producer.items():
        users = [node_module[i] for i in consumers.get(value, [])]
        made = chains[node_module[index]] if index != GRAPH_INPUT else []
        for user in users:
            _add(table, _below(made, user), value, "outputs")
            source = node_module[index] if index != GRAPH_INPUT else None
            _add(table, chains[user] if source is None else _below(chains[user], source), value, "inputs")
        if value in outputs:
            _add(table, made, value, "outputs")
    return Boundaries(
        modules=table,
        producer=producer,
        consumers=consumers,
        node_module=list(node_module),
        graph_inputs=[i.name for i in graph.input],
        graph_outputs=outputs,
    )
