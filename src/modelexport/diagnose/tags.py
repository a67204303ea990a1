"""Which module made each node of an ONNX file: our tags, else our sidecar, else the node's name.

* ``tags``: ``modelexport.module`` in the node's metadata (a modelexport export);
* ``hierarchy.json``: the sidecar's node -> module map (a modelexport export with ``--clean-onnx``);
* ``node-names``: the scope the TorchScript exporter wrote into node names
  (``/bert/encoder/layer.0/attention/self/query/MatMul``), for files without either (Optimum's own
  exports). Those names are relative to the module the exporter traced, which may be a submodule
  (Optimum traces an encoder-decoder's encoder alone): the prefix that resolves the most names
  among the modules PyTorch called is taken. A node without a scope (``Identity_12``) gets the
  lowest common module of the nodes using its output.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import onnx

from ..graph import node_keys, walk
from ..hierarchy import KEY_MODULE
from ..hierarchy.modules import ROOT

TagSource = Literal["tags", "hierarchy.json", "node-names"]


def _from_tags(graph: onnx.GraphProto) -> list[str] | None:
    out = []
    for node in graph.node:
        value = next((p.value for p in node.metadata_props if p.key == KEY_MODULE), None)
        if value is None:
            return None
        out.append(value)
    return out


def _from_sidecar(graph: onnx.GraphProto, sidecar: Path) -> list[str] | None:
    try:
        nodes = json.loads(sidecar.read_text(encoding="utf-8"))["nodes"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    refs = walk(graph)
    keys = {ref.index: key for ref, key in zip(refs, node_keys(refs), strict=True)}
    main = [ref for ref in refs if ref.parent is None]
    out = [nodes.get(keys[ref.index], {}).get("module") for ref in main]
    return None if any(not isinstance(p, str) for p in out) else out


def _scope(name: str) -> str | None:
    """``/bert/encoder/layer.0/Add_1`` -> ``bert.encoder.layer.0``; None without a scope."""
    if not name.startswith("/"):
        return None
    return ".".join(name[1:].split("/")[:-1])


def _resolve(scope: str, prefix: str, known: dict[str, str]) -> tuple[str, bool]:
    """The innermost known module on ``prefix.scope`` (canonical), and whether all of it resolved."""
    full = ".".join(p for p in (prefix, scope) if p)
    parts = full.split(".") if full else []
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return known[candidate], end == len(parts)
    return ROOT, not parts


def _prefixes(scopes: set[str], known: dict[str, str]) -> list[str]:
    """The root and every module under which some scope's first name is a module."""
    firsts = {s.split(".")[0] for s in scopes if s}
    found = {k[: -len(f) - 1] for k in known for f in firsts if k.endswith("." + f)}
    return [ROOT, *sorted(found, key=lambda p: (len(p), p))]


def _best_prefix(scopes: Iterable[str], known: dict[str, str], called: set[str]) -> str:
    """The prefix under which the most scopes name, in full, a module PyTorch called."""
    distinct = set(scopes)
    best, best_count = ROOT, -1
    for prefix in _prefixes(distinct, known):
        resolved = (_resolve(s, prefix, known) for s in distinct)
        count = sum(full and path in called for path, full in resolved)
        if count > best_count:
            best, best_count = prefix, count
    return best


def _lowest_common(paths: list[str]) -> str:
    common = paths[0].split(".") if paths[0] else []
    for path in paths[1:]:
        parts = path.split(".") if path else []
        n = 0
        while n < min(len(common), len(parts)) and common[n] == parts[n]:
            n += 1
        common = common[:n]
    return ".".join(common)


def _from_names(graph: onnx.GraphProto, known: dict[str, str], called: set[str]) -> list[str]:
    scopes = [_scope(n.name) for n in graph.node]
    prefix = _best_prefix((s for s in scopes if s is not None), known, called)
    out: list[str | None] = [None if s is None else _resolve(s, prefix, known)[0] for s in scopes]
    users: dict[str, list[int]] = {}
    for i, node in enumerate(graph.node):
        for name in node.input:
            users.setdefault(name, []).append(i)
    for i in range(len(graph.node) - 1, -1, -1):  # consumers come later: resolve backwards
        if out[i] is None:
            used_by = [p for o in graph.node[i].output for j in users.get(o, []) if (p := out[j]) is not None]
            out[i] = _lowest_common(used_by) if used_by else ROOT
    return [p or ROOT for p in out]


def node_modules(
    graph: onnx.GraphProto, sidecar: Path | None, known: dict[str, str], called: set[str]
) -> tuple[list[str], TagSource]:
    """The module of every main-graph node and where it came from. ``known``: every module name of
    the model (aliases too) -> canonical path; ``called``: the modules PyTorch ran for this file."""
    tagged = _from_tags(graph)
    if tagged is not None:
        return tagged, "tags"
    if sidecar is not None and sidecar.is_file():
        mapped = _from_sidecar(graph, sidecar)
        if mapped is not None:
            return mapped, "hierarchy.json"
    return _from_names(graph, known, called), "node-names"
