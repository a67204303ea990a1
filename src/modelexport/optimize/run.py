"""One rewrite of an export directory: read it, rewrite every ONNX file, re-tag, verify, package.

The PyTorch model named in ``export_metadata.json`` is loaded once: its plan gives the inputs the
export was verified on and PyTorch's outputs for them (:mod:`modelexport.verify`), and its module
tree the tags of fused nodes. The output is built in a staging directory and swapped into place only
once every file is written, tagged and verified (:func:`modelexport.staging.staging_dir`).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import onnx

from ..errors import LoadError, ModelExportError, TagError, UserInputError, subject
from ..graph import node_keys, strip_node_metadata, walk
from ..hierarchy import HierarchyReport, ModuleIndex, ModuleRecord, NodeRecord
from ..hierarchy.report import Source
from ..loading import LoadedModel, load
from ..packaging import METADATA_FILE, save_onnx, sidecar_name, write_json
from ..parts import Plan
from ..plan import plan_of_export
from ..staging import check_not_source, check_output_dir, staging_dir
from ..verify import References, references
from .source import ExportDir, read_export
from .tags import NodeTags, restore, tag_coverage, tagged_copy

ProgressCallback = Callable[[str], None]
_PROTOBUF_LIMIT = 2**31 - 1


@dataclass
class Rewritten:
    """What a rewrite of one file produced: the graph and a record of what was done."""

    model: onnx.ModelProto
    record: dict[str, Any]


# (file name, original graph, each original node's module, a scratch directory) -> the rewrite
RewriteFile = Callable[[str, onnx.ModelProto, list[str], Path], Rewritten]


@dataclass
class RewriteStatus:
    """The result of ``optimize`` / ``quantize``: where it went, what was done, how it verified."""

    command: str
    source_dir: str
    output_dir: str
    record: dict[str, Any] = field(default_factory=dict)
    verification: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """The export and its source model, loaded once for every file."""

    export: ExportDir
    loaded: LoadedModel
    plan: Plan
    refs: References
    index: ModuleIndex
    originals: dict[str, onnx.ModelProto] = field(default_factory=dict)
    restored: dict[str, NodeTags] = field(default_factory=dict)
    reports: dict[str, HierarchyReport] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return subject(self.export.path.name, self.export.task)


def _load_source(export: ExportDir, model: str | None, trust_remote_code: bool) -> LoadedModel:
    source = model or export.source_model
    try:
        return load(source, export.task, trust_remote_code=trust_remote_code)
    except ModelExportError as e:
        raise LoadError(
            f"cannot load '{source}', the model {export.path.name} was exported from, to verify "
            f"against: {e.message}",
            hint="pass --model with the model directory (or Hub id) it was exported from.",
        ) from e


def open_context(directory: str | Path, output: Path, model: str | None, trust_remote_code: bool) -> Context:
    """Read the export, refuse an output that overlaps it, load the source model and its references."""
    export = read_export(directory)
    check_not_source(output, export.path)
    loaded = _load_source(export, model, trust_remote_code)
    plan = plan_of_export(loaded, export.metadata)
    if plan.files != export.onnx_files:
        raise UserInputError(
            f"{export.path.name} holds {export.onnx_files}, but modelexport now writes {plan.files} for "
            f"this model and task: it was exported by another version.",
            hint="re-export the model with this modelexport, then rewrite that export.",
        )
    include_torch_nn = export.report(export.onnx_files[0]).include_torch_nn
    index = ModuleIndex(loaded.model, include_torch_nn)
    return Context(export, loaded, plan, references(plan), index)


def _report(old: HierarchyReport, model: onnx.ModelProto, tags: NodeTags, note: str) -> HierarchyReport:
    """hierarchy.json of the rewritten file: the same modules, its own nodes."""
    modules = {
        p: ModuleRecord(p, m.class_name, m.qualified_class, m.tag, m.parameters)
        for p, m in old.modules.items()
    }
    refs = walk(model.graph)
    nodes = [
        NodeRecord(key, ref.node.op_type, path, cast(Source, source), ref.graph)
        for key, ref, path, source in zip(node_keys(refs), refs, tags.paths, tags.sources, strict=True)
    ]
    notes = [*old.notes, note]
    return HierarchyReport(
        old.backend, old.model_class, old.include_torch_nn, modules, nodes, old.source_available, notes
    )


def copy_companions(export: ExportDir, stage: Path) -> list[str]:
    """Copy every regular file of the export that a rewrite does not remake (configs, tokenizer,
    processors); returns their names."""
    remade = {METADATA_FILE, *export.onnx_files, *(sidecar_name(f) for f in export.onnx_files)}
    remade |= {f"{f}_data" for f in export.onnx_files}
    copied = []
    for entry in sorted(export.path.iterdir()):
        if entry.name in remade or entry.is_symlink() or not entry.is_file():
            continue
        shutil.copy2(entry, stage / entry.name)
        copied.append(entry.name)
    return copied


def rewrite_files(
    ctx: Context, stage: Path, rewrite: RewriteFile, note: str, progress: ProgressCallback | None
) -> dict[str, dict[str, Any]]:
    """Rewrite, re-tag and write every ONNX file (and its hierarchy.json) into ``stage``."""
    records: dict[str, dict[str, Any]] = {}
    work = Path(stage) / ".work"
    for file in ctx.export.onnx_files:
        if progress:
            progress(f"{note} {file}")
        original = ctx.export.load_onnx(file)
        if original.ByteSize() > _PROTOBUF_LIMIT:
            raise UserInputError(
                f"{file} holds more than 2 GB: ONNX Runtime's optimizer and quantizer take it as one "
                "protobuf message, which cannot be that large.",
                hint="optimize and quantize exports under 2 GB (use Optimum's tools with external data).",
            )
        paths, sources = ctx.export.node_tags(file, original)
        if ctx.export.clean_onnx:  # its tags are in hierarchy.json only
            original = tagged_copy(original, paths, sources, ctx.index)
        done = rewrite(file, original, paths, work)
        tagged = restore(original, done.model)
        covered, total = tag_coverage(done.model)
        report = _report(
            ctx.export.report(file), done.model, tagged, f"{note}: {tagged.stats.fused} fused nodes"
        )
        if ctx.export.clean_onnx:
            strip_node_metadata(done.model)
        save_onnx(done.model, stage / file)
        write_json(stage / sidecar_name(file), report.to_json())
        ctx.originals[file], ctx.restored[file], ctx.reports[file] = original, tagged, report
        records[file] = {**done.record, "tags": {**tagged.stats.to_json(), "nodes_tagged": covered}}
        if covered != total and not ctx.export.clean_onnx:
            raise TagError(f"{ctx.subject}: {total - covered} of {total} nodes of {file} left untagged.")
    shutil.rmtree(work, ignore_errors=True)
    return records


def _hierarchy_summary(reports: dict[str, HierarchyReport]) -> dict[str, Any]:
    """The metadata's tag summary: one file's, or each file's under ``files`` with the node total."""
    if len(reports) == 1:
        return next(iter(reports.values())).summary()
    files = {f: r.summary() for f, r in reports.items()}
    return {"nodes_total": sum(s["nodes_total"] for s in files.values()), "files": files}


