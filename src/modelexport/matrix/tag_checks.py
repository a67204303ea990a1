"""A matrix cell's tag checks: are an export's node tags right, or honestly labelled as inferred?

From the export directory's ``hierarchy.json`` files (one per ONNX file) and the PyTorch model:

* every tag names a module of the model (or the model itself);
* the siblings of one ``ModuleList`` / ``ModuleDict`` built alike (same class, parameter shapes,
  submodules and settings) get equal node counts in each file, within :data:`SIBLING_TOLERANCE`,
  except what they did not run (``sibling_checks``);
* the shares of nodes on the root, inferred and inherited (information, never a failure);
* given the other backend's export of the same row, both put the weight-carrying ops (MatMul, Gemm,
  Conv, embedding Gather) in the same module for at least :data:`AGREEMENT_MIN` of them.

:func:`check_tags` returns a :class:`TagCheck` record (``to_json`` for a row's ``records``); a record
with ``ok`` false names its first failure in ``error``. :func:`add_agreement` adds the weight-op
agreement to a record afterwards, once the other backend's export exists. ``TagCheck.from_json``
reads any earlier or later form of the record: missing fields take their defaults, unknown ones
are ignored.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import onnx

from ..hierarchy import module_agreement
from ..hierarchy.cli import load_reports
from ..hierarchy.modules import ROOT
from .sibling_checks import (
    SIBLING_TOLERANCE,
    WeightsInFile,
    check_siblings,
    shape_arithmetic,
    sibling_groups,
)

AGREEMENT_MIN = 0.95
EXAMPLES = 3  # offending modules or ops named in a record


@dataclass
class TagCheck:
    """The tag checks of one export (see the module docstring); ``ok`` is None when not run."""

    ok: bool | None = None
    error: str | None = None
    files: int = 0
    nodes: int = 0
    unknown: int = 0  # nodes whose tag names no module of the model
    unknown_modules: list[str] = field(default_factory=list)
    sibling_groups: int = 0  # groups of alike siblings compared (per file)
    sibling_failures: list[str] = field(default_factory=list)
    sibling_partial: list[str] = field(default_factory=list)  # siblings that left submodules out
    sibling_unused: list[str] = field(default_factory=list)  # siblings that did not run in a file
    root_share: float = 0.0
    inferred_share: float = 0.0
    inherited_share: float = 0.0
    unresolved: int = 0  # nodes with no record and no tagged neighbour (on the root)
    agreement: float | None = None  # weight ops in the same module as the other backend's export
    agreement_matched: int = 0
    agreement_disagreements: list[str] = field(default_factory=list)
    agreement_not_run: str | None = None  # why there is no agreement (no other export, no weight op)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TagCheck:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def summary(self) -> str:
        """One line for a table cell: ``ok``, or the failure."""
        if self.ok is None:
            return "not run" + (f": {self.error}" if self.error else "")
        agreement = "" if self.agreement is None else f", weight ops agree {self.agreement:.0%}"
        shares = f"root {self.root_share:.1%}, inferred {self.inferred_share:.1%}{agreement}"
        return f"ok ({shares})" if self.ok else f"{self.error} ({shares})"


def check_tags(export_dir: Path, model: Any, other_export: Path | None = None) -> TagCheck:
    """The tag checks of ``export_dir``, exported from the PyTorch ``model`` (the Hugging Face
    model as loaded); with ``other_export``, the other backend's export of the same model and task,
    the weight-op agreement too. Never raises: a check that cannot run is a record with its error."""
    record = TagCheck()
    try:
        reports = load_reports(Path(export_dir))
    except Exception as e:
        record.error = f"no tags to check: {e}"
        return record
    known = {p for p, _ in model.named_modules(remove_duplicate=False)} | {ROOT}
    groups = sibling_groups(model)
    tensors = dict(model.named_parameters()) | dict(model.named_buffers())
    counts: defaultdict[str, int] = defaultdict(int)
    unknown: set[str] = set()
    for name, report in reports.items():
        record.files += 1
        record.nodes += len(report.nodes)
        for node in report.nodes:
            counts[node.source] += 1
            counts["root"] += node.module == ROOT
            if node.module not in known:
                record.unknown += 1
                unknown.add(node.module)
        onnx_model = _onnx_of(Path(export_dir), name)
        weights = WeightsInFile(onnx_model, tensors)
        found = check_siblings(report, groups, model, weights, shape_arithmetic(onnx_model))
        record.sibling_groups += found.compared
        record.sibling_failures += found.failures
        record.sibling_partial += [f"{name}: {p}" for p in found.partial]
        record.sibling_unused += [f"{name}: {u}" for u in found.unused]
    record.unknown_modules = sorted(unknown)[:EXAMPLES]
    record.sibling_partial = record.sibling_partial[:EXAMPLES]
    record.sibling_unused = record.sibling_unused[:EXAMPLES]
    total = max(record.nodes, 1)
    record.root_share = round(counts["root"] / total, 4)
    record.inferred_share = round(counts["inferred"] / total, 4)
    record.inherited_share = round(counts["inherited"] / total, 4)
    record.unresolved = counts["none"]
    if other_export is not None:
        _check_agreement(Path(export_dir), Path(other_export), record)
    record.error = _first_failure(record)
    record.ok = record.error is None
    return record


def add_agreement(record: TagCheck, export_dir: Path, other_export: Path) -> TagCheck:
    """``record`` (of ``export_dir``) with the weight-op agreement against ``other_export``, the
    other backend's export of the same row, and its verdict again: for a harness that checks each
    backend's cell on its own and compares the two once both exist. Never raises."""
    if record.ok is None:
        return record  # the checks did not run: nothing to add to
    try:
        _check_agreement(Path(export_dir), Path(other_export), record)
    except Exception as e:
        record.agreement, record.ok = None, None
        record.error = f"weight-op agreement did not run: {type(e).__name__}: {e}".splitlines()[0]
        return record
    record.error = _first_failure(record)
    record.ok = record.error is None
    return record


