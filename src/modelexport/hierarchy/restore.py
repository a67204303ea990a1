"""Put the hierarchy tags back on a graph that a tool rewrote.

ONNX Runtime's ``optimized_model_filepath`` drops every node's metadata; ``onnxruntime.transformers``
fusions, ``quantize_dynamic`` and Optimum's decoder merging keep it on the nodes they leave alone and
add nodes without it. :func:`restore_tags` tags every node of the rewritten graph from the original:

* ``kept``: the node still carries our tags (left as they are);
* ``restored``: the same op computing the same value as an original node (same name, or same first
  output), whose tags the tool dropped: the original node's tags are copied;
* ``fused``: a new node that computes values of original nodes that are gone (``Attention`` for
  the ops of a self-attention): the lowest common module of the nodes it replaced, which are the
  producers of its outputs and the gone nodes between its original inputs and those producers;
* ``inherited``: a new node computing nothing the original did (a ``Cast`` or a quantization
  step): the lowest common module of the nodes it feeds, else of those feeding it;
* ``none``: no evidence at all (put on the root).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, fields
from typing import Any

import onnx

from ..errors import TagError
from ..graph import NodeRef, neighbours, walk
from .table import ModuleTable, node_tags
from .tagging import KEY_MODULE, KEY_SOURCE, TAG_KEYS, write_tags

FUSED = "fused"
RESTORED = "restored"


@dataclass
class RestoreStats:
    """How the nodes of a rewritten graph got their tags; ``survival_*`` are shares of its nodes."""

    nodes: int = 0
    kept: int = 0  # tags the tool kept
    restored: int = 0  # copied from the original node with the same op and value
    fused: int = 0  # lowest common module of the original nodes replaced
    inherited: int = 0  # lowest common module of tagged neighbours
    unresolved: int = 0  # nothing to go by: the root
    original_nodes: int = 0
    replaced: int = 0  # original nodes with no counterpart in the rewritten graph

    @property
    def survival_before(self) -> float:
        """Share of nodes that carried every tag key as the tool wrote them."""
        return self.kept / self.nodes if self.nodes else 1.0

    @property
    def survival_after(self) -> float:
        """Share of nodes tagged after restoring (every node: 1.0)."""
        tagged = self.kept + self.restored + self.fused + self.inherited + self.unresolved
        return tagged / self.nodes if self.nodes else 1.0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = asdict(self)
        data["survival_before"] = round(self.survival_before, 4)
        data["survival_after"] = round(self.survival_after, 4)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RestoreStats:
        names = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in data.items() if k in names})


class _Original:
    """The original graph's nodes, values and tags, indexed for matching."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.refs = walk(model.graph)
        self.tags = [node_tags(r.node) for r in self.refs]
        self.initializers = {t.name for t in model.graph.initializer}
        by_name: dict[str, list[int]] = defaultdict(list)
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = defaultdict(list)
        for ref in self.refs:
            if ref.node.name:
                by_name[ref.node.name].append(ref.index)
            for value in ref.node.output:
                if value:
                    self.producer.setdefault(value, ref.index)
            for value in ref.node.input:
                if value:
                    self.consumers[value].append(ref.index)
        self.by_name = {name: found[0] for name, found in by_name.items() if len(found) == 1}

    def match(self, node: onnx.NodeProto) -> int | None:
        """The original node ``node`` still is: same op and name, or same op and first output."""
        i = self.by_name.get(node.name) if node.name else None
        if i is not None and self.refs[i].node.op_type == node.op_type:
            return i
        j = self.producer.get(node.output[0]) if node.output and node.output[0] else None
        if j is not None and self.refs[j].node.op_type == node.op_type:
            return j
        return None


