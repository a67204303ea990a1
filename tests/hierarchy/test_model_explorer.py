"""The ``namespace`` tags give Google's Model Explorer a layered view: its real ONNX adapter
(``model-explorer-onnx``, converting without a browser) builds layer groups that are exactly the
module tree of ``hierarchy.json`` (modules that own nodes, and their ancestors), and puts each node
in the group of its module."""

from __future__ import annotations

from typing import Any

import pytest

model_explorer_onnx = pytest.importorskip(
    "model_explorer_onnx.main", reason="pip install model-explorer-onnx"
)
pytestmark = pytest.mark.slow

CONTAINERS = ("ModuleList", "ModuleDict")


def _namespaces(hierarchy: dict[str, Any]) -> dict[str, str]:
    """Module path -> the layer path Model Explorer should show, built from hierarchy.json alone:
    ``<RootClass>/<name>: <Class>/...``, lists folded into their items' names (``layer.0``)."""
    modules = {m["path"]: m for m in hierarchy["modules"]}
    shown = {p for p, m in modules.items() if p and m["class_name"] not in CONTAINERS}
    out = {"": hierarchy["model_class"]}
    for path in sorted(shown, key=lambda p: p.count(".")):
        parent = path
        while parent:
            parent = parent.rpartition(".")[0]
            if parent in shown or not parent:
                break
        local = path[len(parent) + 1 :] if parent else path
        out[path] = f"{out[parent]}/{local}: {modules[path]['class_name']}"
    return out


@pytest.mark.parametrize("backend", ["torchscript", "dynamo"])
@pytest.mark.parametrize(
    ("model", "task"), [("bert", "text-classification"), ("vit", "image-classification")]
)
def test_model_explorer_layer_groups_are_the_module_tree(zoo_export, model, task, backend):
    export = zoo_export(model, task, backend)
    graphs = model_explorer_onnx.ONNXAdapter().convert(str(export.path / "model.onnx"), {})["graphs"]
    main = graphs[0]
    expected = _namespaces(export.hierarchy)
    nodes = export.hierarchy["nodes"]
    groups: set[str] = set()
    checked = 0
    for node in main.nodes:
        if node.id not in nodes:
            continue  # graph inputs, outputs and initializers the adapter adds as nodes
        namespace = node.namespace.split("/", 1)[1]  # without the graph's own name
        if node.label != "Constant":  # the adapter moves constants next to their users
            assert namespace == expected[nodes[node.id]["module"]], node.id
            checked += 1
        parts = namespace.split("/")
        groups.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    assert checked == sum(1 for v in nodes.values() if v["op_type"] != "Constant") > 0
    with_nodes = {
        expected[m["path"]]
        for m in export.hierarchy["modules"]
        if m["subtree_nodes"] and m["path"] in expected
    }
    assert groups == with_nodes
