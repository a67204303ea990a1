"""The results schema: one ``Row`` per matrix cell, as plain dataclasses with a versioned dict form.

A cell is (env, model, task, backend, exporter). Failures are data: every check records ``ok``
(``None`` when it did not run) and the first line of the error behind it. The verdict of a row
(:meth:`Row.status`) is decided here and nowhere else, so the tests, the renderers and the CLI agree.

Optional checks go into ``Row.records``, one JSON object per check name (:data:`TAGS`: the tag
checks of our exports; :data:`FIRST_DIVERGENCE`: where a parity failure's export departs from
PyTorch; :data:`FIXED_SIZES`: the sizes our export fixed, which ``auto`` weighs): a record with ``"ok": false`` fails the cell at a stage of that name, any other record is
information the renderers show as it comes. Version 1 rows (without ``seconds`` and ``records``)
are read as version 2 rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ..common import BACKEND_NAMES
from ..errors import ModelExportError, scrub_paths, without_subject
from ..errors import first_line as _first_line

SCHEMA_VERSION = 2
# Versions this reader accepts: older rows are upgraded (1 -> 2 adds seconds and records).
READABLE_VERSIONS = (1, 2)

Status = Literal["pass", "ort-only", "fail", "n/a"]
# Names of the optional records a cell writes (``Row.records``); a renderer shows any other as it comes.
TAGS = "tags"
FIRST_DIVERGENCE = "first_divergence"
# ``{"image_size": true}`` where the graph failed at other image sizes and was exported at the
# processor's, ``{"axes": {name: size}}`` where torch.export fixed an axis.
FIXED_SIZES = "fixed_sizes"
# Per tool users run next (``modelexport.hierarchy.survival.TOOLS``): ``[nodes, tagged as the tool
# wrote them, tagged after restore_tags]`` over the export's files, or the tool's error. Measured
# where a run asks for it (``pytest matrix/ --tag-survival``); information, never a verdict.
TAG_SURVIVAL = "tag_survival"

# Order in which statuses and columns are shown; the renderers share it.
STATUSES: tuple[Status, ...] = ("pass", "ort-only", "fail", "n/a")
EXPORTERS: tuple[str, ...] = ("modelexport", "optimum")
BACKENDS: tuple[str, ...] = BACKEND_NAMES
# Packages whose versions every row records, in display order.
VERSION_KEYS: tuple[str, ...] = (
    "python",
    "torch",
    "transformers",
    "optimum",
    "optimum-onnx",
    "onnx",
    "onnxruntime",
    "modelexport",
)


class ResultsSchemaError(ModelExportError):
    """A results record does not match this schema (wrong version, missing or malformed field)."""

    stage = "report"


def first_line(text: object, limit: int = 300) -> str:
    """The first non-empty line of an error message, without this machine's paths
    (:func:`~modelexport.errors.scrub_paths`), trimmed to ``limit`` characters."""
    return _first_line(scrub_paths(str(text)), limit)


def case_id(model: str, task: str, backend: str, exporter: str) -> str:
    """``bert-text-classification-dynamo`` for ours, ``bert-text-classification-optimum`` for Optimum's."""
    return f"{model}-{task}-{backend if exporter == 'modelexport' else exporter}"


@dataclass
class ExportOutcome:
    """Did the exporter write a directory; if not, the error's class and first line."""

    ok: bool
    error_type: str | None = None
    error: str | None = None
    seconds: float | None = None


@dataclass
class FilesCheck:
    """Are the files ``ORTModelFor<Task>.from_pretrained`` needs present."""

    ok: bool | None = None
    missing: list[str] = field(default_factory=list)


@dataclass
class ParityCheck:
    """Max absolute difference per output against PyTorch, and whether all are within tolerance."""

    ok: bool | None = None
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    atol: float | None = None
    rtol: float | None = None

    def worst(self) -> float | None:
        """The largest difference over outputs, or ``None`` when nothing was compared."""
        return max(self.max_abs_diff.values()) if self.max_abs_diff else None


@dataclass
class LoadCheck:
    """Did ``ORTModelFor<Task>.from_pretrained(dir)`` load the export."""

    ok: bool | None = None
    error: str | None = None