def restore_tags(original: onnx.ModelProto, rewritten: onnx.ModelProto) -> RestoreStats:
    """Tag every node of ``rewritten`` (in place) from the tagged ``original`` it was made from.

    Raises :class:`TagError` when ``original`` carries no ``modelexport`` tags.
    """
    table = ModuleTable.from_model(original)
    if not table:
        raise TagError(
            "the original graph carries no modelexport tags to restore from.",
            hint="pass the model.onnx modelexport wrote (exported without --clean-onnx).",
        )
    orig = _Original(original)
    refs = walk(rewritten.graph)
    stats = RestoreStats(nodes=len(refs), original_nodes=len(orig.refs))
    matches = [orig.match(r.node) for r in refs]
    present = {m for m in matches if m is not None}
    stats.replaced = len(orig.refs) - len(present)
    values = _values(rewritten, refs)
    paths: list[str | None] = [None] * len(refs)
    sources: list[str] = [""] * len(refs)
    kept = [False] * len(refs)
    for ref, m in zip(refs, matches, strict=True):
        props = node_tags(ref.node)
        i = ref.index
        if KEY_MODULE in props:  # kept by the tool; missing keys are filled in from the table
            kept[i] = all(k in props for k in TAG_KEYS)
            paths[i], sources[i] = props[KEY_MODULE], props.get(KEY_SOURCE) or RESTORED
        elif m is not None:
            paths[i], sources[i] = orig.tags[m].get(KEY_MODULE, ""), RESTORED
        elif replaced := _replaced(ref.node, orig, present, values):
            modules = (orig.tags[j].get(KEY_MODULE, "") for j in replaced)
            paths[i], sources[i] = table.lowest_common(modules), FUSED
    stats.kept = sum(kept)
    stats.fused = sources.count(FUSED)
    stats.restored = sum(1 for i, p in enumerate(paths) if p is not None and not kept[i]) - stats.fused
    _inherit(refs, paths, sources, table, stats)
    for ref, path, source, done in zip(refs, paths, sources, kept, strict=True):
        if not done:
            module = table.info(path or "")
            write_tags(ref.node, module.path, module.class_name, module.tag, module.namespace, source)
    return stats


def _values(model: onnx.ModelProto, refs: list[NodeRef]) -> set[str]:
    """Every value name the rewritten graph holds."""
    names = {v.name for v in model.graph.input} | {t.name for t in model.graph.initializer}
    for ref in refs:
        names.update(ref.node.input)
        names.update(ref.node.output)
    return names


def _replaced(node: onnx.NodeProto, orig: _Original, present: set[int], values: set[str]) -> set[int]:
    """The original nodes ``node`` stands for: the producers of the original values it computes
    and the gone nodes between its original inputs and them; without any such output, the sole
    original user of a weight it reads (``EmbedLayerNormalization`` and the embedding lookups)."""
    anchors = {orig.producer[v] for v in node.output if v in orig.producer}
    if not anchors:
        return {
            orig.consumers[v][0] for v in node.input if v in orig.initializers and len(orig.consumers[v]) == 1
        }
    own = set(node.output)
    # Activations only: a weight shared by many nodes (TorchScript merges equal initializers)
    # delimits nothing.
    inputs = {
        v for v in node.input if v in orig.producer or (v in orig.consumers and v not in orig.initializers)
    }
    # Upstream of the producers, through gone nodes, never past a value the rewritten graph still
    # holds (its producer there, not this node, computes it) nor past this node's own inputs.
    upstream: set[int] = set()
    stack = [i for i in anchors if i not in present]
    while stack:
        i = stack.pop()
        if i in upstream:
            continue
        upstream.add(i)
        for v in orig.refs[i].node.input:
            j = orig.producer.get(v)
            if j is not None and j not in present and v not in inputs and (v not in values or v in own):
                stack.append(j)
    # Downstream of this node's original inputs, within that region.
    between: set[int] = set()
    stack = [j for v in inputs for j in orig.consumers.get(v, ()) if j in upstream]
    while stack:
        i = stack.pop()
        if i in between:
            continue
        between.add(i)
        for v in orig.refs[i].node.output:
            stack.extend(j for j in orig.consumers.get(v, ()) if j in upstream)
    return anchors | between


def _inherit(
    refs: list[NodeRef], paths: list[str | None], sources: list[str], table: ModuleTable, stats: RestoreStats
) -> None:
    """Nodes without a counterpart: the lowest common module of what they feed, else of what
    feeds them, else of the control-flow node owning them; the root when nothing is known."""
    consumers, producers = neighbours(refs)
    owners = [[r.parent] if r.parent is not None else [] for r in refs]
    pending = [i for i, p in enumerate(paths) if p is None]
    while pending:
        progress = False
        for links, order in ((consumers, pending[::-1]), (producers, pending), (owners, pending)):
            for i in order:
                known = [p for j in links[i] if (p := paths[j]) is not None]
                if paths[i] is None and known:
                    paths[i], sources[i] = table.lowest_common(known), "inherited"
                    stats.inherited += 1
                    progress = True
            if progress:
                break
        pending = [i for i in pending if paths[i] is None]
        if not progress:
            break
    for i in pending:
        paths[i], sources[i] = "", "none"
        stats.unresolved += 1
