"""Faults injected into exported ONNX files: the module they are put in is the one ``diff`` must name.

Each fault edits a file in place and touches only nodes tagged with one module: a weight it alone
reads is scaled; or one of its ops changes (an attribute, or the exact GELU's Erf replaced by the
tanh approximation).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from modelexport.graph import node_keys, walk

MODULE_KEY = "modelexport.module"


def module_of(node: onnx.NodeProto) -> str | None:
    return next((p.value for p in node.metadata_props if p.key == MODULE_KEY), None)


def _all_nodes(model: onnx.ModelProto, branch: str | None = None) -> list[onnx.NodeProto]:
    """Every node, those of a merged decoder's branches included (only ``branch``'s, if given)."""
    return [
        r.node for r in walk(model.graph) if branch is None or f"/{branch}" in r.graph or r.graph == "main"
    ]


def _save(model: onnx.ModelProto, path: Path) -> None:
    onnx.save(model, str(path))


def scope_of(node: onnx.NodeProto) -> str | None:
    """The module a TorchScript node name scopes (``/bert/encoder/layer.0/Add`` -> ``bert.encoder.layer.0``)."""
    return ".".join(node.name[1:].split("/")[:-1]) if node.name.startswith("/") else None


def sidecar_modules(path: Path, sidecar: Path) -> dict[str, str]:
    """Node name -> module, from a ``--clean-onnx`` export's ``hierarchy.json``."""
    nodes = json.loads(sidecar.read_text(encoding="utf-8"))["nodes"]
    refs = walk(onnx.load(str(path), load_external_data=False).graph)
    return {ref.node.name: nodes[key]["module"] for ref, key in zip(refs, node_keys(refs), strict=True)}


def scale_initializer(
    path: Path, module: str, factor: float = 1.5, by_name: bool = False, sidecar: Path | None = None
) -> str:
    """Scale the largest weight that only ``module``'s nodes read (by tag; by scoped node name for a
    file without tags; or by ``sidecar``, a ``hierarchy.json``); returns its name."""
    modules = sidecar_modules(path, sidecar) if sidecar is not None else {}
    model = onnx.load(str(path))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    readers: dict[str, set[str | None]] = {}
    owner = scope_of if by_name else (lambda n: modules.get(n.name)) if sidecar is not None else module_of
    for node in _all_nodes(model):
        for name in node.input:
            if name in inits:
                readers.setdefault(name, set()).add(owner(node))
    owned = [
        n for n, mods in readers.items() if mods == {module} and inits[n].data_type == onnx.TensorProto.FLOAT
    ]
    if not owned:
        raise AssertionError(f"no weight read by {module} alone in {path.name}")
    name = max(owned, key=lambda n: int(np.prod(inits[n].dims)))
    scaled = numpy_helper.to_array(inits[name]) * np.float32(factor)
    inits[name].CopyFrom(numpy_helper.from_array(scaled.astype(np.float32), name))
    _save(model, path)
    return name


def _nodes(model: onnx.ModelProto, module: str, op_type: str, branch: str | None) -> list[onnx.NodeProto]:
    return [n for n in _all_nodes(model, branch) if module_of(n) == module and n.op_type == op_type]


def change_epsilon(path: Path, module: str, epsilon: float = 0.1, branch: str | None = None) -> None:
    """Set the epsilon attribute of ``module``'s LayerNormalization (an attribute change); in a
    merged decoder, in ``branch`` only when given."""
    model = onnx.load(str(path))
    nodes = _nodes(model, module, "LayerNormalization", branch)
    if not nodes:
        raise AssertionError(f"{module} has no LayerNormalization in {path.name}")
    for node in nodes:
        attrs = [a for a in node.attribute if a.name != "epsilon"]
        del node.attribute[:]
        node.attribute.extend([*attrs, helper.make_attribute("epsilon", epsilon)])
    _save(model, path)


def approximate_gelu(path: Path, module: str) -> None:
    """Replace ``module``'s exact GELU by the sigmoid approximation ``x * sigmoid(1.702 x)``:
    ``Erf(u)`` becomes ``Tanh(1.702 / sqrt(2) * u)`` (u = x / sqrt(2)); a Gelu op gets
    ``approximate="tanh"`` instead."""
    model = onnx.load(str(path))
    graph = model.graph
    gelus = _nodes(model, module, "Gelu", None)
    for node in gelus:
        attrs = [a for a in node.attribute if a.name != "approximate"]
        del node.attribute[:]
        node.attribute.extend([*attrs, helper.make_attribute("approximate", "tanh")])
    erfs = [n for n in graph.node if module_of(n) == module and n.op_type == "Erf"]
    if not gelus and not erfs:
        raise AssertionError(f"{module} has neither Gelu nor Erf in {path.name}")
    for k, erf in enumerate(erfs):
        scale = f"fault_{k}_scale"
        graph.initializer.append(numpy_helper.from_array(np.array(1.702 / math.sqrt(2), np.float32), scale))
        new = [
            helper.make_node("Mul", [erf.input[0], scale], [f"fault_{k}_arg"]),
            helper.make_node("Tanh", [f"fault_{k}_arg"], [erf.output[0]]),
        ]
        for node in new:
            node.metadata_props.extend(erf.metadata_props)
        index = list(graph.node).index(erf)
        graph.node.remove(erf)
        for offset, node in enumerate(new):
            graph.node.insert(index + offset, node)
    _save(model, path)


def break_reshape(path: Path, module: str, by_name: bool = False) -> str:
    """Give one of ``module``'s Reshape nodes a target shape no input fits (as a shape baked at
    export time fails at another one), so ONNX Runtime stops there; returns the node's name."""
    model = onnx.load(str(path))
    owner = scope_of if by_name else module_of
    node = next((n for n in model.graph.node if n.op_type == "Reshape" and owner(n) == module), None)
    if node is None:
        raise AssertionError(f"{module} has no Reshape in {path.name}")
    shape = f"fault_{len(model.graph.initializer)}_shape"
    model.graph.initializer.append(numpy_helper.from_array(np.array([5, 3, 7, 1237], np.int64), shape))
    node.input[1] = shape
    _save(model, path)
    return node.name


def fix_input_dim(path: Path, name: str, axis: int = 0, size: int = 7) -> None:
    """Declare ``name``'s ``axis`` a fixed ``size`` (an export that baked the traced batch)."""
    model = onnx.load(str(path))
    value = next(v for v in model.graph.input if v.name == name)
    dim = value.type.tensor_type.shape.dim[axis]
    dim.Clear()
    dim.dim_value = size
    _save(model, path)
