"""The one task registry: Optimum task name -> auto class, ORTModel class, layout, output spec.

Names and axes follow Optimum's ONNX configs so ``ORTModelFor<Task>.from_pretrained`` reads an
export as if Optimum had made it. The layout says which ONNX files a task's export has
(:mod:`modelexport.plan`); inputs depend on the model's modality more than on the task, so they
live in :mod:`modelexport.io_spec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .common import Axes
from .errors import UserInputError

# single: one model.onnx; decoder: model.onnx with a KV cache (ORTModelForCausalLM); seq2seq: encoder
# and decoder files (ORTModelForSeq2SeqLM).
Layout = Literal["single", "decoder", "seq2seq"]


@dataclass(frozen=True)
class TaskSpec:
    """What Optimum expects of one task's export: the head's auto class(es), the ORTModel class that
    loads it, the outputs it declares (with their axes) and the layout of its files."""

    name: str
    auto_class: str
    ort_class: str
    outputs: tuple[str, ...]
    # Output axes per output name; ``{0: "batch_size"}`` unless said otherwise.
    output_axes: Mapping[str, Axes] = field(default_factory=dict)
    layout: Layout = "single"
    # Further auto classes, tried after ``auto_class`` (image-segmentation: DETR's, then the
    # semantic, instance and universal segmentation heads).
    more_auto_classes: tuple[str, ...] = ()
    # The class loading an export whose outputs are not ``outputs`` (MaskFormer's segmentation).
    fallback_ort_class: str = "ORTModelForCustomTasks"

    def axes_for_output(self, name: str) -> Axes:
        return self.output_axes.get(name, {0: "batch_size"})

    @property
    def auto_classes(self) -> tuple[str, ...]:
        return (self.auto_class, *self.more_auto_classes)

    @property
    def generative(self) -> bool:
        """Several files and/or a KV cache (:mod:`modelexport.generative`)."""
        return self.layout != "single"

    @property
    def with_past(self) -> bool:
        """Optimum's ``-with-past`` tasks: the decoder takes and returns the KV cache."""
        return self.name.endswith("-with-past")


_TOKEN_AXES: Axes = {0: "batch_size", 1: "sequence_length"}
_DECODER_AXES: Axes = {0: "batch_size", 1: "decoder_sequence_length"}
_IMAGE_AXES: Axes = {0: "batch_size", 1: "num_channels", 2: "height", 3: "width"}
_QUERY_AXES: Axes = {0: "batch_size", 1: "num_queries"}
_CUSTOM = "ORTModelForCustomTasks"


def _spec(
    name: str, auto: str | tuple[str, ...], ort: str, outputs: Mapping[str, Axes], layout: Layout = "single"
) -> TaskSpec:
    autos = (auto,) if isinstance(auto, str) else auto
    return TaskSpec(name, autos[0], ort, tuple(outputs), dict(outputs), layout, autos[1:])


