"""Coverage audit, as Optimum's test_all_models_tested: every model type Optimum's ONNX exporter
registers that the installed transformers has is in the zoo, or in EXCLUDED with the reason."""

from __future__ import annotations

import copy

import pytest
import transformers
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from modelexport.tasks import task_for
from modelexport.zoo import ARCHS, zoo_summary

# model type -> why the zoo has no spec for it. Short, and each entry must stay true (tested below).
EXCLUDED: dict[str, str] = {
    "musicgen": "text-to-audio is five files (T5 text encoder, decoder without and with past, Encodec "
    "decoder, delay-pattern mask) and a generation loop: modelexport has no such layout yet",
    "speecht5": "text-to-audio is four files (encoder, decoder with past around the mel prenet, postnet "
    "and a vocoder from a separate HiFi-GAN checkpoint): modelexport has no such layout yet",
    "trocr": "transformers has no AutoModel head for it (Optimum's own feature-extraction export cannot "
    "load it): TrOCR exists as a vision-encoder-decoder's decoder, which the zoo has",
    "mgp-str": "its logits are a tuple of three tensors that Optimum splits with a model patcher, and "
    "MgpstrProcessor downloads GPT-2's and BERT's tokenizers from the Hub in its constructor",
    "colpali": "Optimum's own exporter cannot export it (AttributeError: SiglipVisionConfig has no "
    "num_image_tokens), and its processor needs 1024 <loc> and 128 <seg> tokens and an image-token prefix",
}


def _registered() -> set[str]:
    pytest.importorskip("optimum.exporters.onnx.model_configs")
    from optimum.exporters.tasks import TasksManager

    return {t for t, exporters in TasksManager._SUPPORTED_MODEL_TYPE.items() if "onnx" in exporters}


def test_every_registered_model_type_is_in_the_zoo_or_excluded_with_a_reason() -> None:
    present = {t for t in _registered() if t in CONFIG_MAPPING}
    in_zoo = {s.model_type for s in ARCHS.values()}
    missing = sorted(present - in_zoo - set(EXCLUDED))
    assert missing == [], f"add a zoo spec for these, or an EXCLUDED reason: {missing}"
    assert len(present & in_zoo) >= 135


def test_exclusions_are_few_registered_and_not_in_the_zoo() -> None:
    registered = _registered()
    assert len(EXCLUDED) <= 13
    assert set(EXCLUDED) <= registered
    assert not set(EXCLUDED) & {s.model_type for s in ARCHS.values()}
    assert all(len(reason) > 40 for reason in EXCLUDED.values())


def test_the_zoo_spans_at_least_25_tasks() -> None:
    tasks = {t for s in ARCHS.values() for t in s.tasks}
    assert len(tasks) >= 25 and zoo_summary().tasks == len(tasks)


def _ort_classes_of_the_zoo() -> set[str]:
    """The classes loading the zoo's exports: each task's for each model (Whisper's speech
    recognition is ORTModelForSpeechSeq2Seq, Pix2Struct's image-to-text ORTModelForPix2Struct),
    and the fallback of its single-file tasks."""
    classes = set()
    for spec in ARCHS.values():
        config = transformers.AutoConfig.for_model(spec.model_type, **copy.deepcopy(dict(spec.config)))
        for task in spec.tasks:
            task_spec = task_for(task, config)
            classes |= {task_spec.ort_class, task_spec.fallback_ort_class}
    return classes


def test_every_class_the_zoo_loads_with_exists_in_optimum() -> None:
    ortm = pytest.importorskip("optimum.onnxruntime")
    assert [c for c in sorted(_ort_classes_of_the_zoo()) if not hasattr(ortm, c)] == []


def test_every_ortmodel_class_is_used_by_some_task_of_the_zoo() -> None:
    ortm = pytest.importorskip("optimum.onnxruntime")
    classes = {name for name in dir(ortm) if name.startswith("ORTModelFor")}
    assert len(classes) == 20
    assert sorted(classes - _ort_classes_of_the_zoo()) == []
