"""Hierarchy-preserving tags: every ONNX node mapped to the PyTorch module that produced it.

Pipeline use::

    captured = capture_graph(backend, wrapper, inputs, io, opset, workdir)   # modelexport.backends
    model, scopes = captured.proto, captured.scopes                       # scopes: TorchScript only
    report = tag_model(model, wrapper, backend="torchscript", scope_info=scopes)
    # clean_onnx: modelexport.graph.strip_node_metadata(model); report.to_json() either way

After a tool rewrote a tagged graph (ORT optimizations, fusions, quantization, decoder merging)::

    stats = restore_tags(original, rewritten)   # every node of ``rewritten`` tagged again
"""

from __future__ import annotations

from .capture import TorchScriptScopes, capture_torchscript_scopes
from .compare import Agreement, module_agreement
from .modules import ModuleIndex
from .report import HierarchyReport, ModuleRecord, NodeRecord
from .restore import FUSED, RESTORED, RestoreStats, restore_tags
from .tagging import (
    KEY_CLASS,
    KEY_MODULE,
    KEY_NAMESPACE,
    KEY_SOURCE,
    KEY_TAG,
    TAG_KEYS,
    tag_model,
)

__all__ = [
    "FUSED",
    "KEY_CLASS",
    "KEY_MODULE",
    "KEY_NAMESPACE",
    "KEY_SOURCE",
    "KEY_TAG",
    "RESTORED",
    "TAG_KEYS",
    "Agreement",
    "HierarchyReport",
    "ModuleIndex",
    "ModuleRecord",
    "NodeRecord",
    "RestoreStats",
    "TorchScriptScopes",
    "capture_torchscript_scopes",
    "module_agreement",
    "restore_tags",
    "tag_model",
]
