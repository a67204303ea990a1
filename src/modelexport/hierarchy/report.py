"""The tagging result as data: per-node module paths, per-module counts, honest statistics.

``to_json()`` is what the exporter writes as ``hierarchy.json``; ``from_json()`` reads it back (the
``modelexport hierarchy`` command uses it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .modules import ROOT, parent_path

SCHEMA_VERSION = 1
Source = Literal["scope", "inherited", "inferred", "none", "restored", "fused"]
SOURCES: tuple[Source, ...] = ("scope", "inherited", "inferred", "none", "restored", "fused")


@dataclass(frozen=True)
class NodeRecord:
    """One ONNX node: its key (name, or ``<graph>#<index>``), op type, module path and how it got it."""

    key: str
    op_type: str
    module: str
    source: Source
    graph: str = "main"


@dataclass
class ModuleRecord:
    """One module of the model with the nodes tagged directly on it (from source vs inherited)."""

    path: str
    class_name: str
    qualified_class: str = ""
    tag: str = ""
    parameters: int = 0
    from_source: int = 0
    inherited: int = 0
    subtree_nodes: int = 0

    @property
    def direct(self) -> int:
        return self.from_source + self.inherited


@dataclass
class HierarchyReport:
    """What :func:`tag_model` found; ``summary()`` for metadata files, ``to_json()`` for the sidecar."""

    backend: str
    model_class: str
    include_torch_nn: bool
    modules: dict[str, ModuleRecord]
    nodes: list[NodeRecord]
    source_available: bool = True
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._count_nodes()

    def _count_nodes(self) -> None:
        for record in self.modules.values():
            record.from_source = record.inherited = record.subtree_nodes = 0
        for node in self.nodes:
            record = self.modules.setdefault(node.module, ModuleRecord(node.module, "?"))
            if node.source == "scope":
                record.from_source += 1
            else:
                record.inherited += 1
        for path, record in list(self.modules.items()):
            current: str | None = path
            while current is not None:
                self.modules.setdefault(current, ModuleRecord(current, "?")).subtree_nodes += record.direct
                current = None if current == ROOT else parent_path(current, self.modules)

    def summary(self) -> dict[str, Any]:
        """Small statistics: never a blanket 100%, each node is counted once by how it was tagged."""
        sources = Counter(n.source for n in self.nodes)
        total = len(self.nodes)
        return {
            "backend": self.backend,
            "nodes_total": total,
            "nodes_from_source": sources["scope"],
            "nodes_inherited": sources["inherited"],
            "nodes_inferred": sources["inferred"],
            "nodes_unresolved": sources["none"],
            "nodes_on_root": sum(1 for n in self.nodes if n.module == ROOT),
            "source_fraction": round(sources["scope"] / total, 4) if total else 0.0,
            "modules_total": len(self.modules),
            "modules_with_nodes": sum(1 for m in self.modules.values() if m.direct),
        } | {f"nodes_{s}": sources[s] for s in ("restored", "fused") if sources[s]}

    def module_of(self) -> dict[str, str]:
        """Node key -> module path."""
        return {n.key: n.module for n in self.nodes}

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "backend": self.backend,
            "model_class": self.model_class,
            "include_torch_nn": self.include_torch_nn,
            "source_available": self.source_available,
            "notes": list(self.notes),
            "summary": self.summary(),
            "modules": [
                {**asdict(m), "direct": m.direct}
                for m in sorted(self.modules.values(), key=lambda m: sort_key(m.path))
            ],
            "nodes": {
                n.key: {"module": n.module, "op_type": n.op_type, "source": n.source}
                | ({"graph": n.graph} if n.graph != "main" else {})
                for n in self.nodes
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> HierarchyReport:
        """Read what :meth:`to_json` wrote; ``ValueError`` saying what is wrong for anything else."""
        _check_shape(data)
        fields = ModuleRecord.__dataclass_fields__
        modules = {
            m["path"]: ModuleRecord(**{k: v for k, v in m.items() if k in fields})
            for m in data.get("modules", [])
        }
        nodes = [
            NodeRecord(key, v["op_type"], v["module"], v["source"], v.get("graph", "main"))
            for key, v in data.get("nodes", {}).items()
        ]
        return cls(
            backend=data.get("backend", "?"),
            model_class=data.get("model_class", "?"),
            include_torch_nn=bool(data.get("include_torch_nn", True)),
            modules=modules,
            nodes=nodes,
            source_available=bool(data.get("source_available", True)),
            notes=list(data.get("notes", [])),
        )


def sort_key(path: str) -> tuple[Any, ...]:
    """Natural order: ``layer.2`` before ``layer.10``."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in path.split(".")) if path else ()


def _check_shape(data: Any) -> None:
    """``data`` has hierarchy.json's shape: the schema version, modules and nodes of the right types."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, found {type(data).__name__}")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"schema_version is {data.get('schema_version')!r}, not {SCHEMA_VERSION}")
    modules, nodes = data.get("modules"), data.get("nodes")
    if not isinstance(modules, list) or not all(
        isinstance(m, dict) and isinstance(m.get("path"), str) and isinstance(m.get("class_name"), str)
        for m in modules
    ):
        raise ValueError("'modules' is not a list of modules with a path and a class_name")
    if not isinstance(nodes, dict) or not all(
        isinstance(v, dict)
        and isinstance(v.get("module"), str)
        and isinstance(v.get("op_type"), str)
        and v.get("source") in SOURCES
        for v in nodes.values()
    ):
        raise ValueError("'nodes' is not a map of nodes with a module, an op_type and a source")
