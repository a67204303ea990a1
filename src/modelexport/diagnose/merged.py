"""A merged decoder (one ``If`` on a boolean input runs the decoder with past or the first-step
decoder) as two standalone graphs, one per branch, so each is diffed like the file it replaced.

A branch reads the outer graph's inputs and initializers by name; its standalone graph takes the
outer inputs it reads (the flag aside), keeps the outer initializers and nodes, and returns its
values under the ``If``'s output names. Model Explorer shows a branch as the graph
``<If node name>/<then_branch|else_branch>``, which is the graph name each standalone graph gets
(its current ONNX adapter embeds both branches in the main graph, their node ids under that prefix).
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from ..graph import rename_values
from .runtime import Weights, graph_copy, reads

BRANCHES = ("then_branch", "else_branch")


@dataclass
class Branch:
    """One branch of a merged file as a standalone model (sharing the file's weights)."""

    attribute: str  # then_branch (with past) or else_branch (first step)
    graph_name: str  # as Model Explorer names the subgraph
    weights: Weights
    outer: list[int]  # the outer graph's nodes the standalone graph starts with (all but the If)


def _flag_if(graph: onnx.GraphProto) -> onnx.NodeProto | None:
    """The one ``If`` whose condition is a boolean graph input, if the file has exactly one."""
    flags = {i.name for i in graph.input if i.type.tensor_type.elem_type == onnx.TensorProto.BOOL}
    found = [n for n in graph.node if n.op_type == "If" and n.input and n.input[0] in flags]
    return found[0] if len(found) == 1 else None


def split_branches(weights: Weights) -> list[Branch]:
    """The branches of a merged decoder file; empty for any other file."""
    outer = weights.model.graph
    node = _flag_if(outer)
    if node is None:
        return []
    out = []
    for attribute in node.attribute:
        if attribute.name not in BRANCHES:
            continue
        model = graph_copy(weights.model)
        graph = model.graph
        body = attribute.g
        kept = [i for i, n in enumerate(outer.node) if n is not node]
        others = [outer.node[i] for i in kept]
        del graph.node[:]
        graph.node.extend([*others, *body.node])
        graph.initializer.extend(body.initializer)
        renames = {b.name: o for b, o in zip(body.output, node.output, strict=True)}
        rename_values(graph, renames)
        used = reads(graph)
        inputs = [i for i in outer.input if i.name in used and i.name != node.input[0]]
        del graph.input[:]
        graph.input.extend(inputs)
        del graph.output[:]
        graph.output.extend(onnx.ValueInfoProto(name=name) for name in node.output)
        graph.name = f"{node.name}/{attribute.name}"
        out.append(Branch(attribute.name, graph.name, Weights(model, weights.arrays), kept))
    return sorted(out, key=lambda b: BRANCHES.index(b.attribute), reverse=True)
