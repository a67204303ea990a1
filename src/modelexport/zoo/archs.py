"""The zoo's architectures, as data: one ``ArchSpec`` each, tiny configs, the tasks Optimum exports.

Tasks per architecture are those Optimum's ONNX exporter registers for the model type that
transformers has a head for: exported ones in ``tasks``, ones modelexport has no layout for yet in
``pending``. ``tests/zoo/test_zoo.py`` checks this against Optimum's ``TasksManager``; types Optimum
does not register are marked ``optimum=False`` (their tasks mirror the closest registered type's).
"""

from __future__ import annotations

from . import (
    arch_audio,
    arch_backbones,
    arch_beyond,
    arch_beyond_generative,
    arch_decoders,
    arch_dense,
    arch_dual,
    arch_encoders,
    arch_seq2seq,
    arch_structured,
    arch_text,
    arch_vision,
)
from .spec import ArchSpec

_MODULES = (
    arch_text,
    arch_encoders,
    arch_structured,
    arch_decoders,
    arch_seq2seq,
    arch_vision,
    arch_backbones,
    arch_dense,
    arch_dual,
    arch_audio,
    arch_beyond,
    arch_beyond_generative,
)


def _registry() -> dict[str, ArchSpec]:
    specs = [spec for module in _MODULES for spec in module.SPECS]
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(
            f"zoo architecture names are not unique: {sorted(n for n in names if names.count(n) > 1)}"
        )
    return {spec.name: spec for spec in specs}


ARCHS: dict[str, ArchSpec] = _registry()
