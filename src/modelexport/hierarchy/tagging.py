"""Tag every ONNX node with the module that produced it, in ``NodeProto.metadata_props``.

Keys written on every node (plain strings):

``modelexport.module``  canonical module path relative to the HF model, ``""`` for the model itself
                        (``bert.encoder.layer.0.attention.self.query``);
``modelexport.class``   that module's class name (``Linear``);
``modelexport.tag``     the hierarchy tag (``/BertForSequenceClassification/BertModel/.../Linear.query``);
``modelexport.source``  ``scope`` (the exporter recorded the module; for a weight op an optimizer
                        fused, the module holding its weight), ``inherited`` (no record: the
                        lowest common module of the nodes it feeds, else of those feeding it) or
                        ``none`` (no record and no tagged neighbour: put on the root);
``namespace``           the layer path Google's Model Explorer ONNX adapter reads: ``/``-separated
                        layers ``<name>: <Class>`` from the model class down (replaces the dynamo
                        exporter's own ``namespace``).
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx
import torch

from ..common import BackendName
from ..errors import TagError
from ..graph import NodeRef, neighbours, node_keys, walk
from .capture import TorchScriptScopes
from .modules import ModuleIndex, within
from .report import HierarchyReport, ModuleRecord, NodeRecord, Source
from .sources import TracedTree, dynamo_sources, refine_by_parameters, torchscript_sources

KEY_MODULE = "modelexport.module"
KEY_CLASS = "modelexport.class"
KEY_TAG = "modelexport.tag"
KEY_SOURCE = "modelexport.source"
KEY_NAMESPACE = "namespace"
TAG_KEYS = (KEY_MODULE, KEY_CLASS, KEY_TAG, KEY_SOURCE, KEY_NAMESPACE)


def tag_model(
    model: onnx.ModelProto,
    wrapper: torch.nn.Module,
    backend: BackendName,
    include_torch_nn: bool = True,
    scope_info: TorchScriptScopes | None = None,
) -> HierarchyReport:
    """Add the ``modelexport.*`` and ``namespace`` metadata to every node of ``model``, in place.

    ``wrapper`` is the module that was traced (the :class:`ExportWrapper`, or the model itself);
    ``scope_info`` is what the TorchScript backend's ``export()`` returned (ignored for dynamo).
    """
    try:
        index = ModuleIndex(wrapper, include_torch_nn)
        tree = TracedTree(wrapper, index)
        refs = walk(model.graph)
        notes: list[str] = []
        if backend == "dynamo":
            sources = dynamo_sources(refs, tree)
        elif scope_info is not None and scope_info.captured:
            sources = torchscript_sources(refs, tree, scope_info)
        else:
            sources = [None] * len(refs)
            notes.append("no TorchScript scope capture was passed: every node is tagged by inheritance")
        refine_by_parameters(refs, sources, tree)
        if refs and all(s is None for s in sources) and not notes:
            notes.append(f"the {backend} export carried no usable scope information")
        paths, how = _inherit(refs, sources, index)
        _write(refs, paths, how, index)
        return _report(backend, index, refs, paths, how, notes)
    except TagError:
        raise
    except Exception as e:
        raise TagError(
            f"could not tag the {backend} graph of {type(wrapper).__name__}: {e}",
            hint="export with clean_onnx=True to skip tagging, and report this model.",
        ) from e


def _inherit(
    refs: list[NodeRef], sources: Sequence[str | None], index: ModuleIndex
) -> tuple[list[str], list[Source]]:
    """Fill nodes without source information from their consumers, else their producers."""
    paths: list[str | None] = list(sources)
    how: list[Source] = ["scope" if s is not None else "inherited" for s in sources]
    consumers, producers = neighbours(refs)
    # Last resort for a subgraph node: the control-flow node that owns it.
    owners = [[ref.parent] if ref.parent is not None else [] for ref in refs]
    _unshare(paths, how, consumers, producers, index)
    pending = [i for i, p in enumerate(paths) if p is None]
    while pending:
        progress = (
            _fill(pending[::-1], consumers, paths, index)
            or _fill(pending, producers, paths, index)
            or _fill(pending, owners, paths, index)
        )
        pending = [i for i in pending if paths[i] is None]
        if not progress:
            break
    for i in pending:
        paths[i], how[i] = "", "none"
    return [p or "" for p in paths], how


def _twins(a: list[str], b: list[str]) -> bool:
    """``encoder.layer.0.x`` and ``encoder.layer.1.x``: equal but for list indices."""
    return (
        a != b
        and len(a) == len(b)
        and all(x == y or (x.isdigit() and y.isdigit()) for x, y in zip(a, b, strict=True))
    )


def _unshare(
    paths: list[str | None],
    how: list[Source],
    consumers: list[list[int]],
    producers: list[list[int]],
    index: ModuleIndex,
) -> None:
    """Re-home nodes an optimizer merged across repeated modules (dynamo's CSE keeps the first
    instance's record): a node recorded in ``layer.0.x`` that reads nothing computed inside it and
    feeds its twin ``layer.1.x`` belongs to their lowest common module, and counts as inherited."""
    for i, path in enumerate(paths):
        if how[i] != "scope" or not path:
            continue
        if any((p := paths[j]) is not None and within(p, path) for j in producers[i]):
            continue
        used_by = [p for j in consumers[i] if (p := paths[j]) is not None]
        parts = path.split(".")
        if any(_twins(parts, p.split(".")[: len(parts)]) for p in used_by):
            paths[i], how[i] = index.lowest_common([*used_by, path]), "inherited"


def _fill(order: list[int], links: list[list[int]], paths: list[str | None], index: ModuleIndex) -> bool:
    changed = False
    for i in order:
        if paths[i] is not None:
            continue
        known = [paths[j] for j in links[i] if paths[j] is not None]
        if known:
            paths[i] = index.lowest_common(p for p in known if p is not None)
            changed = True
    return changed


def _write(refs: list[NodeRef], paths: list[str], how: list[Source], index: ModuleIndex) -> None:
    ours = set(TAG_KEYS)
    for ref, path, source in zip(refs, paths, how, strict=True):
        info = index.info[path]
        props = ref.node.metadata_props
        if any(p.key in ours for p in props):
            kept = [(p.key, p.value) for p in props if p.key not in ours]
            del props[:]
            for key, value in kept:
                props.add(key=key, value=value)
        props.add(key=KEY_MODULE, value=path)
        props.add(key=KEY_CLASS, value=info.class_name)
        props.add(key=KEY_TAG, value=info.tag)
        props.add(key=KEY_SOURCE, value=source)
        props.add(key=KEY_NAMESPACE, value=info.namespace)


def _report(
    backend: str,
    index: ModuleIndex,
    refs: list[NodeRef],
    paths: list[str],
    how: list[Source],
    notes: list[str],
) -> HierarchyReport:
    modules = {
        p: ModuleRecord(p, i.class_name, i.qualified_class, i.tag, i.parameters)
        for p, i in index.info.items()
    }
    keys = node_keys(refs)
    nodes = [
        NodeRecord(k, r.node.op_type, p, s, r.graph)
        for k, r, p, s in zip(keys, refs, paths, how, strict=True)
    ]
    return HierarchyReport(
        backend=backend,
        model_class=type(index.model).__name__,
        include_torch_nn=index.include_torch_nn,
        modules=modules,
        nodes=nodes,
        source_available=not notes,
        notes=notes,
    )
