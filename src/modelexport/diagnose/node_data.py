"""Per-node error in Model Explorer's node-data JSON, so the error shows on the layered graph.

The format is Model Explorer's ``ModelNodeData`` (``model_explorer.node_data_builder``): per graph
id, ``results`` keyed by node id with a numeric ``value``, and ``thresholds`` colouring values by
how they compare with the tolerance. Ids are the ones Model Explorer's ONNX adapter
(``model-explorer-onnx``) gives: the graph's name; a node's name after onnx_ir's ``NameFixPass``
(unnamed and duplicate names made unique); a merged decoder's branch nodes embedded in the main
graph as ``<If name>/<branch>/<node name>``. A node's value is the max absolute error of its output
against PyTorch where that output is a module boundary, else the output error of its module (the
innermost one compared). Model Explorer opens one ONNX file at a time and every file of an export
may name its graph alike, so a file per ONNX file is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from .compare import json_float
from .report import DiffReport, PartDiff

NAME = "max|Δ| vs PyTorch (modelexport diff)"


@dataclass(frozen=True)
class ExplorerIds:
    """How Model Explorer's ONNX adapter names one file's graph and nodes."""

    graph: str
    nodes: list[str]  # the main graph's nodes, in order
    branches: dict[str, list[str]]  # a top-level If's branch attribute -> its nodes' ids

    def for_branch(self, branch: str, outer: list[int]) -> list[str]:
        """Ids of a branch's standalone graph: the outer nodes it kept, then the branch's nodes."""
        return [*(self.nodes[i] for i in outer), *self.branches[branch]]


def explorer_ids(model: onnx.ModelProto) -> ExplorerIds:
    """The ids Model Explorer gives ``model``'s graph and nodes (its adapter's naming, replayed)."""
    import onnx_ir as ir
    from onnx_ir.passes.common import NameFixPass

    graph = ir.serde.deserialize_model(model)
    NameFixPass()(graph)
    branches: dict[str, list[str]] = {}
    for node in graph.graph:
        if node.op_type != "If" or node.domain != "":
            continue
        for name, attr in node.attributes.items():
            if attr.type == ir.AttributeType.GRAPH:
                branches[name] = [f"{node.name}/{name}/{n.name}" for n in attr.as_graph()]
    graph_name: str | None = graph.graph.name
    main = [n.name or "" for n in graph.graph]
    return ExplorerIds("<main>" if graph_name is None else graph_name, main, branches)


def thresholds(atol: float) -> list[dict[str, Any]]:
    """Green within tolerance, then yellow, orange and red by decades above it."""
    return [
        {"value": atol, "bgColor": "#a5d6a7"},
        {"value": atol * 10, "bgColor": "#fff59d"},
        {"value": atol * 100, "bgColor": "#ffcc80"},
        {"value": json_float(float("inf")), "bgColor": "#ef9a9a"},
    ]


def graph_results(part: PartDiff, ids: ExplorerIds) -> dict[str, dict[str, float]]:
    """One graph's ``results``: node id -> ``{"value": max|Δ|}``, for the nodes that have one."""
    keys = ids.for_branch(part.branch, part.outer_nodes) if part.branch else ids.nodes
    return {
        key: {"value": json_float(v)} for key, v in zip(keys, part.node_errors, strict=True) if v is not None
    }


def model_node_data(parts: list[PartDiff], ids: ExplorerIds, atol: float) -> dict[str, Any]:
    """A ``ModelNodeData`` object for one ONNX file: its graph's node data under its graph id (a
    merged decoder's two branches are both in the main graph; a node they share shows the larger
    error)."""
    results: dict[str, dict[str, float]] = {}
    for part in parts:
        for node, value in graph_results(part, ids).items():
            if node not in results or value["value"] > results[node]["value"]:
                results[node] = value
    return {ids.graph: {"name": NAME, "results": results, "thresholds": thresholds(atol)}}


def by_file(report: DiffReport) -> dict[str, list[PartDiff]]:
    out: dict[str, list[PartDiff]] = {}
    for part in report.parts:
        out.setdefault(part.file, []).append(part)
    return out


def node_data_paths(report: DiffReport, path: Path) -> dict[str, Path]:
    """ONNX file -> where its node data goes: ``path`` for a one-file export, else
    ``<path stem>.<file stem><path suffix>`` beside it."""
    files = list(by_file(report))
    if len(files) == 1:
        return {files[0]: path}
    return {f: path.with_name(f"{path.stem}.{Path(f).stem}{path.suffix or '.json'}") for f in files}


def write_node_data(report: DiffReport, path: Path) -> list[Path]:
    """Write the node data of every file of ``report``; returns the files written."""
    targets = node_data_paths(report, path)
    for file, parts in by_file(report).items():
        graph = onnx.load(str(Path(report.directory) / file), load_external_data=False)
        data = model_node_data(parts, explorer_ids(graph), report.atol)
        targets[file].write_text(json.dumps(data, indent=1), encoding="utf-8")
    return list(targets.values())
