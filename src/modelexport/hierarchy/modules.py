"""The PyTorch side of tagging: one index over the model's modules.

Every module with weights gets one *canonical* path, its first name in ``named_modules()`` relative
to the Hugging Face model (the wrapper's ``model.`` prefix stripped), so a module reached under two
names (tied embeddings, T5's ``shared`` / ``encoder.embed_tokens``) is tagged the same way by both
backends. A stateless module shared between positions keeps every name (see :func:`module_paths`). The index also computes each module's hierarchy tag and Model Explorer namespace.

Tag rule: ``/<RootClass>/<Class>[.<name>]/...``. A module appends ``.<name>`` (its name relative to
the tag parent) when that name is a list index (``BertLayer.0``) or when a sibling in the tag has the
same class (``T5Stack.encoder`` / ``T5Stack.decoder``, ``Linear.query`` / ``Linear.key``), so tags
are unique exactly where module paths are. ``ModuleList`` / ``ModuleDict`` never appear (their
forward is never called). With ``include_torch_nn=False`` every ``torch.nn`` module (``Linear``,
``LayerNorm``, ``Sequential``...) is left out of tags and namespaces as well; the module path
(``modelexport.module``) always names the innermost module, whatever the choice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from ..common import WRAPPER_ATTRIBUTE

ROOT = ""
CONTAINERS = (torch.nn.ModuleList, torch.nn.ModuleDict, torch.nn.ParameterList, torch.nn.ParameterDict)


@dataclass(frozen=True)
class ModuleInfo:
    """One module of the model, as the tags and the report see it."""

    path: str
    class_name: str
    qualified_class: str
    parameters: int
    tag: str
    namespace: str
    in_tag: bool  # False for containers and, with include_torch_nn=False, for torch.nn modules


def module_paths(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """Every module of ``model`` by path, parents before children: each module under its first name
    in ``named_modules()``, and a module that holds no parameters or buffers under every other name
    too. A stateless module shared between positions (XLM's one ``gelu`` instance in every
    ``ffns.<i>.act``) runs as part of whichever module calls it, so its nodes belong under that
    caller; a module with weights keeps one place, where its weights are named first."""
    paths: dict[str, torch.nn.Module] = {}
    seen: set[int] = set()
    for path, module in model.named_modules(remove_duplicate=False):
        if id(module) not in seen:
            seen.add(id(module))
            paths[path] = module
        elif (
            not isinstance(module, CONTAINERS)
            and path.rpartition(".")[0] in paths
            and next(module.parameters(), None) is None
            and next(module.buffers(), None) is None
        ):
            paths[path] = module
    return paths


def qualified_class(module: torch.nn.Module) -> str:
    cls = type(module)
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_torch_nn(module: torch.nn.Module) -> bool:
    return type(module).__module__.startswith("torch.nn.")


def within(path: str, ancestor: str) -> bool:
    """``path`` is ``ancestor`` or lies below it (everything lies within the root)."""
    return not ancestor or path == ancestor or path.startswith(ancestor + ".")


def parent_path(path: str, known: Iterable[str] | dict[str, object]) -> str:
    """The nearest proper dotted prefix of ``path`` that is a known module (the root at last)."""
    parts = path.split(".")
    for end in range(len(parts) - 1, 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return ROOT


def common_path(paths: Iterable[str]) -> str:
    """The longest dotted module path every one of ``paths`` lies in ("" for none, or the root)."""
    common: list[str] | None = None
    for path in paths:
        parts = path.split(".") if path else []
        if common is None:
            common = parts
            continue
        n = 0
        while n < min(len(common), len(parts)) and common[n] == parts[n]:
            n += 1
        common = common[:n]
    return ".".join(common or [])


class ModuleIndex:
    """Canonical paths, aliases, classes, tags and namespaces of one model's modules."""

    def __init__(self, wrapper: torch.nn.Module, include_torch_nn: bool = True) -> None:
        self.include_torch_nn = include_torch_nn
        model = getattr(wrapper, WRAPPER_ATTRIBUTE, None)
        self.model: torch.nn.Module = model if isinstance(model, torch.nn.Module) else wrapper
        self.modules: dict[str, torch.nn.Module] = module_paths(self.model)
        self._canonical_by_id: dict[int, str] = {}
        for p, m in self.modules.items():
            self._canonical_by_id.setdefault(id(m), p)
        # Every name a module is reachable under, tied duplicates included -> its path in the index.
        self.aliases: dict[str, str] = {
            p: p if p in self.modules else self._canonical_by_id[id(m)]
            for p, m in self.model.named_modules(remove_duplicate=False)
        }
        self.info: dict[str, ModuleInfo] = {}
        self._build()
        self.param_owner = self._param_owners()

    def canonical(self, module: torch.nn.Module) -> str | None:
        return self._canonical_by_id.get(id(module))

    def _in_tag(self, path: str) -> bool:
        module = self.modules[path]
        if path == ROOT:
            return True
        if isinstance(module, CONTAINERS):
            return False
        return self.include_torch_nn or not _is_torch_nn(module)

    def tag_parent(self, path: str) -> str:
        """The nearest ancestor that appears in tags (the root at last)."""
        current = path
        while current != ROOT:
            current = parent_path(current, self.modules)
            if self._in_tag(current):
                return current
        return ROOT

    def _labels(self, in_tag: dict[str, bool], tag_parent: dict[str, str]) -> dict[str, str]:
        """Tag segment per module: ``Class``, ``Class.<index>`` or ``Class.<name>``, unique among siblings."""
        rows = []
        for path, parent in tag_parent.items():
            if in_tag[path]:
                local = path[len(parent) + 1 :] if parent else path
                parts = local.split(".")
                # ``layer.0`` under an untagged ModuleList reads ``BertLayer.0``.
                short = (
                    ".".join(parts[1:]) if len(parts) > 1 and all(p.isdigit() for p in parts[1:]) else local
                )
                rows.append((path, parent, type(self.modules[path]).__name__, local, short))
        same_class = Counter((parent, cls) for _, parent, cls, _, _ in rows)
        same_short = Counter((parent, cls, short) for _, parent, cls, _, short in rows)
        labels = {}
        for path, parent, cls, local, short in rows:
            if same_class[(parent, cls)] == 1 and not local.rsplit(".", 1)[-1].isdigit():
                labels[path] = cls
            elif same_short[(parent, cls, short)] == 1:
                labels[path] = f"{cls}.{short}"
            else:
                labels[path] = f"{cls}.{local}"
        return labels

    def _build(self) -> None:
        in_tag = {p: self._in_tag(p) for p in self.modules}
        tag_parent = {p: self.tag_parent(p) for p in self.modules if p != ROOT}
        labels = self._labels(in_tag, tag_parent)
        tags: dict[str, str] = {ROOT: "/" + type(self.model).__name__}
        spaces: dict[str, str] = {ROOT: type(self.model).__name__}
        for path, module in self.modules.items():  # parents come before their children
            if path != ROOT:
                parent = tag_parent[path]
                if in_tag[path]:
                    local = path[len(parent) + 1 :] if parent else path
                    tags[path] = f"{tags[parent]}/{labels[path]}"
                    spaces[path] = f"{spaces[parent]}/{local.replace('/', '_')}: {type(module).__name__}"
                else:
                    tags[path], spaces[path] = tags[parent], spaces[parent]
            self.info[path] = ModuleInfo(
                path=path,
                class_name=type(module).__name__,
                qualified_class=qualified_class(module),
                parameters=sum(p.numel() for p in module.parameters()),
                tag=tags[path],
                namespace=spaces[path],
                in_tag=in_tag[path],
            )

    def _param_owners(self) -> dict[str, str]:
        """Parameter name (any alias) -> canonical path of the one module holding it; tied
        parameters (held by several modules, e.g. an LM head sharing the embeddings) are left out."""
        names: dict[int, list[str]] = {}
        owners: dict[int, set[str]] = {}
        for name, param in self.model.named_parameters(remove_duplicate=False):
            module_path = self.aliases.get(name.rpartition(".")[0], name.rpartition(".")[0])
            while module_path and isinstance(self.modules.get(module_path), CONTAINERS):
                module_path = parent_path(module_path, self.modules)  # a ParameterList's owner
            owners.setdefault(id(param), set()).add(module_path)
            names.setdefault(id(param), []).append(name)
        return {n: next(iter(owners[k])) for k, ns in names.items() if len(owners[k]) == 1 for n in ns}

    def lowest_common(self, paths: Iterable[str]) -> str:
        """The lowest common module of ``paths`` whose forward can run (containers lifted)."""
        result = common_path(paths)
        while result and (result not in self.modules or isinstance(self.modules[result], CONTAINERS)):
            result = parent_path(result, self.modules)
        return result
