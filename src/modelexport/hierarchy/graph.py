"""The ONNX side of tagging: every node of a model, subgraphs included, and its neighbours."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import onnx

MAIN = "main"


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