_BATCH: Axes = {0: "batch_size"}

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "feature-extraction",
            "AutoModel",
            "ORTModelForFeatureExtraction",
            {"last_hidden_state": _TOKEN_AXES},
        ),
        _spec("fill-mask", "AutoModelForMaskedLM", "ORTModelForMaskedLM", {"logits": _TOKEN_AXES}),
        _spec(
            "text-classification",
            "AutoModelForSequenceClassification",
            "ORTModelForSequenceClassification",
            {"logits": _BATCH},
        ),
        _spec(
            "token-classification",
            "AutoModelForTokenClassification",
            "ORTModelForTokenClassification",
            {"logits": _TOKEN_AXES},
        ),
        _spec(
            "question-answering",
            "AutoModelForQuestionAnswering",
            "ORTModelForQuestionAnswering",
            {"start_logits": _TOKEN_AXES, "end_logits": _TOKEN_AXES},
        ),
        _spec(
            "multiple-choice",
            "AutoModelForMultipleChoice",
            "ORTModelForMultipleChoice",
            {"logits": {0: "batch_size", 1: "num_choices"}},
        ),
        _spec(
            "image-classification",
            "AutoModelForImageClassification",
            "ORTModelForImageClassification",
            {"logits": _BATCH},
        ),
        _spec(
            "semantic-segmentation",
            "AutoModelForSemanticSegmentation",
            "ORTModelForSemanticSegmentation",
            {"logits": {0: "batch_size", 2: "height", 3: "width"}},
        ),
        _spec(
            "image-segmentation",
            (
                "AutoModelForImageSegmentation",
                "AutoModelForSemanticSegmentation",
                "AutoModelForInstanceSegmentation",
                "AutoModelForUniversalSegmentation",
            ),
            "ORTModelForSemanticSegmentation",
            {
                "logits": {0: "batch_size", 1: "num_queries"},
                "pred_masks": {0: "batch_size", 1: "num_queries"},
            },
        ),
        _spec(
            "zero-shot-image-classification",
            "AutoModelForZeroShotImageClassification",
            "ORTModelForZeroShotImageClassification",
            {
                "logits_per_image": {0: "image_batch_size", 1: "text_batch_size"},
                "logits_per_text": {0: "text_batch_size", 1: "image_batch_size"},
                "text_embeds": {0: "text_batch_size"},
                "image_embeds": {0: "image_batch_size"},
            },
        ),
        _spec(
            "object-detection",
            "AutoModelForObjectDetection",
            _CUSTOM,
            {"logits": _QUERY_AXES, "pred_boxes": _QUERY_AXES},
        ),
        _spec(
            "zero-shot-object-detection",
            "AutoModelForZeroShotObjectDetection",
            _CUSTOM,
            {
                "logits": {0: "image_batch_size", 1: "num_queries"},
                "pred_boxes": {0: "image_batch_size", 1: "num_queries"},
                "text_embeds": {0: "image_batch_size"},
                "image_embeds": {0: "image_batch_size"},
            },
        ),
        _spec(
            "depth-estimation",
            "AutoModelForDepthEstimation",
            _CUSTOM,
            {"predicted_depth": {0: "batch_size", 1: "height", 2: "width"}},
        ),
        _spec("masked-im", "AutoModelForMaskedImageModeling", _CUSTOM, {"reconstruction": _IMAGE_AXES}),
        _spec(
            "image-to-image",
            "AutoModelForImageToImage",
            "ORTModelForImageToImage",
            {"reconstruction": {0: "batch_size", 1: "num_channels"}},
        ),
        _spec(
            "keypoint-detection",
            "AutoModelForKeypointDetection",
            _CUSTOM,
            {"heatmaps": {0: "batch_size", 1: "num_keypoints", 2: "height", 3: "width"}},
        ),
        _spec(
            "audio-classification",
            "AutoModelForAudioClassification",
            "ORTModelForAudioClassification",
            {"logits": _BATCH},
        ),
        _spec(
            "audio-frame-classification",
            "AutoModelForAudioFrameClassification",
            "ORTModelForAudioFrameClassification",
            {"logits": _TOKEN_AXES},
        ),
        _spec(
            "audio-xvector",
            "AutoModelForAudioXVector",
            "ORTModelForAudioXVector",
            {"logits": _BATCH, "embeddings": _BATCH},
        ),
        _spec("automatic-speech-recognition", "AutoModelForCTC", "ORTModelForCTC", {"logits": _TOKEN_AXES}),
        _spec(
            "text-to-audio",
            ("AutoModelForTextToWaveform", "AutoModelForTextToSpectrogram"),
            _CUSTOM,
            {"waveform": {0: "batch_size", 1: "n_samples"}, "spectrogram": {0: "batch_size", 2: "n_frames"}},
        ),
        _spec(
            "time-series-forecasting",
            "AutoModelForTimeSeriesPrediction",
            _CUSTOM,
            {"prediction_outputs": _BATCH},
        ),
        _spec(
            "reinforcement-learning",
            "AutoModel",
            _CUSTOM,
            {
                "state_preds": {0: "batch_size", 1: "sequence_length"},
                "action_preds": {0: "batch_size", 1: "sequence_length"},
                "return_preds": {0: "batch_size", 1: "sequence_length"},
                "last_hidden_state": {0: "batch_size", 1: "sequence_length"},
            },
        ),
        # Generative tasks: the files, past key values and their axes are laid out by
        # modelexport.generative (decoder-only: model.onnx; encoder-decoder: encoder + decoders).
        *(
            _spec(name, "AutoModelForCausalLM", "ORTModelForCausalLM", {"logits": _TOKEN_AXES}, "decoder")
            for name in ("text-generation", "text-generation-with-past")
        ),
        *(
            _spec(name, "AutoModelForSeq2SeqLM", "ORTModelForSeq2SeqLM", {"logits": _DECODER_AXES}, "seq2seq")
            for name in ("text2text-generation", "text2text-generation-with-past")
        ),
    )
}

# Head-class suffixes in ``config.architectures`` -> task, most specific first.
_SUFFIX_TO_TASK: tuple[tuple[str, str], ...] = (
    ("ForImageClassificationWithTeacher", "image-classification"),
    ("ForImageClassification", "image-classification"),
    ("ForSemanticSegmentation", "semantic-segmentation"),
    ("ForAudioClassification", "audio-classification"),
    ("ForCTC", "automatic-speech-recognition"),
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMultipleChoice", "multiple-choice"),
    ("ForMaskedLM", "fill-mask"),
    ("ForCausalLM", "text-generation-with-past"),
    ("LMHeadModel", "text-generation-with-past"),
)

# Text encoder-decoders ORTModelForSeq2SeqLM loads: their ``*ForConditionalGeneration`` head generates
# text (the suffix alone also names speech and vision-language heads, which are other tasks).
_SEQ2SEQ_MODEL_TYPES = frozenset(
    {"bart", "blenderbot", "blenderbot-small", "longt5", "m2m_100", "marian", "mbart", "mt5", "pegasus", "t5"}
)

# Bare models whose natural task is not feature extraction.
_BARE_MODEL_TASKS: dict[str, str] = {
    "CLIPModel": "zero-shot-image-classification",
    "SiglipModel": "zero-shot-image-classification",
    "MarianMTModel": "text2text-generation-with-past",
}

_AUDIO_MODEL_TYPES = frozenset(
    {"wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech", "unispeech-sat", "sew", "sew-d"}
)


def get_task(name: str) -> TaskSpec:
    """The spec of a task, or a one-line error listing the supported ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise UserInputError(
            f"unsupported task '{name}'.", hint=f"use one of: {', '.join(sorted(TASKS))}."
        ) from None


def infer_task(architectures: list[str] | None, model_type: str | None) -> str:
    """Infer Optimum's task name from ``config.architectures`` (the head the checkpoint carries)."""
    for arch in architectures or ():
        if arch in _BARE_MODEL_TASKS:
            return _BARE_MODEL_TASKS[arch]
        if arch.endswith("ForConditionalGeneration") and model_type in _SEQ2SEQ_MODEL_TYPES:
            return "text2text-generation-with-past"
        for suffix, task in _SUFFIX_TO_TASK:
            if arch.endswith(suffix):
                if task == "text-classification" and model_type in _AUDIO_MODEL_TYPES:
                    return "audio-classification"
                return task
        if arch.endswith("Model"):
            return "feature-extraction"
    raise UserInputError(
        f"cannot infer the task from config.architectures={architectures!r}.",
        hint=f"pass --task (one of: {', '.join(sorted(TASKS))}).",
    )
