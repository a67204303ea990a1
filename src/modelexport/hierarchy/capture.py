"""Structural scope capture for the TorchScript exporter.

``torch.onnx.export(dynamo=False)`` traces the model with a scope pushed for every module call and
keeps it on every node through the ONNX conversion passes (the node names are derived from it). This
module keeps a reference to the final TorchScript graph of an export and reads each node's scope
chain: a list of ``(module type name, name)`` pairs from the traced module down to the innermost
module whose forward produced the node. Nodes created outside any module (deduplication, folding)
have an empty chain. The graph's nodes are emitted to ONNX one to one and in order, so the records
are aligned with the ONNX nodes (op type checked) when tagging.

The hook wraps ``_model_to_graph`` of torch's TorchScript exporter module, which exists in torch
2.x; if it is missing, the capture is empty and tagging says so (every node then counts as having no
source information).
"""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_EXPORTER_MODULES = (
    "torch.onnx._internal.torchscript_exporter.utils",  # torch >= 2.9
    "torch.onnx.utils",  # older torch
)

Scope = tuple[tuple[str, str], ...]
_CONTROL_FLOW = frozenset({"onnx::If", "onnx::Loop", "prim::If", "prim::Loop"})


@dataclass
class NodeScope:
    """One TorchScript node of the exported graph: its op type, scope chain and sub-blocks."""

    op_type: str
    scope: Scope
    blocks: list[list[NodeScope]] = field(default_factory=list)


@dataclass
class TorchScriptScopes:
    """What the TorchScript backend returns for tagging: the nodes' scope chains, in graph order."""

    nodes: list[NodeScope] = field(default_factory=list)
    captured: bool = False
    seconds: float = 0.0  # time spent reading the scopes after the export (tagging overhead)


def parse_scope(scope_name: str) -> Scope:
    """``'pkg.Wrapper::/pkg.Bert::model/...'`` -> ``(('pkg.Wrapper', ''), ('pkg.Bert', 'model'), ...)``."""
    if not scope_name:
        return ()
    pairs = []
    for segment in scope_name.split("/"):
        type_name, _, name = segment.rpartition("::")
        pairs.append((type_name, name))
    return tuple(pairs)


def _read_block(nodes: Any, cache: dict[str, Scope]) -> list[NodeScope]:
    out = []
    for node in nodes:
        if node.mustBeNone():
            continue  # None constants are not serialized
        kind = node.kind()
        name = node.scopeName()
        scope = cache.get(name)
        if scope is None:
            scope = cache[name] = parse_scope(name)
        # Only control flow has sub-blocks; asking every node for its blocks costs ~0.1 ms apiece.
        blocks = [_read_block(b.nodes(), cache) for b in node.blocks()] if kind in _CONTROL_FLOW else []
        out.append(NodeScope(kind.split("::", 1)[1], scope, blocks))
    return out


def exporter_module() -> Any | None:
    """torch's TorchScript exporter module (it moved in torch 2.9), or ``None``."""
    for name in _EXPORTER_MODULES:
        with contextlib.suppress(ImportError):
            module = importlib.import_module(name)
            if hasattr(module, "_model_to_graph"):
                return module
    return None


@contextlib.contextmanager
def record_model_to_graph() -> Iterator[list[tuple[Any, ...]]]:
    """While active, keep what each call of the TorchScript exporter's ``_model_to_graph`` returns:
    ``(graph, params_dict, torch_out)``. Yields an empty list that stays empty if torch has no such
    function."""
    calls: list[tuple[Any, ...]] = []
    module = exporter_module()
    if module is None:
        yield calls
        return
    original = module._model_to_graph

    def recording(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        calls.append(out)
        return out

    module._model_to_graph = recording
    try:
        yield calls
    finally:
        module._model_to_graph = original


@contextlib.contextmanager
def capture_torchscript_scopes() -> Iterator[TorchScriptScopes]:
    """Record the scope chains of the graph that ``torch.onnx.export(dynamo=False)`` writes.

    Usage (inside the TorchScript backend)::

        with capture_torchscript_scopes() as scopes:
            torch.onnx.export(..., dynamo=False)
        return scopes
    """
    result = TorchScriptScopes()
    with record_model_to_graph() as calls:
        yield result
    if calls:
        # The exporter mutates this graph in place up to serialization: read it afterwards.
        start = time.perf_counter()
        result.nodes = _read_block(calls[-1][0].nodes(), {})
        result.captured = True
        result.seconds = time.perf_counter() - start