def write_metadata(
    ctx: Context, stage: Path, key: str, record: dict[str, Any], verification: dict[str, Any]
) -> None:
    """The export's metadata with this rewrite recorded under ``key``, the new verification and tags."""
    meta = dict(ctx.export.metadata)
    meta[key] = {
        **record,
        "rewritten_from": str(ctx.export.path),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    meta["verification"] = verification
    meta["hierarchy"] = _hierarchy_summary(ctx.reports)
    write_json(stage / METADATA_FILE, meta)


def run_rewrite(
    directory: str | Path,
    output_dir: str | Path,
    *,
    command: str,
    force: bool,
    model: str | None,
    trust_remote_code: bool,
    progress: ProgressCallback | None,
    body: Callable[[Context, Path], tuple[dict[str, Any], dict[str, Any], dict[str, Any]]],
) -> RewriteStatus:
    """Open the export, run ``body`` (which writes the files into the staging directory and returns
    the record, the verification and extras), write the metadata, swap the output into place."""
    started = time.perf_counter()
    out = Path(os.fspath(output_dir)).expanduser().resolve()
    check_output_dir(out, force=force)  # before loading anything
    if progress:
        progress("load")
    ctx = open_context(directory, out, model, trust_remote_code)
    status = RewriteStatus(command, str(ctx.export.path), str(out))
    with staging_dir(out, force=force) as stage:
        copy_companions(ctx.export, stage)
        status.record, status.verification, status.extra = body(ctx, stage)
        if progress:
            progress("package")
        write_metadata(ctx, stage, command_key(command), status.record, status.verification)
    status.tags = {f: r.stats.to_json() for f, r in ctx.restored.items()}
    status.seconds = round(time.perf_counter() - started, 2)
    return status


def command_key(command: str) -> str:
    """The export_metadata.json key a command records itself under."""
    return {"optimize": "optimization", "quantize": "quantization"}[command]
