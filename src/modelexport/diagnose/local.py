"""The local run: every module's nodes re-run on PyTorch's values at the module boundaries.

One edited copy of the graph does it for every module at once: each boundary value that has a
PyTorch counterpart becomes a graph input fed with PyTorch's tensor (every node reading it reads
PyTorch's), and the node that made it still computes it, now under ``<name>::local``, from inputs
that are themselves PyTorch's. The difference between ``<name>::local`` and PyTorch's value is the
error the nodes between the nearest boundaries and that value make, with nothing carried in.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx

from ..graph import subgraphs
from .runtime import elem_type, graph_copy

LOCAL_SUFFIX = "::local"


def _outer_uses(node: onnx.NodeProto) -> list[str]:
    used: list[str] = []
    for _, graph in subgraphs(node):
        for inner in graph.node:
            used += [*inner.input, *_outer_uses(inner)]
    return used


def _prune(graph: onnx.GraphProto) -> None:
    """Drop the nodes no output of ``graph`` depends on."""
    needed = {o.name for o in graph.output}
    keep: list[onnx.NodeProto] = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(n for n in (*node.input, *_outer_uses(node)) if n)
    del graph.node[:]
    graph.node.extend(reversed(keep))


def cut_model(
    model: onnx.ModelProto, fed: Mapping[str, np.ndarray]
) -> tuple[onnx.ModelProto, dict[str, str]]:
    """A copy of ``model`` where each node-made value in ``fed`` is read from a graph input of its
    name and recomputed as ``<name>::local`` (an output); returns it and value -> local output."""
    out = graph_copy(model)
    graph = out.graph
    made = {o for node in graph.node for o in node.output if o}
    local = {v: v + LOCAL_SUFFIX for v in fed if v in made}
    for node in graph.node:
        node.output[:] = [local.get(o, o) for o in node.output]
    kept_info = [v for v in graph.value_info if v.name not in local]
    del graph.value_info[:]
    graph.value_info.extend(kept_info)
    for value in local:
        graph.input.append(onnx.helper.make_tensor_value_info(value, elem_type(fed[value]), None))
    del graph.output[:]
    graph.output.extend(onnx.ValueInfoProto(name=name) for name in local.values())
    _prune(graph)
    return out, local
