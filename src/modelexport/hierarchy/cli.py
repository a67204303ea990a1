"""``modelexport hierarchy PATH``: the module tree of an export with node counts.

PATH is an export directory (its ``hierarchy.json``, or one ``<file>.hierarchy.json`` per ONNX file
of a generative export, else its ``.onnx`` files), a ``.onnx`` file (its node tags, else the
sidecar beside it) or a sidecar itself. Anything else is a one-line error (exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import click
import onnx

from ..errors import UserInputError
from ..graph import read_model, walk
from ..packaging import HIERARCHY_FILE, sidecar_name
from .modules import ROOT, parent_path
from .report import SOURCES, HierarchyReport, ModuleRecord, NodeRecord, Source, sort_key
from .tagging import KEY_CLASS, KEY_MODULE, KEY_SOURCE, KEY_TAG

SIDECAR = HIERARCHY_FILE
_CONTAINERS = ("ModuleList", "ModuleDict")
_HINT = "pass an export directory, one of its .onnx files or its hierarchy.json."


def sidecar_of(onnx_file: Path) -> Path:
    return onnx_file.with_name(sidecar_name(onnx_file.name))


def report_from_onnx(model: onnx.ModelProto) -> HierarchyReport | None:
    """Rebuild a report from the ``modelexport.*`` node tags; None when the file carries none."""
    nodes, classes, tags = [], {}, {}
    for ref in walk(model.graph):
        props = {p.key: p.value for p in ref.node.metadata_props}
        if KEY_MODULE not in props:
            return None
        path = props[KEY_MODULE]
        classes[path], tags[path] = props.get(KEY_CLASS, "?"), props.get(KEY_TAG, "")
        source: Source = cast(Source, props[KEY_SOURCE]) if props.get(KEY_SOURCE) in SOURCES else "none"
        key = ref.node.name or f"{ref.graph}#{ref.index}"
        nodes.append(NodeRecord(key, ref.node.op_type, path, source, ref.graph))
    modules = {p: ModuleRecord(p, c, tag=tags[p]) for p, c in classes.items()}
    root_class = classes.get(ROOT) or next(iter(tags.values()), "/?").split("/")[1]
    return HierarchyReport("?", root_class, True, modules, nodes)


def load_reports(path: Path) -> dict[str, HierarchyReport]:
    """File name -> report, for an export directory (every ONNX file), a .onnx file or a sidecar;
    a :class:`UserInputError` saying what is wrong otherwise."""
    if not path.exists():
        raise UserInputError(f"'{path}' does not exist.", hint=_HINT)
    if path.is_dir():
        onnx_files = sorted(path.glob("*.onnx"))
        if not onnx_files:
            if (path / SIDECAR).is_file():
                return {SIDECAR: _read_sidecar(path / SIDECAR)}
            raise UserInputError(f"'{path}' holds neither {SIDECAR} nor a .onnx file.", hint=_HINT)
        return {f.name: load_report(f) for f in onnx_files}
    return {path.name: load_report(path)}


def load_report(path: Path) -> HierarchyReport:
    """The report of one ONNX file (its sidecar, else its node tags) or of one sidecar."""
    if path.suffix == ".json":
        return _read_sidecar(path)
    if sidecar_of(path).is_file():
        return _read_sidecar(sidecar_of(path))
    report = report_from_onnx(read_model(path))
    if report is None:
        raise UserInputError(
            f"'{path}' has no modelexport tags and no {sidecar_of(path).name} beside it.",
            hint="export the model with modelexport (without --clean-onnx, or keep its hierarchy.json).",
        )
    return report


def _read_sidecar(path: Path) -> HierarchyReport:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return HierarchyReport.from_json(data)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise UserInputError(
            f"'{path}' is not a hierarchy.json ({type(e).__name__}: {e}).", hint=_HINT
        ) from e


def render_tree(report: HierarchyReport) -> list[str]:
    """The module tree as text lines: name, class, nodes in the subtree (direct: source/inherited)."""
    s = report.summary()
    lines = [
        f"{report.model_class}  {s['nodes_total']} nodes: {s['nodes_from_source']} from source, "
        f"{s['nodes_inherited']} inherited, {s['nodes_unresolved']} unresolved, "
        f"{s['nodes_on_root']} on the root  [{report.backend}]"
    ]

    def shown(path: str) -> bool:  # lists and dicts of modules run no forward of their own
        m = report.modules[path]
        return path == ROOT or (m.subtree_nodes > 0 and (m.class_name not in _CONTAINERS or m.direct > 0))

    def parent(path: str) -> str:
        up = parent_path(path, report.modules)
        while not shown(up):
            up = parent_path(up, report.modules)
        return up

    children: dict[str, list[str]] = {}
    for path in report.modules:
        if path != ROOT and shown(path):
            children.setdefault(parent(path), []).append(path)

    def label(path: str) -> str:
        m = report.modules[path]
        up = parent(path)
        name = path[len(up) + 1 :] if up else path
        here = f"  (here: {m.from_source} from source + {m.inherited} inherited)" if m.direct else ""
        return f"{name}: {m.class_name}  {m.subtree_nodes}{here}"

    def visit(path: str, indent: str) -> None:
        kids = sorted(children.get(path, []), key=sort_key)
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            lines.append(f"{indent}{'└── ' if last else '├── '}{label(kid)}")
            visit(kid, indent + ("    " if last else "│   "))

    root = report.modules.get(ROOT)
    if root is not None and root.direct:
        lines.append(f"(root: {root.from_source} from source, {root.inherited} inherited)")
    visit(ROOT, "")
    return lines


@click.command("hierarchy")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print hierarchy.json's content instead of a tree.")
def hierarchy_command(path: Path, as_json: bool) -> None:
    """Show the module tree of an export (directory, .onnx file or hierarchy.json) with node counts."""
    reports = load_reports(path)
    if as_json:
        data = {name: r.to_json() for name, r in reports.items()}
        click.echo(json.dumps(next(iter(data.values())) if len(data) == 1 else data, indent=2))
        return
    for i, (name, report) in enumerate(reports.items()):
        if len(reports) > 1:
            click.echo(f"{'' if i == 0 else chr(10)}== {name}")
        for line in render_tree(report):
            click.echo(line)
