"""Offline tiny-model zoo: one ``ArchSpec`` per architecture, built into Hub-like checkpoint directories.

Nothing touches the network: configs are tiny and seeded, tokenizers are learnt from an in-code
corpus, image and audio processors are the model type's own classes.
"""

from __future__ import annotations

from .archs import ARCHS
from .build import AUTO_CLASSES, build, find_head_class, head_class
from .cache import cache_key, cache_root, cached_build
from .spec import ArchSpec, ZooError
from .summary import ZooSummary, absent_model_type, unavailable_reason, zoo_summary

__all__ = [
    "ARCHS",
    "AUTO_CLASSES",
    "ArchSpec",
    "ZooError",
    "ZooSummary",
    "absent_model_type",
    "build",
    "cache_key",
    "cache_root",
    "cached_build",
    "find_head_class",
    "head_class",
    "list_archs",
    "unavailable_reason",
    "zoo_list_rows",
    "zoo_summary",
]


def list_archs() -> list[ArchSpec]:
    """Every architecture of the zoo, sorted by name."""
    return [ARCHS[name] for name in sorted(ARCHS)]


def zoo_list_rows() -> list[tuple[str, str, str]]:
    """(name, modality, comma-joined tasks) per architecture, for ``modelexport zoo list``; pending
    tasks follow in brackets, types Optimum does not register are marked."""
    rows = []
    for spec in list_archs():
        tasks = ",".join(spec.tasks)
        if spec.pending:
            tasks += f" [pending: {','.join(spec.pending)}]"
        modality = spec.modality if spec.optimum else f"{spec.modality} (not in Optimum)"
        rows.append((spec.name, modality, tasks))
    return rows
