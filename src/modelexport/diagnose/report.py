"""What a diff found, as data: per file, per module in execution order, and the first divergent one.

``first_divergent_module`` is the innermost, earliest module whose own nodes make an error beyond
tolerance when every value entering them is PyTorch's (its local error); when no module's nodes do
by themselves (small errors adding up), it is the innermost, earliest module whose output exceeds
tolerance while its inputs are within it. ``None`` when nothing diverges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ModelExportError
from .compare import Error, json_float
from .tags import TagSource

Found = Literal["local", "output"]


class DiffError(ModelExportError):
    """The diff itself could not run (ONNX Runtime cannot run the file on its inputs)."""

    stage = "diff"


@dataclass(frozen=True)
class RunFailure:
    """Where ONNX Runtime stopped on a file that PyTorch runs: the node it was running and the
    module that node belongs to, or the graph input it refused (a fixed dimension, a dtype)."""

    file: str
    message: str  # ONNX Runtime's: ``Type: first line``
    node: str | None = None
    op: str | None = None
    module: str | None = None
    input: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


class RunFailureError(DiffError):
    """ONNX Runtime cannot run the file on inputs PyTorch runs; ``failure`` says where."""

    def __init__(self, message: str, failure: RunFailure, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.failure = failure


@dataclass
class ModuleDiff:
    """One module of one file: its error at its outputs (carried in or made here), at its inputs,
    and the error its own nodes make on PyTorch's values (local)."""

    path: str
    class_name: str
    order: int  # the start order of its first call
    end: int  # the order its first call returned in
    calls: int
    nodes: int
    output: Error | None = None
    input: Error | None = None
    local: Error | None = None
    outputs_compared: int = 0
    outputs_unpaired: int = 0  # boundary outputs with no PyTorch counterpart (not compared)
    worst_output: str | None = None  # the ONNX value with the largest output error

    @property
    def depth(self) -> int:
        return len(self.path.split(".")) if self.path else 0

    def to_json(self) -> dict[str, Any]:
        def part(e: Error | None, prefix: str) -> dict[str, Any]:
            if e is None:
                return {f"{prefix}max_abs": None, f"{prefix}max_rel": None, f"{prefix}ok": None}
            return {
                f"{prefix}max_abs": json_float(e.max_abs),
                f"{prefix}max_rel": json_float(e.max_rel),
                f"{prefix}ok": e.ok,
            }

        return {
            "path": self.path,
            "class": self.class_name,
            "order": self.order,
            "calls": self.calls,
            "nodes": self.nodes,
            **part(self.output, ""),
            **part(self.input, "input_"),
            **part(self.local, "local_"),
            "outputs_compared": self.outputs_compared,
            "outputs_unpaired": self.outputs_unpaired,
            "worst_output": self.worst_output,
        }


@dataclass
class FedInput:
    """A graph input PyTorch's model makes for itself, fed by the diff as the matrix's checks do
    (Optimum's ``position_ids``), against the value PyTorch's code made."""

    name: str
    made_by: str | None
    error: Error | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "made_by": self.made_by, **(self.error.to_json() if self.error else {})}


@dataclass
class PartDiff:
    """One ONNX file on one of its check input sets."""

    file: str
    role: str
    check: str
    tags: TagSource
    input_shapes: dict[str, list[int]]
    outputs: dict[str, Error]
    modules: list[ModuleDiff]
    first_divergent_module: str | None = None
    found_by: Found | None = None
    branch: str | None = None  # a merged decoder's branch (then_branch: with past)
    derived_inputs: list[FedInput] = field(default_factory=list)
    outer_nodes: list[int] = field(default_factory=list)  # a branch: the outer nodes its graph starts with
    notes: list[str] = field(default_factory=list)
    # per node of the diffed graph, in order: max|Δ| of what it computes (Model Explorer's overlay)
    node_errors: list[float | None] = field(default_factory=list)

    @property
    def diverges(self) -> bool:
        return self.first_divergent_module is not None or not all(e.ok for e in self.outputs.values())

    def module(self, path: str | None) -> ModuleDiff | None:
        return next((m for m in self.modules if m.path == path), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "branch": self.branch,
            "role": self.role,
            "check": self.check,
            "tags": self.tags,
            "input_shapes": self.input_shapes,
            "outputs": {k: v.to_json() for k, v in self.outputs.items()},
            "first_divergent_module": self.first_divergent_module,
            "found_by": self.found_by,
            "derived_inputs": [d.to_json() for d in self.derived_inputs],
            "notes": list(self.notes),
            "modules": [m.to_json() for m in self.modules],
        }


@dataclass
class DiffReport:
    """Every file of an export directory against PyTorch."""

    directory: str
    source: str
    task: str
    exporter: str | None
    atol: float
    rtol: float
    parts: list[PartDiff]

    @property
    def first(self) -> PartDiff | None:
        """The first file (in the export's order) that diverges."""
        return next((p for p in self.parts if p.diverges), None)

    @property
    def first_divergent_module(self) -> str | None:
        part = self.first
        return part.first_divergent_module if part else None

    def to_json(self) -> dict[str, Any]:
        first = self.first
        return {
            "directory": self.directory,
            "source": self.source,
            "task": self.task,
            "exporter": self.exporter,
            "atol": self.atol,
            "rtol": self.rtol,
            "diverges": first is not None,
            "first_divergent_module": self.first_divergent_module,
            "file": first.file if first else None,
            "modules": [{"file": p.file, **m.to_json()} for p in self.parts for m in p.modules],
            "files": [p.to_json() for p in self.parts],
        }
