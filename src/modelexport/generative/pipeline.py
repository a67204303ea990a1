"""The generative export's stages after ``load``: capture -> tag -> verify -> package, per ONNX file.

Called from :func:`modelexport.export.run_export` (its one dispatch point for generative tasks) inside
the same staging directory, through the same stage runner, so errors, timings and
``export_metadata.json`` read as for every other task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx

from ..backends import Backend, BackendName, Captured, capture_graph
from ..errors import subject
from ..hierarchy import TorchScriptScopes, strip_node_metadata, tag_model
from ..inputs import IOSpec, name_dynamic_axes
from ..packaging import HIERARCHY_FILE, METADATA_FILE, save_configs, save_onnx, write_json
from . import compat
from .check import pytorch_references, verify_plan
from .layout import OnnxPart
from .plan import Plan, make_plan
from .wrappers import identifier, traced_io


def rename_values(graph: onnx.GraphProto, renames: dict[str, str]) -> None:
    """Rename graph inputs/outputs and every reference to them, subgraphs included."""
    for value in (*graph.input, *graph.output, *graph.value_info):
        value.name = renames.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
        for attr in node.attribute:
            for sub in (attr.g, *attr.graphs) if attr.HasField("g") else attr.graphs:
                rename_values(sub, renames)


def _capture(part: OnnxPart, plan: Plan, backend: Backend, opset: int, out: Path) -> Captured:
    """Trace one part with identifier names, then give its values Optimum's names and axes."""
    feeds = plan.trace[part.file]
    traced = feeds["cached"] if "cached" in feeds else feeds["first"]
    inputs = {identifier(k): v for k, v in traced.items()}
    with compat.export_patches() as patches:
        captured = capture_graph(backend, plan.wrappers[part.file], inputs, traced_io(part.io), opset, out)
    captured.patches = tuple(dict.fromkeys((*captured.patches, *patches)))
    names = [*part.io.input_names, *part.io.output_names]
    rename_values(captured.proto.graph, {identifier(n): n for n in names})
    name_dynamic_axes(captured.proto, part.io)
    return captured


def _sidecar(file: str) -> str:
    return HIERARCHY_FILE if file == "model.onnx" else f"{Path(file).stem}.{HIERARCHY_FILE}"


def _tag(
    proto: onnx.ModelProto,
    wrapper: Any,
    backend: BackendName,
    scopes: TorchScriptScopes | None,
    clean_onnx: bool,
    out: Path,
    file: str,
) -> dict[str, Any]:
    """Tag every node with its module (paths relative to the Hugging Face model); one sidecar per file."""
    report = tag_model(proto, wrapper, backend=backend, scope_info=scopes)
    if clean_onnx:
        strip_node_metadata(proto)
    write_json(out / _sidecar(file), report.to_json())
    summary: dict[str, Any] = report.summary()
    return summary


def _total(per_file: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The summary keys of a one-file export, added up over the files, with each file's own under ``files``."""
    keys = ("nodes_total", "nodes_from_source", "nodes_inherited", "nodes_unresolved", "nodes_on_root")
    total: dict[str, Any] = {k: sum(int(s.get(k, 0)) for s in per_file.values()) for k in keys}
    total["backend"] = next((s.get("backend") for s in per_file.values()), None)
    total["source_fraction"] = round(total["nodes_from_source"] / max(total["nodes_total"], 1), 4)
    return {**total, "files": per_file}


def _graph_io(part: OnnxPart, proto: onnx.ModelProto) -> IOSpec:
    """``part.io`` less the inputs the exporter dropped as unused (the decoder with past reads no
    ``encoder_hidden_states``: cross-attention comes from the cache)."""
    present = {v.name for v in proto.graph.input}
    return IOSpec(tuple(t for t in part.io.inputs if t.name in present), part.io.outputs)


def export_generative(
    loaded: Any,
    out: Path,
    status: Any,
    backend: Backend,
    opset: int,
    *,
    clean_onnx: bool,
    atol: float,
    rtol: float,
    with_config: bool,
    progress: Any = None,
) -> None:
    """Write every ONNX file of a generative task into ``out`` (the staging directory) and verify them."""
    from ..export import _metadata, _stage

    with _stage(status, "capture", progress):
        plan = make_plan(loaded.model, loaded.task.name)
        # The reference is taken before tracing, from the model as the user has it.
        references = pytorch_references(plan)
        captured = {p.file: _capture(p, plan, backend, opset, out) for p in plan.parts}
        status.patches = list(dict.fromkeys(x for c in captured.values() for x in c.patches))
    with _stage(status, "tag", progress):
        summaries = {}
        for part in plan.parts:
            proto, scopes = captured[part.file].proto, captured[part.file].scopes
            wrapper = plan.wrappers[part.file]
            summaries[part.file] = _tag(proto, wrapper, backend.name, scopes, clean_onnx, out, part.file)
            save_onnx(proto, out / part.file, captured[part.file].weights)
        status.hierarchy = _total(summaries)
    with _stage(status, "verify", progress):
        result = verify_plan(plan, out, references, atol=atol, rtol=rtol)
        status.verification = result.to_json()
        result.raise_if_failed(subject(loaded.source, loaded.task.name, backend.name))
    with _stage(status, "package", progress):
        if loaded.generation_config is None and getattr(loaded.model, "generation_config", None) is not None:
            loaded.generation_config = loaded.model.generation_config  # Optimum's generate() reads it
        saved = save_configs(loaded, out) if with_config else []
        ios = {p.file: _graph_io(p, captured[p.file].proto) for p in plan.parts}
        meta = _metadata(loaded, ios[plan.files[0]], status, opset, clean_onnx, saved)
        meta["onnx_files"] = plan.files
        meta["io"] = {file: io.to_json() for file, io in ios.items()}
        write_json(out / METADATA_FILE, meta)
