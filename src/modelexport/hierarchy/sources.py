"""Source information per node: the module path each exporter recorded, or None.

* dynamo: the exporter's ``pkg.torch.onnx.name_scopes`` (qualified names of the module stack,
  innermost last but one) checked against ``pkg.torch.onnx.class_hierarchy``;
* torchscript: the scope chains captured during the export (:mod:`.capture`), aligned one to one with
  the ONNX nodes and resolved structurally against the traced module tree.

Both resolve to canonical module paths of the Hugging Face model (see :mod:`.modules`).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cache

import torch

from ..common import WRAPPER_ATTRIBUTE
from ..graph import NodeRef
from .capture import PATH_MARK, NodeScope, Scope, TorchScriptScopes
from .modules import CONTAINERS, ROOT, ModuleIndex, module_paths, qualified_class, within

NAME_SCOPES = "pkg.torch.onnx.name_scopes"
CLASS_HIERARCHY = "pkg.torch.onnx.class_hierarchy"
# A hop from a module through its (decorated) bound forward back to the module itself, which
# torch.export's strict mode (dynamo) writes into names: ``model.forward.__closure__[1]
# .cell_contents.__self__.layers`` is ``model.layers`` (transformers 4.48's decorated forwards).
_SELF_HOP = re.compile(
    r"\.(?:forward|__call__)(?:\.(?:__wrapped__|__func__|cell_contents|__closure__\[\d+\]))*\.__self__"
)


class TracedTree:
    """Paths of the traced module (the wrapper) and how they map onto the model's canonical paths."""

    def __init__(self, wrapper: torch.nn.Module, index: ModuleIndex) -> None:
        self.index = index
        self.wrapped = isinstance(getattr(wrapper, WRAPPER_ATTRIBUTE, None), torch.nn.Module)
        self.by_key: dict[tuple[str, str], list[str]] = {}
        self.modules: dict[str, torch.nn.Module] = module_paths(wrapper)
        self.paths = set(self.modules)
        for path, module in self.modules.items():
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

    def alias_below(self, caller: str, path: str) -> str | None:
        """The one other name of the module at ``path`` below ``caller``, if it has exactly one
        (only stateless shared modules have several names, see :func:`.modules.module_paths`)."""
        module = self.modules[path]
        found = [p for p, m in self.modules.items() if m is module and p != path and within(p, caller)]
        return found[0] if len(found) == 1 else None

    def knows(self, traced_path: str) -> bool:
        return traced_path in self.paths

    def descend(self, current: str, segment: tuple[str, str]) -> tuple[str | None, bool]:
        """The traced module for one scope segment under ``current`` (shortest matching
        descendant) and whether it is the only one, reached from ``current`` through containers."""
        candidates = self.by_key.get(segment, [])
        below = [p for p in candidates if not current or p.startswith(current + ".")]
        pool = below or candidates  # a shared module is named where it was first registered
        if not pool:
            return None, False
        best = min(pool, key=len)
        return best, len(below) == 1 and self._through_containers(current, best)

    def matches(self, start: str, segments: Scope) -> tuple[str, ...]:
        """Traced modules below ``start`` reached through ``segments`` by class and name."""
        frontier = [start]
        for segment in segments:
            candidates = self.by_key.get(segment, [])
            frontier = [c for f in frontier for c in candidates if not f or c.startswith(f + ".")]
        return tuple(dict.fromkeys(frontier))

    def _through_containers(self, ancestor: str, path: str) -> bool:
        parts = path.split(".")
        start = len(ancestor.split(".")) if ancestor else 0
        between = (".".join(parts[:end]) for end in range(start + 1, len(parts)))
        return all(isinstance(self.modules.get(p), CONTAINERS) for p in between)


def _unqualified(qualified: str) -> str:
    """torch's scope name for a module: its name from the last non-numeric atom (``layer.0``)."""
    atoms = qualified.split(".")
    for i in range(len(atoms) - 1, -1, -1):
        if not atoms[i].isnumeric():
            return ".".join(atoms[i:])
    return qualified


@dataclass
class ScopeSources:
    """Module path per node from an exporter's scopes. For a node whose scope named no module for
    certain, ``bounds[i]`` is the deepest module it did name and ``candidates[i]`` the modules its
    scope may mean (all below the bound): it is inferred among them by graph position."""

    paths: list[str | None]
    bounds: dict[int, str] = field(default_factory=dict)
    candidates: dict[int, list[str]] = field(default_factory=dict)