@dataclass
class Row:
    """One matrix cell's result."""

    case_id: str
    env: str
    model: str
    task: str
    backend: str
    exporter: str
    export: ExportOutcome
    # False when the cell cannot run in this env: the exporter cannot be imported (Optimum's, in
    # some envs), or the installed transformers has no such model type (export.error says which).
    exporter_available: bool = True
    files: FilesCheck = field(default_factory=FilesCheck)
    onnx_bytes: int | None = None
    ort_parity: ParityCheck = field(default_factory=ParityCheck)
    # ``ok is None`` with an error: Optimum cannot be imported in this env, or has no class for the
    # files (see ``optimum_available``).
    optimum_available: bool = True
    optimum_load: LoadCheck = field(default_factory=LoadCheck)
    optimum_parity: ParityCheck = field(default_factory=ParityCheck)
    hierarchy: dict[str, Any] | None = None
    # Optional per-check records, by check name (see the module docstring).
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The whole cell's wall time (fork, zoo build, export, checks), measured by the parent.
    seconds: float | None = None
    versions: dict[str, str] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    commit: str | None = None
    utc: str = ""
    schema_version: int = SCHEMA_VERSION

    @property
    def key(self) -> tuple[str, str]:
        """Identity of the cell across runs: (env, case_id)."""
        return (self.env, self.case_id)

    @property
    def column(self) -> str:
        """The matrix column within an env: the backend for ours, ``optimum`` for Optimum's exporter."""
        return self.backend if self.exporter == "modelexport" else self.exporter

    def status(self) -> Status:
        """The one verdict: pass, ort-only (Optimum cannot import here), fail, or n/a (no exporter,
        or no such model type, in this env)."""
        if not self.exporter_available:
            return "n/a"
        if self.failure() is not None:
            return "fail"
        return "pass" if self.optimum_available else "ort-only"

    def failure(self) -> tuple[str, str] | None:
        """(stage, message) of the first failing check, or ``None`` when nothing failed."""
        if not self.export.ok:
            kind = f"{self.export.error_type}: " if self.export.error_type else ""
            # The row names its model, task and backend; in a zoo run the source is a cache path.
            message = without_subject(self.export.error or "no error message")
            return ("export", f"{kind}{message}")
        if self.files.ok is not True:
            return ("files", "missing: " + ", ".join(self.files.missing or ["(not checked)"]))
        if self.ort_parity.ok is not True:
            return (_stage("ort", self.ort_parity), self.ort_parity.error or _diff_text(self.ort_parity))
        if self.optimum_available:
            if self.optimum_load.ok is not True:
                return ("optimum load", self.optimum_load.error or "not run")
            if self.optimum_parity.ok is not True:
                check = self.optimum_parity
                return (_stage("optimum", check), check.error or _diff_text(check))
        return self._record_failure()

    def _record_failure(self) -> tuple[str, str] | None:
        for name in sorted(self.records):
            record = self.records[name]
            if isinstance(record, Mapping) and record.get("ok") is False:
                return (name, str(record.get("error") or "failed"))
        return None

    def worst_diff(self) -> float | None:
        """The figure a cell shows: Optimum-run max|Δ| where it ran, else plain ONNX Runtime's."""
        worst = self.optimum_parity.worst()
        return worst if worst is not None else self.ort_parity.worst()

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form, keys in schema order."""
        data = asdict(self)
        data = {"schema_version": data.pop("schema_version"), **data}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Row:
        """Parse a row, refusing other schema versions and malformed records."""
        version = data.get("schema_version")
        if version not in READABLE_VERSIONS:
            readable = ", ".join(map(str, READABLE_VERSIONS))
            raise ResultsSchemaError(
                f"results row has schema_version {version!r}; this modelexport reads {readable}.",
                hint="re-run the matrix with this version, or render with the version that wrote it.",
            )
        try:
            fields = dict(data)
            fields.pop("schema_version")
            fields["records"] = dict(fields.get("records") or {})
            fields.pop("status", None)  # derived; results.json carries it for readers
            # Only the export outcome is required; a check that is absent did not run.
            return cls(
                export=ExportOutcome(**fields.pop("export")),
                files=FilesCheck(**fields.pop("files", {})),
                ort_parity=ParityCheck(**fields.pop("ort_parity", {})),
                optimum_load=LoadCheck(**fields.pop("optimum_load", {})),
                optimum_parity=ParityCheck(**fields.pop("optimum_parity", {})),
                **fields,
            )
        except (KeyError, TypeError) as e:
            raise ResultsSchemaError(
                f"malformed results row {data.get('case_id')!r}: {e}.",
                hint="the file was written by something else or edited by hand.",
            ) from e


# How the checks begin the error of a file that raised as it ran (ONNX Runtime refused an input or
# stopped at a node; Optimum's class raised): no output was compared.
RUN_ERRORS = ("ONNX Runtime: ", "run: ", "run on the ")


def _stage(runner: str, check: ParityCheck) -> str:
    """``<runner> run`` when the file could not be run on the check's inputs, else ``<runner>
    parity`` (its outputs were compared, or are missing or misshapen)."""
    raised = not check.max_abs_diff and (check.error or "").startswith(RUN_ERRORS)
    return f"{runner} run" if raised else f"{runner} parity"


def _diff_text(check: ParityCheck) -> str:
    if not check.max_abs_diff:
        return "not compared"
    parts = ", ".join(f"{name} {diff:.2e}" for name, diff in check.max_abs_diff.items())
    return f"max|Δ| beyond tolerance: {parts}"