def _onnx_of(export_dir: Path, name: str) -> onnx.ModelProto:
    """The ONNX file a report belongs to (its initializers say which weights it uses)."""
    path = export_dir / name if export_dir.is_dir() else export_dir
    if path.suffix != ".onnx":
        path = path.with_name(path.name.removesuffix(".hierarchy.json").removesuffix(".json") + ".onnx")
    if not path.is_file():
        path = next(iter(sorted(path.parent.glob("*.onnx"))), path)
    return onnx.load(str(path)) if path.is_file() else onnx.ModelProto()


def _tagged_onnx(export_dir: Path) -> dict[str, onnx.ModelProto]:
    return {f.name: onnx.load(str(f)) for f in sorted(export_dir.glob("*.onnx"))}


def _check_agreement(export_dir: Path, other_export: Path, record: TagCheck) -> None:
    mine, theirs = _tagged_onnx(export_dir), _tagged_onnx(other_export)
    matched = agreed = 0
    record.agreement_disagreements, record.agreement_not_run = [], None
    files = sorted(mine.keys() & theirs.keys())
    for name in files:
        result = module_agreement(mine[name], theirs[name])
        matched, agreed = matched + result.matched, agreed + result.agreed
        record.agreement_disagreements += [f"{name}: {a} vs {b}" for a, b in result.disagreements]
    record.agreement_disagreements = record.agreement_disagreements[:EXAMPLES]
    record.agreement_matched = matched
    record.agreement = round(agreed / matched, 4) if matched else None
    if not matched:
        record.agreement_not_run = (
            f"no weight op (MatMul, Gemm, Conv, embedding Gather) in both exports' {', '.join(files)}"
            if files
            else f"no ONNX file of the same name in both exports ({', '.join(sorted(mine))} vs "
            f"{', '.join(sorted(theirs)) or 'none'})"
        )


def _first_failure(record: TagCheck) -> str | None:
    if record.files == 0:
        return "no ONNX file with tags"
    if record.unknown:
        return (
            f"{record.unknown} nodes tagged with no module of the model: {', '.join(record.unknown_modules)}"
        )
    if record.sibling_failures:
        return f"alike siblings differ by more than {SIBLING_TOLERANCE:.0%}: {record.sibling_failures[0]}"
    if record.agreement is not None and record.agreement < AGREEMENT_MIN:
        return (
            f"the backends put {record.agreement:.1%} of {record.agreement_matched} weight ops in the "
            f"same module (< {AGREEMENT_MIN:.0%})"
        )
    return None
