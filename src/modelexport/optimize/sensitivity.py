"""Per-module error of a quantized file against the fp32 one it was made from, to choose exclusions.

For every module holding quantized ops (``MatMulInteger`` of a ``Linear``, the dequantized table of
an ``Embedding``...), at the values the module hands the rest of the graph:

``local``   its quantized nodes run on the fp32 graph's values at its inputs: the error the module
            itself makes, nothing carried in;
``output``  the whole quantized graph: its own error plus what it inherits from the modules before.

Both graphs keep the original value names at module boundaries (the quantizer keeps the names of the
values it recomputes), so they are compared name for name on one of the inputs the export was
verified on. Excluding the modules with the worst local error helps most.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import onnx

from ..graph import MAIN, walk
from ..hierarchy.modules import within
from .agreement import cosine

# Ops the quantizer makes that carry a module's quantized weights.
_QUANTIZED_OPS = frozenset(
    {
        "MatMulInteger",
        "ConvInteger",
        "DynamicQuantizeMatMul",
        "QAttention",
        "DynamicQuantizeLSTM",
        "DequantizeLinear",
    }
)


@dataclass(frozen=True)
class ModuleError:
    """One module's error at its outputs (the worst of them), locally and in the whole run."""

    module: str
    class_name: str
    quantized_ops: int
    outputs: int
    local_max_abs: float
    local_cosine: float
    output_max_abs: float
    output_cosine: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _main(model: onnx.ModelProto, *per_node: Sequence[str]) -> tuple[list[onnx.NodeProto], list[list[str]]]:
    """The main graph's nodes, and the entries of each walk-order list for them."""
    refs = [r for r in walk(model.graph) if r.graph == MAIN]
    return [r.node for r in refs], [[values[r.index] for r in refs] for values in per_node]


def _boundary_outputs(
    nodes: Sequence[onnx.NodeProto], paths: Sequence[str], module: str, graph_outputs: set[str]
) -> list[str]:
    """Values nodes within ``module`` make that nodes outside it (or the graph's outputs) read."""
    inside = [within(p, module) for p in paths]
    made = {o: i for i, n in enumerate(nodes) if inside[i] for o in n.output if o}
    used_outside = {v for i, n in enumerate(nodes) if not inside[i] for v in n.input}
    return [v for v in made if v in used_outside or v in graph_outputs]


def _local_nodes(
    nodes: Sequence[onnx.NodeProto], paths: Sequence[str], module: str, available: set[str]
) -> list[int]:
    """Indices of the quantized graph's nodes within ``module``, plus the nodes outside it that make
    values they read which the fp32 graph does not have (a shared ``DynamicQuantizeLinear``)."""
    producer = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    chosen = {i for i, p in enumerate(paths) if within(p, module)}
    stack = list(chosen)
    while stack:
        for value in nodes[stack.pop()].input:
            j = producer.get(value)
            if value and value not in available and j is not None and j not in chosen:
                chosen.add(j)
                stack.append(j)
    return sorted(chosen)


