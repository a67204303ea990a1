"""Tag every ONNX node with the module that produced it, in ``NodeProto.metadata_props``.

Keys written on every node (plain strings):

``modelexport.module``  canonical module path relative to the HF model, ``""`` for the model itself
                        (``bert.encoder.layer.0.attention.self.query``);
``modelexport.class``   that module's class name (``Linear``);
``modelexport.tag``     the hierarchy tag (``/BertForSequenceClassification/BertModel/.../Linear.query``);
``modelexport.source``  ``scope`` (the exporter recorded the module; for a weight op an optimizer
                        fused, the module holding its weight), ``inherited`` (no record: the
                        lowest common module of the nodes it feeds, else of those feeding it),
                        ``inferred`` (a record naming no module for certain: placed like an
                        inherited node, within the module the record did name) or ``none`` (no
                        record and no tagged neighbour: put on the root); after a tool rewrote
                        the graph, :func:`.restore.restore_tags` adds ``restored`` and ``fused``;
``namespace``           the layer path Google's Model Explorer ONNX adapter reads: ``/``-separated
                        layers ``<name>: <Class>`` from the model class down (replaces the dynamo
                        exporter's own ``namespace``).
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx
import torch

from ..common import WRAPPER_ATTRIBUTE, BackendName
from ..errors import TagError
from ..graph import NodeRef, neighbours, node_keys, walk
from .capture import TorchScriptScopes
from .modules import ModuleIndex, within
from .report import HierarchyReport, ModuleRecord, NodeRecord, Source
from .sources import ScopeSources, TracedTree, dynamo_sources, refine_by_parameters, torchscript_sources

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
        found = ScopeSources([])
        if backend == "dynamo":
            found = dynamo_sources(refs, tree)
            sources = found.paths
        elif scope_info is not None and scope_info.captured:
            found = torchscript_sources(refs, tree, scope_info)
            sources = found.paths
        else:
            sources = [None] * len(refs)
            notes.append("no TorchScript scope capture was passed: every node is tagged by inheritance")
        refine_by_parameters(refs, sources, tree)
        if refs and all(s is None for s in sources) and not notes:
            notes.append(f"the {backend} export carried no usable scope information")
        paths, how = _inherit(refs, sources, index, _weights(model, tree))
        _bound_inferred(paths, how, sources, found, index)
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
    refs: list[NodeRef], sources: Sequence[str | None], index: ModuleIndex, weights: dict[str, str | None]
) -> tuple[list[str], list[Source]]:
    """Fill nodes without source information from their consumers, else their producers."""
    paths: list[str | None] = list(sources)
    how: list[Source] = ["scope" if s is not None else "inherited" for s in sources]
    consumers, producers = neighbours(refs)
    # Last resort for a subgraph node: the control-flow node that owns it.
    owners = [[ref.parent] if ref.parent is not None else [] for ref in refs]
    _unshare(refs, paths, how, (consumers, producers), weights, index)
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


def _bound_inferred(
    paths: list[str],
    how: list[Source],
    sources: Sequence[str | None],
    found: ScopeSources,
    index: ModuleIndex,
) -> None:
    """Nodes whose scope named no module for certain were placed from their neighbours like the
    nodes without any scope; they are labelled ``inferred`` and put on the one module their scope
    may mean that holds that place (layer 1's ``attention`` for a node among layer 1's nodes),
    else on the lowest common module of those it may mean, within what the scope did name."""
    for i, bound in found.bounds.items():
        if sources[i] is not None:
            continue  # resolved for certain since (by the parameter it reads)
        how[i] = "inferred"
        candidates = found.candidates.get(i, [])
        holding = [c for c in candidates if within(paths[i], c)]
        if len(holding) == 1:
            paths[i] = holding[0]
        elif candidates:
            paths[i] = index.lowest_common(candidates)
        elif not within(paths[i], bound):
            paths[i] = index.lowest_common([bound])


def _twins(path: str, other: str, index: ModuleIndex) -> bool:
    """Whether ``other`` lies in a twin of ``path`` (``encoder.layer.1.x...`` for
    ``encoder.layer.0.x``: equal at ``path``'s depth but for list indices, and of the same class).
    A block's Linear feeding the next block's ReLU (Mask2Former's ``mask_embedder.0.0`` ->
    ``mask_embedder.1.1``) is a computation handed on, not a twin."""
    a = path.split(".")
    b = other.split(".")[: len(a)]
    if a == b or len(a) != len(b):
        return False
    if not all(x == y or (x.isdigit() and y.isdigit()) for x, y in zip(a, b, strict=True)):
        return False
    mine, theirs = index.info.get(path), index.info.get(".".join(b))
    return mine is not None and theirs is not None and mine.qualified_class == theirs.qualified_class


_FLOATS = frozenset(
    {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE}
)


def _weights(model: onnx.ModelProto, tree: TracedTree) -> dict[str, str | None]:
    """Initializers that are weights (floating point, more than one element) -> the module
    holding the parameter they are named after (None when unknown or tied)."""
    prefix = WRAPPER_ATTRIBUTE + "." if tree.wrapped else ""
    out: dict[str, str | None] = {}
    for t in model.graph.initializer:
        size = 1
        for d in t.dims:
            size *= d
        if t.data_type in _FLOATS and size > 1:
            out[t.name] = _owner_named(t.name, prefix, tree)
    # The TorchScript exporter keeps one of several equal initializers and hands it on to the
    # others' users through Identity nodes (a model's zero biases; a weight transposed once per
    # call of a module called in a loop): such an output is a weight too.
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input and node.input[0] in out:
            out[node.output[0]] = _owner_named(node.output[0], prefix, tree) or out[node.input[0]]
    return out


def _owner_named(name: str, prefix: str, tree: TracedTree) -> str | None:
    """The module holding the parameter ``name`` is named after (None when unknown or tied)."""
    return tree.index.param_owner.get(name[len(prefix) :]) if name.startswith(prefix) else None


def _unshare(
    refs: list[NodeRef],
    paths: list[str | None],
    how: list[Source],
    links: tuple[list[list[int]], list[list[int]]],
    weights: dict[str, str | None],
    index: ModuleIndex,
) -> None:
    """Re-home nodes an optimizer merged across repeated modules (dynamo's CSE keeps the first
    instance's record): a node recorded in ``layer.0.x`` that feeds its twin ``layer.1.x`` belongs
    to their lowest common module, and counts as inherited, when neither it nor what it reads
    inside ``layer.0.x`` reads a weight of ``layer.0.x``'s own (a merged computation is one both
    layers would make: DeBERTa's slices of the encoder's relative embeddings), or only weights
    each twin holds alike (ESM's rotary ``inv_freq``, deduplicated by the exporter); those of its
    inputs that feed nothing else inside ``layer.0.x`` move with it. A real computation one layer
    hands the next (T5's position bias, from block 0's own embedding) stays."""
    consumers, producers = links
    tensors = _tensors(index.model)
    for i, path in enumerate(paths):
        if how[i] != "scope" or not path:
            continue
        used_by = [p for j in consumers[i] if (p := paths[j]) is not None]
        twins = [p for p in used_by if _twins(path, p, index)]
        if not twins:
            continue
        inside = _upstream_inside(i, path, paths, how, producers)
        read = [v for j in (i, *inside) for v in refs[j].node.input if v in weights]
        if any(
            (weights[v] is None or within(weights[v] or "", path))
            and not _alike_in_twins(v, path, twins, tensors)
            for v in read
        ):
            continue
        target = index.lowest_common([*used_by, path])
        paths[i], how[i] = target, "inherited"
        for j in sorted(inside, reverse=True):  # consumers first: a feeder follows what it feeds
            if all((p := paths[k]) is None or not within(p, path) for k in consumers[j]):
                paths[j], how[j] = target, "inherited"


def _tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers of ``model`` by name."""
    return dict(model.named_parameters()) | dict(model.named_buffers())


def _alike_in_twins(initializer: str, path: str, twins: list[str], tensors: dict[str, torch.Tensor]) -> bool:
    """Whether the weight ``initializer`` (of the module at ``path`` or below) has an equal
    counterpart at the same place in each twin of ``path`` (``layer.1...inv_freq``)."""
    prefix = WRAPPER_ATTRIBUTE + "."
    name = initializer[len(prefix) :] if initializer not in tensors else initializer
    mine = tensors.get(name)
    if mine is None or not name.startswith(path + "."):
        return False
    depth, rest = len(path.split(".")), name[len(path) :]
    for twin in {".".join(t.split(".")[:depth]) for t in twins}:
        other = tensors.get(twin + rest)
        if other is None or other.shape != mine.shape or not torch.equal(other, mine):
            return False
    return True


def _upstream_inside(
    i: int, path: str, paths: list[str | None], how: list[Source], producers: list[list[int]]
) -> set[int]:
    """Nodes recorded in ``path`` that node ``i`` reads, directly or through each other or through
    nodes without a record (a ``Cast`` the exporter added)."""
    found: set[int] = set()
    seen: set[int] = set()
    stack = list(producers[i])
    while stack:
        j = stack.pop()
        if j in seen:
            continue
        seen.add(j)
        here = paths[j]
        if here is None:
            stack.extend(producers[j])
        elif how[j] == "scope" and within(here, path):
            found.add(j)
            stack.extend(producers[j])
    return found


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
    for ref, path, source in zip(refs, paths, how, strict=True):
        info = index.info[path]
        write_tags(ref.node, path, info.class_name, info.tag, info.namespace, source)


def write_tags(
    node: onnx.NodeProto, path: str, class_name: str, tag: str, namespace: str, source: str
) -> None:
    """Set the five tag entries of ``node`` (replacing any it had), other metadata kept."""
    props = node.metadata_props
    if any(p.key in TAG_KEYS for p in props):
        kept = [(p.key, p.value) for p in props if p.key not in TAG_KEYS]
        del props[:]
        for key, value in kept:
            props.add(key=key, value=value)
    props.add(key=KEY_MODULE, value=path)
    props.add(key=KEY_CLASS, value=class_name)
    props.add(key=KEY_TAG, value=tag)
    props.add(key=KEY_SOURCE, value=source)
    props.add(key=KEY_NAMESPACE, value=namespace)


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
