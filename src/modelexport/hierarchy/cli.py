"""``modelexport hierarchy PATH``: the module tree of an export with node counts.

PATH is an export directory (its ``hierarchy.json``, else its ``.onnx`` file) or a ``.onnx`` file
(its node tags, else the ``hierarchy.json`` beside it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import click
import onnx

from ..graph import walk
from .modules import ROOT, parent_path
from .report import SOURCES, HierarchyReport, ModuleRecord, NodeRecord, Source, sort_key
from .tagging import KEY_CLASS, KEY_MODULE, KEY_SOURCE, KEY_TAG

SIDECAR = "hierarchy.json"
_CONTAINERS = ("ModuleList", "ModuleDict")


class PathError(click.ClickException):
    """A PATH the command cannot read: one line, exit code 2."""

    exit_code = 2


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


def load_report(path: Path) -> HierarchyReport:
    """The report for an export directory or an ONNX file, or a PathError saying what is missing."""
    if path.is_dir():
        if (path / SIDECAR).is_file():
            return _read_sidecar(path / SIDECAR)
        onnx_files = sorted(path.glob("*.onnx"))
        if not onnx_files:
            raise PathError(f"{path} holds neither {SIDECAR} nor a .onnx file; pass an export directory.")
        path = onnx_files[0]
    if path.suffix == ".json":
        return _read_sidecar(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise PathError(f"{path} is not a readable ONNX file ({type(e).__name__}).") from e
    report = report_from_onnx(model)
    if report is not None:
        return report
    if (path.parent / SIDECAR).is_file():
        return _read_sidecar(path.parent / SIDECAR)
    raise PathError(f"{path} has no modelexport tags and no {SIDECAR} beside it; export it with modelexport.")


def _read_sidecar(path: Path) -> HierarchyReport:
    try:
        return HierarchyReport.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PathError(f"{path} is not a valid {SIDECAR} ({type(e).__name__}: {e}).") from e


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
    """Show the module tree of an export (directory or .onnx file) with node counts."""
    if not path.exists():
        raise PathError(f"{path} does not exist; pass an export directory or a .onnx file.")
    report = load_report(path)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    for line in render_tree(report):
        click.echo(line)
