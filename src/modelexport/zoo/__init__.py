"""Offline tiny-model zoo: one ``ArchSpec`` per architecture, built into Hub-like checkpoint directories.

Nothing touches the network: configs are tiny and seeded, tokenizers are learnt from an in-code
corpus, image and audio processors are the model type's own classes.
"""

from __future__ import annotations

from .archs import ARCHS
from .build import AUTO_CLASSES, build, head_class
from .cache import cache_key, cache_root, cached_build
from .spec import ArchSpec, ZooError

__all__ = [
    "ARCHS",
    "AUTO_CLASSES",
    "ArchSpec",
    "ZooError",
    "build",
    "cache_key",
    "cache_root",
    "cached_build",
    "head_class",
    "list_archs",
    "zoo_list_rows",
]


def list_archs() -> list[ArchSpec]:
    """Every architecture of the zoo, sorted by name."""
    return [ARCHS[name] for name in sorted(ARCHS)]


def zoo_list_rows() -> list[tuple[str, str, str]]:
    """(name, modality, comma-joined tasks) per architecture, for ``modelexport zoo list``."""
    return [(spec.name, spec.modality, ",".join(spec.tasks)) for spec in list_archs()]