def torchscript_sources(refs: list[NodeRef], tree: TracedTree, scopes: TorchScriptScopes) -> ScopeSources:
    """Module path per node from the captured scope chains; all None when they do not align.

    A scope segment carrying its module's path (see :data:`.capture.PATH_MARK`) names it for
    certain. One without (a capture from a torch without the hook) is matched by class and name
    below its parent; when that is not a single module reachable through containers only, the node
    is left to inference within the parent.
    """
    flat = _flatten(scopes.nodes)
    if len(flat) != len(refs) or any(s.op_type != r.node.op_type for s, r in zip(flat, refs, strict=True)):
        return ScopeSources([None] * len(refs))

    @cache
    def resolve(chain: Scope) -> tuple[str | None, bool]:
        """(traced path, certain) of the innermost module of ``chain``."""
        if not chain:
            return None, False
        _, marked, path = chain[-1][0].partition(PATH_MARK)
        if marked:
            if not tree.knows(path):
                return None, False
            if len(chain) > 1:  # a stateless module shared between callers: the caller's own name
                caller, _ = resolve(chain[:-1])
                if caller is not None and not within(path, caller):
                    return tree.alias_below(caller, path) or path, True
            return path, True
        if len(chain) == 1:
            return "", True
        parent, certain = resolve(chain[:-1])
        if parent is None:
            return None, False
        child, unique = tree.descend(parent, chain[-1])
        return (parent, False) if child is None else (child, certain and unique)

    @cache
    def bound(chain: Scope) -> tuple[str, tuple[str, ...]]:
        """(the deepest module of ``chain`` named for certain, the root at last; the modules
        below it that the rest of ``chain`` matches by class and name)."""
        for end in range(len(chain) - 1, 0, -1):
            traced, certain = resolve(chain[:end])
            if traced is not None and certain:
                return tree.to_model_path(traced) or ROOT, tree.matches(traced, chain[end:])
        return ROOT, ()

    out = ScopeSources([])
    for i, record in enumerate(flat):
        traced, certain = resolve(record.scope)
        path = None if traced is None else tree.to_model_path(traced)
        if path is not None and not certain:
            out.bounds[i], candidates = bound(record.scope)
            out.candidates[i] = [p for c in candidates if (p := tree.to_model_path(c)) is not None]
            path = None
        out.paths.append(path)
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


def dynamo_sources(refs: list[NodeRef], tree: TracedTree) -> ScopeSources:
    """Module path per node from the dynamo exporter's name scopes.

    Each level of a node's module stack names a module by its qualified name (or, when the model
    holds a module under two names, by its name in its parent or in the model): resolved level by
    level, each checked against its recorded class. A stack whose innermost level resolves names its module for
    certain; one that stops resolving higher up only bounds where the node is inferred.
    """
    out = ScopeSources([])
    for ref in refs:
        props = {p.key: p.value for p in ref.node.metadata_props}
        names = _parse_list(props.get(NAME_SCOPES))
        classes = _parse_list(props.get(CLASS_HIERARCHY)) or []
        path, bound = _resolve_levels(names[:-1], classes[:-1], tree) if names else (None, None)
        if path is None and bound is not None:
            out.bounds[ref.index] = bound
        out.paths.append(path)
    return out


def _resolve_levels(names: list[str], classes: list[str], tree: TracedTree) -> tuple[str | None, str | None]:
    """(model path of the innermost level, None) when every level resolves, else (None, model path
    of the deepest level that did); (None, None) when none does."""
    current: str | None = None
    resolved: str | None = None
    for i, raw in enumerate(names):
        name = _SELF_HOP.sub("", raw.split("@", 1)[0])
        expected = classes[i].rsplit(".", 1)[-1] if i < len(classes) else None
        found = next(
            (c for c in _candidates(name, current, tree) if _level_matches(c, expected, i, tree)), None
        )
        if found is None:
            return None, resolved
        current, resolved = found, tree.to_model_path(found)
    return resolved, None


def _candidates(name: str, current: str | None, tree: TracedTree) -> list[str]:
    """Traced paths a stack level may mean: its name below the level above, else below one of that
    level's ancestors (a module the model holds under two names, Marian's ``shared`` embedding
    called as the encoder's ``embed_tokens``, is named from where it was first registered), the
    name as it is, or below the wrapped model."""
    parts = current.split(".") if current else []
    out = [f"{'.'.join(parts[:end])}.{name}" for end in range(len(parts), 0, -1)] if name else []
    out.append(name)
    if tree.wrapped and name:
        out.append(f"{WRAPPER_ATTRIBUTE}.{name}")
    return list(dict.fromkeys(out))


def _level_matches(traced: str, expected: str | None, level: int, tree: TracedTree) -> bool:
    path = tree.to_model_path(traced)
    if path is None:
        return False
    if level == 0 and tree.wrapped:
        return True  # the wrapper's own forward: nothing above the model's root
    return expected is None or tree.index.info[path].class_name == expected


_WEIGHT_INPUT = {"Conv": 1, "ConvTranspose": 1, "Gemm": 1, "MatMul": 1, "Gather": 0}


def refine_by_parameters(refs: list[NodeRef], sources: list[str | None], tree: TracedTree) -> int:
    """Weight ops whose weight initializer is named after an untied parameter belong to the module
    holding it when nothing was recorded (dynamo's ``torch.cond`` branches) or when the recorded
    module is neither it nor an ancestor (an optimizer fusing BatchNorm into Conv keeps the
    BatchNorm's record). An ancestor using the weight with a functional op (``conv1d(x,
    layer.up.weight)`` in an encoder) keeps it: its forward ran the op, and TorchScript folds
    transposed weights into unnamed initializers, so moving it would split the backends.
    Returns how many nodes changed."""
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
