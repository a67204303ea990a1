"""Structural scope capture for the TorchScript exporter.

``torch.onnx.export(dynamo=False)`` traces the model with a scope pushed for every module call and
keeps it on every node through the ONNX conversion passes (the node names are derived from it). This
module keeps a reference to the final TorchScript graph of an export and reads each node's scope
chain: a list of ``(module type name, name)`` pairs from the traced module down to the innermost
module whose forward produced the node. Nodes created outside any module (deduplication, folding)
have an empty chain. The graph's nodes are emitted to ONNX one to one and in order, so the records
are aligned with the ONNX nodes (op type checked) when tagging.

torch names a scope ``<class>::<name>`` with the module's name from its last non-numeric atom
(``attention`` for every layer's attention), which names no module for certain. While capturing,
each module's scope also carries its full path after :data:`PATH_MARK` in the class part, which
torch reads only to export modules as ONNX functions (never done here), so node names and the
file are unchanged. And a module whose ``forward`` is called directly (``layer.forward(x)``, not
``layer(x)``), for which the tracer pushes no scope, gets its scope pushed by a wrapper around its
``forward`` for the duration of the export.

The hooks wrap ``_model_to_graph`` and ``_setup_trace_module_map`` of torch's TorchScript exporter
module, which exist in torch 2.x; if they are missing, the capture is empty or path-free and
tagging says so.
"""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from .direct_calls import scope_direct_calls, wrapped_forwards

_EXPORTER_MODULES = (
    "torch.onnx._internal.torchscript_exporter.utils",  # torch >= 2.9
    "torch.onnx.utils",  # older torch
)

Scope = tuple[tuple[str, str], ...]
PATH_MARK = "@"  # ``<class>@<path>::<name>``: the scope's module path, as the traced module names it
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
    with_paths: bool = False  # every module scope carries its path (see PATH_MARK)
    direct_calls: int = 0  # forwards called directly whose scope the capture pushed
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


def _with_paths(model: torch.nn.Module, names: dict[Any, str]) -> dict[torch.nn.Module, str]:
    """torch's module -> scope name map, each name carrying the module's path (see PATH_MARK)."""
    out: dict[torch.nn.Module, str] = {}
    for path, module in model.named_modules():
        name = names.get(module)
        if name is None:
            continue
        class_part, sep, rest = name.partition("::")
        usable = sep and PATH_MARK not in class_part and "::" not in path and "/" not in path
        out[module] = f"{class_part}{PATH_MARK}{path}::{rest}" if usable else name
    return out


@contextlib.contextmanager
def _scope_names(result: TorchScriptScopes) -> Iterator[None]:
    """While active, the exporter's scope names carry module paths and direct forward calls get
    their scopes (see the module docstring)."""
    module = exporter_module()
    original = getattr(module, "_setup_trace_module_map", None)
    if module is None or original is None:
        yield
        return
    calls: list[int] = []
    with contextlib.ExitStack() as wrappers:

        def setup(model: Any, *args: Any, **kwargs: Any) -> Any:
            out = original(model, *args, **kwargs)
            names = torch.jit._trace._trace_module_map
            if isinstance(model, torch.nn.Module) and isinstance(names, dict):
                mapped = _with_paths(model, names)
                torch.jit._trace._trace_module_map = mapped
                result.with_paths = True
                below = [m for m in mapped if m is not model]  # the exporter calls the root itself
                wrappers.enter_context(wrapped_forwards(below, scope_direct_calls(mapped, calls)))
            return out

        module._setup_trace_module_map = setup
        try:
            yield
        finally:
            module._setup_trace_module_map = original
    result.direct_calls = len(calls)


@contextlib.contextmanager
def capture_torchscript_scopes() -> Iterator[TorchScriptScopes]:
    """Record the scope chains of the graph that ``torch.onnx.export(dynamo=False)`` writes.

    Usage (inside the TorchScript backend)::

        with capture_torchscript_scopes() as scopes:
            torch.onnx.export(..., dynamo=False)
        return scopes
    """
    result = TorchScriptScopes()
    with record_model_to_graph() as calls, _scope_names(result):
        yield result
    if calls:
        # The exporter mutates this graph in place up to serialization: read it afterwards.
        start = time.perf_counter()
        result.nodes = _read_block(calls[-1][0].nodes(), {})
        result.captured = True
        result.seconds = time.perf_counter() - start
