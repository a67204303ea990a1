"""Source information per node: the module path each exporter recorded, or None.

* dynamo: the exporter's ``pkg.torch.onnx.name_scopes`` (qualified names of the module stack,
  innermost last but one) checked against ``pkg.torch.onnx.class_hierarchy``;
* torchscript: the scope chains captured during the export (:mod:`.capture`), aligned one to one with
  the ONNX nodes and resolved structurally against the traced module tree.

Both resolve to canonical module paths of the Hugging Face model (see :mod:`.modules`).
"""

from __future__ import annotations

import ast
from functools import cache

import torch

from ..common import WRAPPER_ATTRIBUTE
from ..graph import NodeRef
from .capture import NodeScope, Scope, TorchScriptScopes
from .modules import ROOT, ModuleIndex, qualified_class, within

NAME_SCOPES = "pkg.torch.onnx.name_scopes"
CLASS_HIERARCHY = "pkg.torch.onnx.class_hierarchy"


class TracedTree:
    """Paths of the traced module (the wrapper) and how they map onto the model's canonical paths."""

    def __init__(self, wrapper: torch.nn.Module, index: ModuleIndex) -> None:
        self.index = index
        self.wrapped = isinstance(getattr(wrapper, WRAPPER_ATTRIBUTE, None), torch.nn.Module)
        self.by_key: dict[tuple[str, str], list[str]] = {}
        for path, module in wrapper.named_modules():
            key = (qualified_class(module), _unqualified(path))
            self.by_key.setdefault(key, []).append(path)

    def to_model_path(self, traced_path: str) -> str | None:
        """``model.bert.encoder`` (wrapper-relative, any alias) -> ``bert.encoder`` (canonical)."""
        path = traced_path
        if self.wrapped:
            if path in ("", WRAPPER_ATTRIBUTE):
                return ROOT
            prefix = WRAPPER_ATTRIBUTE + "."
            if not path.startswith(prefix):
                return None
            path = path[len(prefix) :]
        return self.index.aliases.get(path)

    def descend(self, current: str, segment: tuple[str, str]) -> str | None:
        """The traced module for one scope segment under ``current``: shortest matching descendant."""
        candidates = self.by_key.get(segment, [])
        below = [p for p in candidates if not current or p.startswith(current + ".")]
        pool = below or candidates  # a shared module is named where it was first registered
        return min(pool, key=len) if pool else None


def _unqualified(qualified: str) -> str:
    """torch's scope name for a module: its name from the last non-numeric atom (``layer.0``)."""
    atoms = qualified.split(".")
    for i in range(len(atoms) - 1, -1, -1):
        if not atoms[i].isnumeric():
            return ".".join(atoms[i:])
    return qualified


def torchscript_sources(refs: list[NodeRef], tree: TracedTree, scopes: TorchScriptScopes) -> list[str | None]:
    """Module path per node from the captured scope chains; all None when they do not align."""
    flat = _flatten(scopes.nodes)
    if len(flat) != len(refs) or any(s.op_type != r.node.op_type for s, r in zip(flat, refs, strict=True)):
        return [None] * len(refs)

    @cache
    def resolve(chain: Scope) -> str | None:
        if not chain:
            return None
        if len(chain) == 1:
            return ""
        parent = resolve(chain[:-1])
        if parent is None:
            return None
        child = tree.descend(parent, chain[-1])
        return child if child is not None else parent

    out: list[str | None] = []
    for record in flat:
        traced = resolve(record.scope)
        out.append(None if traced is None else tree.to_model_path(traced))
    return out


def _flatten(nodes: list[NodeScope]) -> list[NodeScope]:
    out: list[NodeScope] = []
    for node in nodes:
        out.append(node)
        for block in node.blocks:
            out.extend(_flatten(block))
    return out


def _parse_list(text: str | None) -> list[str] | None:
    if not text:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return [str(v) for v in value] if isinstance(value, list) else None


def dynamo_sources(refs: list[NodeRef], tree: TracedTree) -> list[str | None]:
    """Module path per node from the dynamo exporter's name scopes (innermost resolvable one)."""
    out: list[str | None] = []
    for ref in refs:
        props = {p.key: p.value for p in ref.node.metadata_props}
        names = _parse_list(props.get(NAME_SCOPES))
        classes = _parse_list(props.get(CLASS_HIERARCHY)) or []
        out.append(_innermost(names[:-1], classes[:-1], tree) if names else None)
    return out


def _innermost(names: list[str], classes: list[str], tree: TracedTree) -> str | None:
    for i in range(len(names) - 1, -1, -1):
        path = tree.to_model_path(names[i].split("@", 1)[0])
        if path is None:
            continue
        expected = classes[i].rsplit(".", 1)[-1] if i < len(classes) else None
        if i == 0 and tree.wrapped:
            return path  # the wrapper's own forward: nothing above the model's root
        if expected is None or tree.index.info[path].class_name == expected:
            return path
    return None


_WEIGHT_INPUT = {"Conv": 1, "ConvTranspose": 1, "Gemm": 1, "MatMul": 1, "Gather": 0}


def refine_by_parameters(refs: list[NodeRef], sources: list[str | None], tree: TracedTree) -> int:
    """Weight ops whose weight initializer is named after an untied parameter belong to the module
    holding it when nothing was recorded (dynamo's ``torch.cond`` branches) or when the recorded
    module is neither it nor an ancestor (an optimizer fusing BatchNorm into Conv keeps the
    BatchNorm's record). Returns how many nodes changed."""
    prefix = WRAPPER_ATTRIBUTE + "." if tree.wrapped else ""
    owners = tree.index.param_owner
    moved = 0
    for ref, recorded in zip(refs, sources, strict=True):
        position = _WEIGHT_INPUT.get(ref.node.op_type)
        if position is None or position >= len(ref.node.input):
            continue
        name = ref.node.input[position]
        owner = owners.get(name[len(prefix) :]) if name.startswith(prefix) else None
        if owner is not None and (recorded is None or not within(owner, recorded)):
            sources[ref.index] = owner
            moved += 1
    return moved
