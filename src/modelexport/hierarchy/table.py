"""The module tree as a tagged ONNX graph records it: path -> class, tag and namespace, read back
from the ``modelexport.*`` node tags alone (no PyTorch model needed).

Ancestors that own no node of their own (``bert.encoder.layer.0.attention`` when every node lies
in its children) are recovered from a descendant's namespace, whose ``<name>: <Class>`` segments
follow the module path, and its tag, which has one segment per namespace segment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import onnx

from ..graph import walk
from .modules import ROOT, common_path
from .tagging import KEY_CLASS, KEY_MODULE, KEY_NAMESPACE, KEY_TAG


@dataclass(frozen=True)
class TaggedModule:
    """What a node tag says about one module."""

    path: str
    class_name: str
    tag: str
    namespace: str


def node_tags(node: onnx.NodeProto) -> dict[str, str]:
    return {p.key: p.value for p in node.metadata_props}


class ModuleTable:
    """Modules named by the node tags of one graph, with their ancestors; lowest common modules."""

    def __init__(self, modules: Iterable[TaggedModule]) -> None:
        self.modules: dict[str, TaggedModule] = {}
        for module in modules:
            self.modules.setdefault(module.path, module)
        for module in list(self.modules.values()):
            for ancestor in _ancestors(module):
                self.modules.setdefault(ancestor.path, ancestor)

    @classmethod
    def from_model(cls, model: onnx.ModelProto) -> ModuleTable:
        """The table of every module a node of ``model`` (subgraphs included) is tagged with."""
        found = []
        for ref in walk(model.graph):
            props = node_tags(ref.node)
            if KEY_MODULE in props:
                found.append(
                    TaggedModule(
                        props[KEY_MODULE],
                        props.get(KEY_CLASS, "?"),
                        props.get(KEY_TAG, ""),
                        props.get(KEY_NAMESPACE, ""),
                    )
                )
        return cls(found)

    def __contains__(self, path: str) -> bool:
        return path in self.modules

    def __bool__(self) -> bool:
        return bool(self.modules)

    def info(self, path: str) -> TaggedModule:
        """The module at ``path``, else its nearest known ancestor (the root at last)."""
        current = path
        while current not in self.modules and current:
            current = current.rpartition(".")[0]
        return self.modules.get(current) or self._root()

    def _root(self) -> TaggedModule:
        any_module = next(iter(self.modules.values()), None)
        root_class = any_module.namespace.split("/", 1)[0] if any_module else "?"
        return TaggedModule(ROOT, root_class, f"/{root_class}", root_class)

    def lowest_common(self, paths: Iterable[str]) -> str:
        """The deepest known module holding every path of ``paths`` (the root when empty)."""
        return self.info(common_path(paths)).path


def _ancestors(module: TaggedModule) -> list[TaggedModule]:
    """The modules above ``module`` that its namespace and tag name, root first."""
    segments = module.namespace.split("/") if module.namespace else []
    tag_parts = module.tag.split("/")[1:] if module.tag.startswith("/") else []
    if not segments or len(tag_parts) != len(segments):
        return []
    root = segments[0]
    out = [TaggedModule(ROOT, root, f"/{tag_parts[0]}", root)]
    path = ""
    for i, segment in enumerate(segments[1:], start=1):
        name, _, class_name = segment.rpartition(": ")
        if not name:
            return out
        path = f"{path}.{name}" if path else name
        if path != module.path and not module.path.startswith(path + "."):
            return out  # the namespace does not follow the module path: trust no more of it
        out.append(
            TaggedModule(path, class_name, "/" + "/".join(tag_parts[: i + 1]), "/".join(segments[: i + 1]))
        )
    return out