def _exposed(model: onnx.ModelProto, values: Sequence[str]) -> bytes:
    """``model`` with ``values`` added to its outputs, serialised for ONNX Runtime."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    present = {o.name for o in copy.graph.output}
    copy.graph.output.extend(onnx.ValueInfoProto(name=v) for v in values if v not in present)
    return copy.SerializeToString()


def _run(
    model_bytes: bytes, feeds: Mapping[str, np.ndarray], outputs: Sequence[str]
) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    return dict(
        zip(outputs, session.run(list(outputs), {k: v for k, v in feeds.items() if k in names}), strict=True)
    )


def _subgraph(
    model: onnx.ModelProto,
    nodes: Sequence[onnx.NodeProto],
    feeds: Mapping[str, np.ndarray],
    outputs: Sequence[str],
) -> bytes:
    """A model of ``nodes`` alone: inputs fed from ``feeds``, the initializers they read."""
    reads = {v for n in nodes for v in n.input if v}
    made = {o for n in nodes for o in n.output}
    inits = [t for t in model.graph.initializer if t.name in reads]
    init_names = {t.name for t in inits}
    inputs = [
        onnx.helper.make_tensor_value_info(
            v, onnx.helper.np_dtype_to_tensor_dtype(feeds[v].dtype), feeds[v].shape
        )
        for v in sorted(reads - made - init_names)
    ]
    graph = onnx.helper.make_graph(
        list(nodes), "module", inputs, [onnx.ValueInfoProto(name=o) for o in outputs], inits
    )
    sub = onnx.helper.make_model(graph, opset_imports=list(model.opset_import))
    sub.ir_version = model.ir_version
    return sub.SerializeToString()


def _worst(
    refs: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray], names: Sequence[str]
) -> tuple[float, float]:
    pairs = [(refs[n], got[n]) for n in names if n in got and refs[n].shape == got[n].shape]
    if not pairs:
        return float("nan"), float("nan")
    max_abs = max(
        float(np.max(np.abs(r.astype(np.float64) - g.astype(np.float64)))) if r.size else 0.0
        for r, g in pairs
    )
    return max_abs, min(cosine(r, g) for r, g in pairs)


def module_errors(
    fp32: onnx.ModelProto,
    fp32_paths: Sequence[str],
    quantized: onnx.ModelProto,
    quantized_paths: Sequence[str],
    feeds: Mapping[str, np.ndarray],
    class_names: Mapping[str, str],
) -> list[ModuleError]:
    """Local and whole-run error of every module with quantized ops, worst local cosine first.

    Paths are each node's module in walk order (the tags after :func:`.tags.restore`); the main
    graph's nodes are compared (a subgraph's values cannot be exposed).
    """
    f_nodes, (f_paths,) = _main(fp32, fp32_paths)
    q_nodes, (q_paths,) = _main(quantized, quantized_paths)
    counts: dict[str, int] = {}
    for node, path in zip(q_nodes, q_paths, strict=True):
        if node.op_type in _QUANTIZED_OPS:
            counts[path] = counts.get(path, 0) + 1
    graph_outputs = {o.name for o in fp32.graph.output}
    fp32_values = {o for n in f_nodes for o in n.output if o} | {i.name for i in fp32.graph.input}
    q_values = {o for n in q_nodes for o in n.output if o}
    plans: dict[str, tuple[list[str], list[int]]] = {}
    for module in counts:
        outs = [v for v in _boundary_outputs(f_nodes, f_paths, module, graph_outputs) if v in q_values]
        plans[module] = (outs, _local_nodes(q_nodes, q_paths, module, fp32_values))
    needed = {v for outs, _ in plans.values() for v in outs}
    needed |= {v for _, idx in plans.values() for i in idx for v in q_nodes[i].input if v in fp32_values}
    needed -= set(feeds)
    exposed = sorted(needed)
    reference = {**feeds, **_run(_exposed(fp32, exposed), feeds, exposed)}
    q_outs = sorted({v for outs, _ in plans.values() for v in outs})
    whole = _run(_exposed(quantized, q_outs), feeds, q_outs)
    rows = []
    for module, (outs, idx) in plans.items():
        if not outs:
            continue
        local = _run(_subgraph(quantized, [q_nodes[i] for i in idx], reference, outs), reference, outs)
        local_abs, local_cos = _worst(reference, local, outs)
        out_abs, out_cos = _worst(reference, whole, outs)
        rows.append(
            ModuleError(
                module,
                class_names.get(module, "?"),
                counts[module],
                len(outs),
                local_abs,
                local_cos,
                out_abs,
                out_cos,
            )
        )
    rows.sort(key=lambda r: (r.local_cosine, -r.local_max_abs))
    return rows


def render(rows: Sequence[ModuleError], limit: int | None = None) -> list[str]:
    """The table ``--sensitivity`` prints: worst local error first."""
    shown = list(rows if limit is None else rows[:limit])
    width = max([len(r.module or "(root)") for r in shown] + [6])
    lines = [
        f"{'module':<{width}}  {'class':<14} {'q-ops':>5}  {'local cos':>9} {'local max|Δ|':>12}  {'output cos':>10} {'output max|Δ|':>13}"
    ]
    for r in shown:
        lines.append(
            f"{r.module or '(root)':<{width}}  {r.class_name[:14]:<14} {r.quantized_ops:>5}  {r.local_cosine:>9.5f} "
            f"{r.local_max_abs:>12.3g}  {r.output_cosine:>10.5f} {r.output_max_abs:>13.3g}"
        )
    return lines
