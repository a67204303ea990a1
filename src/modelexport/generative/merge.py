"""Two decoder graphs as one file, Optimum's merged decoder: an ``If`` on a boolean ``use_cache_branch``
input runs the decoder with past (then) or the first-step decoder (else).

The branches read the outer graph's inputs and initializers; every value a branch computes is
renamed into its own namespace, so the two never clash with each other or with the outer graph.
Weights the two exports share (the same bytes, under whatever name each exporter gave them) are
stored once. The decoder with past returns only self-attention presents; its branch passes the
cross-attention pasts through as the cross-attention presents, so both branches return the same
outputs. Node metadata (the module tags) moves with the nodes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import onnx
import torch

from ..graph import node_keys, subgraphs, walk
from ..hierarchy import KEY_CLASS, KEY_MODULE, KEY_NAMESPACE, KEY_SOURCE, KEY_TAG, HierarchyReport
from ..hierarchy.modules import ROOT
from ..hierarchy.report import SOURCES, ModuleRecord, NodeRecord, Source
from ..wire import tensor_bytes

IF_NODE = "decoder_merged_branch"
_PREFIX = {"then": "with_past::", "else": "first_step::"}


@dataclass
class Merged:
    """The merged model; ``weights``: the tensors behind its placeholder initializers (see
    :mod:`modelexport.wire`); ``shared``: how many initializers were stored once for both."""

    proto: onnx.ModelProto
    weights: dict[str, torch.Tensor] = field(default_factory=dict)
    shared: int = 0


def _digest(tensor: onnx.TensorProto, weights: Mapping[str, torch.Tensor]) -> str:
    """What an initializer holds: its type, shape and bytes (from the placeholder's tensor, if any)."""
    if tensor.name in weights and not tensor.HasField("raw_data"):
        data: Any = tensor_bytes(weights[tensor.name])
    else:
        data = onnx.numpy_helper.to_array(tensor).tobytes()
    digest = hashlib.sha256(bytes(data)).hexdigest()
    return f"{tensor.data_type}:{list(tensor.dims)}:{digest}"


def _rename_in(graph: onnx.GraphProto, renames: Mapping[str, str]) -> None:
    """Rename every use and definition of ``renames``' keys in ``graph`` and its subgraphs."""
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
        for _, sub in subgraphs(node):
            _rename_in(sub, renames)
    for value in (*graph.output, *graph.value_info):
        value.name = renames.get(value.name, value.name)


def _produced(graph: onnx.GraphProto) -> set[str]:
    names: set[str] = set()
    for node in graph.node:
        names.update(n for n in node.output if n)
        for _, sub in subgraphs(node):
            names.update(_produced(sub))
    return names


def _branch(
    model: onnx.ModelProto, kind: str, init_names: Mapping[str, str], outputs: list[onnx.ValueInfoProto]
) -> onnx.GraphProto:
    """``model``'s graph as an If branch: no inputs, computed values renamed into its namespace,
    initializers by their outer names, and ``outputs`` (outer names) produced under branch names."""
    graph = onnx.GraphProto(name=f"{kind}_branch")
    graph.node.extend(model.graph.node)
    graph.value_info.extend(model.graph.value_info)
    own = {n: _PREFIX[kind] + n for n in _produced(model.graph)}
    _rename_in(graph, {**own, **init_names})
    present = {o.name for o in model.graph.output}
    for value in outputs:
        if value.name not in present:  # a cross-attention present: the matching past, passed through
            source = "past_key_values" + value.name[len("present") :]
            graph.node.add(op_type="Identity", input=[source], output=[_PREFIX[kind] + value.name])
        branch_output = graph.output.add()
        branch_output.CopyFrom(value)
        branch_output.name = _PREFIX[kind] + value.name
    return graph


def merge_decoders(
    first: onnx.ModelProto,
    with_past: onnx.ModelProto,
    weights: tuple[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor]] = ({}, {}),
    flag: str = "use_cache_branch",
) -> Merged:
    """One model running ``with_past`` when ``flag`` is true, else ``first``; its inputs are both
    models' inputs and ``flag``, its outputs ``first``'s (logits and every present). ``weights``:
    the tensors behind each model's placeholder initializers."""
    merged = Merged(onnx.ModelProto())
    model = merged.proto
    model.ir_version = max(first.ir_version, with_past.ir_version)
    model.producer_name, model.producer_version = first.producer_name, first.producer_version
    opsets: dict[str, int] = {}
    for opset in (*first.opset_import, *with_past.opset_import):
        opsets[opset.domain] = max(opsets.get(opset.domain, 0), opset.version)
    model.opset_import.extend(onnx.helper.make_opsetid(d, v) for d, v in opsets.items())
    functions = {(f.domain, f.name, f.overload): f for f in (*first.functions, *with_past.functions)}
    model.functions.extend(functions.values())
    model.metadata_props.extend(first.metadata_props)

    graph = model.graph
    graph.name = "decoder_model_merged"
    stored: dict[str, str] = {}  # content -> outer name
    renames: dict[str, dict[str, str]] = {"else": {}, "then": {}}
    for kind, source, deferred in (("else", first, weights[0]), ("then", with_past, weights[1])):
        for tensor in source.graph.initializer:
            key = _digest(tensor, deferred)
            if key in stored:
                renames[kind][tensor.name] = stored[key]
                merged.shared += 1
                continue
            name = (
                tensor.name
                if kind == "else" or tensor.name not in renames["else"]
                else f"{tensor.name}.with_past"
            )
            stored[key] = renames[kind][tensor.name] = name
            outer = graph.initializer.add()
            outer.CopyFrom(tensor)
            outer.name = name
            if tensor.name in deferred:
                merged.weights[name] = deferred[tensor.name]

    inputs = {v.name: v for v in first.graph.input}
    inputs.update((v.name, v) for v in with_past.graph.input if v.name not in inputs)
    graph.input.extend(inputs.values())
    graph.input.append(onnx.helper.make_tensor_value_info(flag, onnx.TensorProto.BOOL, [1]))
    outputs = list(first.graph.output)
    then_branch = _branch(with_past, "then", renames["then"], outputs)
    else_branch = _branch(first, "else", renames["else"], outputs)
    branch = onnx.helper.make_node(
        "If",
        [flag],
        [o.name for o in outputs],
        name=IF_NODE,
        then_branch=then_branch,
        else_branch=else_branch,
    )
    graph.node.append(branch)
    graph.output.extend(outputs)
    return merged


