"""Exports shared by the hierarchy tests, each made once per session through the public API."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelexport import run_export


@dataclass(frozen=True)
class Export:
    """An export directory and its ``hierarchy.json`` (first ONNX file's)."""

    path: Path
    hierarchy: dict[str, Any]
    source: Path

    def module(self, path: str) -> dict[str, Any]:
        return next(m for m in self.hierarchy["modules"] if m["path"] == path)

    def subtree(self, path: str) -> int:
        found = [m for m in self.hierarchy["modules"] if m["path"] == path]
        return found[0]["subtree_nodes"] if found else 0


def _export(source: Path, out: Path, task: str, backend: str, **options: Any) -> Export:
    out, _ = run_export(str(source), out, task=task, exporter=backend, force=True, **options)
    sidecar = out / "hierarchy.json"
    if not sidecar.is_file():
        sidecar = next(out.glob("*.hierarchy.json"))
    return Export(out, json.loads(sidecar.read_text()), source)


@pytest.fixture(scope="session")
def escape_export(tmp_path_factory, zoo_dir) -> Callable[[str, str], Export]:
    """``escape_export(style, backend)``: the escape_models model of ``style`` (zoo BERT's
    tokenizer, the same weights for every style that has two layers), exported by ``backend``."""
    import transformers
    from escape_models import save

    cache: dict[tuple[str, str], Export] = {}
    sources: dict[str, Path] = {}

    def get(style: str, backend: str) -> Export:
        if style not in sources:
            tokenizer = transformers.AutoTokenizer.from_pretrained(zoo_dir("bert", "text-classification"))
            sources[style] = save(style, tmp_path_factory.mktemp(f"escape-{style}"), tokenizer)
        if (style, backend) not in cache:
            out = tmp_path_factory.mktemp(f"escape-{style}-{backend}") / "out"
            cache[(style, backend)] = _export(sources[style], out, "text-classification", backend)
        return cache[(style, backend)]

    return get


@pytest.fixture(scope="session")
def zoo_export(tmp_path_factory, zoo_dir) -> Callable[..., Export]:
    """``zoo_export(name, task, backend, **options)``: a zoo model exported once per session."""
    cache: dict[tuple[Any, ...], Export] = {}

    def get(name: str, task: str, backend: str, **options: Any) -> Export:
        key = (name, task, backend, tuple(sorted(options.items())))
        if key not in cache:
            out = tmp_path_factory.mktemp(f"{name}-{task}-{backend}") / "out"
            cache[key] = _export(zoo_dir(name, task), out, task, backend, **options)
        return cache[key]

    return get
