"""The zoo's architectures, as data: one ``ArchSpec`` each, tiny configs, the tasks Optimum exports.

Tasks per architecture are those of ``modelexport.tasks.TASKS`` (plus text-generation and
text2text-generation) that optimum-onnx registers for the model type *and* transformers has a head
for; ``tests/test_zoo.py`` checks this against Optimum's ``TasksManager``.
"""

from __future__ import annotations

from . import arch_audio, arch_text, arch_vision
from .spec import ArchSpec

ARCHS: dict[str, ArchSpec] = {
    spec.name: spec for spec in (*arch_text.SPECS, *arch_vision.SPECS, *arch_audio.SPECS)
}