def merged_report(merged: onnx.ModelProto, first: HierarchyReport) -> HierarchyReport:
    """The hierarchy of a merged file, read back from its node tags (the branches' nodes keep theirs);
    nodes the merge added (the If, the cross-attention pass-throughs) have no module of their own
    and go on the root, as ``none``."""
    root = first.modules.get(ROOT)
    root_tags = {
        KEY_MODULE: ROOT,
        KEY_CLASS: first.model_class,
        KEY_TAG: root.tag if root is not None and root.tag else f"/{first.model_class}",
        KEY_SOURCE: "none",
        KEY_NAMESPACE: first.model_class,
    }
    refs = walk(merged.graph)
    nodes = []
    for key, ref in zip(node_keys(refs), refs, strict=True):
        props = {p.key: p.value for p in ref.node.metadata_props}
        if KEY_MODULE not in props:
            for name, value in root_tags.items():
                ref.node.metadata_props.add(key=name, value=value)
            props = root_tags
        source = cast(Source, props[KEY_SOURCE]) if props.get(KEY_SOURCE) in SOURCES else "none"
        nodes.append(NodeRecord(key, ref.node.op_type, props[KEY_MODULE], source, ref.graph))
    modules = {
        path: ModuleRecord(m.path, m.class_name, m.qualified_class, m.tag, m.parameters)
        for path, m in first.modules.items()
    }
    return HierarchyReport(
        backend=first.backend,
        model_class=first.model_class,
        include_torch_nn=first.include_torch_nn,
        modules=modules,
        nodes=nodes,
        source_available=first.source_available,
        notes=list(first.notes),
    )
