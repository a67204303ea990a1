"""Tags around a rewrite: put hierarchy.json's tags on the original graph, restore them on the
rewritten one (:func:`modelexport.hierarchy.restore_tags`), and read them back per node.

An export written with ``--clean-onnx`` keeps its tags in hierarchy.json only, so a copy of its graph
is tagged from there first; the rewrite then sees the same tagged graph either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import onnx

from ..graph import walk
from ..hierarchy import KEY_MODULE, KEY_SOURCE, TAG_KEYS, ModuleIndex, RestoreStats, restore_tags
from ..hierarchy.tagging import write_tags


@dataclass
class NodeTags:
    """Each node's module path and ``modelexport.source``, in walk order, and how they were found."""

    paths: list[str]
    sources: list[str]
    stats: RestoreStats


def tagged_copy(
    model: onnx.ModelProto, paths: Sequence[str], sources: Sequence[str], index: ModuleIndex
) -> onnx.ModelProto:
    """A copy of ``model`` whose every node carries the tags ``paths`` / ``sources`` give it (walk
    order, hierarchy.json's), with class, tag and namespace from the PyTorch module tree."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for ref, path, source in zip(walk(copy.graph), paths, sources, strict=True):
        info = index.info.get(path) or index.info[""]
        write_tags(ref.node, path, info.class_name, info.tag, info.namespace, source)
    return copy


def read_tags(model: onnx.ModelProto) -> tuple[list[str], list[str]]:
    """(module path, source) of every node of a tagged ``model``, in walk order."""
    paths, sources = [], []
    for ref in walk(model.graph):
        props = {p.key: p.value for p in ref.node.metadata_props}
        paths.append(props.get(KEY_MODULE, ""))
        sources.append(props.get(KEY_SOURCE, "none"))
    return paths, sources


def restore(original: onnx.ModelProto, rewritten: onnx.ModelProto) -> NodeTags:
    """Tag every node of ``rewritten`` (in place) from the tagged ``original``; its tags per node."""
    stats = restore_tags(original, rewritten)
    paths, sources = read_tags(rewritten)
    return NodeTags(paths, sources, stats)


def tag_coverage(model: onnx.ModelProto) -> tuple[int, int]:
    """(nodes carrying every modelexport tag key, all nodes), subgraphs included."""
    refs = walk(model.graph)
    keys = set(TAG_KEYS)
    tagged = sum(1 for r in refs if keys <= {p.key for p in r.node.metadata_props})
    return tagged, len(refs)
