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
    """What Optimum expects of one task's ONNX file."""

    name: str
    auto_class: str
    ort_class: str
    outputs: tuple[str, ...]
    # Output axes per output name; ``{0: "batch_size"}`` unless said otherwise.
    output_axes: Mapping[str, Axes] = field(default_factory=dict)
    layout: Layout = "single"

    def axes_for_output(self, name: str) -> Axes:
        return self.output_axes.get(name, {0: "batch_size"})

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

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "feature-extraction",
            "AutoModel",
            "ORTModelForFeatureExtraction",
            ("last_hidden_state",),
            {"last_hidden_state": _TOKEN_AXES},
        ),
        TaskSpec(
            "fill-mask", "AutoModelForMaskedLM", "ORTModelForMaskedLM", ("logits",), {"logits": _TOKEN_AXES}
        ),
        TaskSpec(
            "text-classification",
            "AutoModelForSequenceClassification",
            "ORTModelForSequenceClassification",
            ("logits",),
        ),
        TaskSpec(
            "token-classification",
            "AutoModelForTokenClassification",
            "ORTModelForTokenClassification",
            ("logits",),
            {"logits": _TOKEN_AXES},
        ),
        TaskSpec(
            "question-answering",
            "AutoModelForQuestionAnswering",
            "ORTModelForQuestionAnswering",
            ("start_logits", "end_logits"),
            {"start_logits": _TOKEN_AXES, "end_logits": _TOKEN_AXES},
        ),
        TaskSpec(
            "multiple-choice",
            "AutoModelForMultipleChoice",
            "ORTModelForMultipleChoice",
            ("logits",),
            {"logits": {0: "batch_size", 1: "num_choices"}},
        ),
        TaskSpec(
            "image-classification",
            "AutoModelForImageClassification",
            "ORTModelForImageClassification",
            ("logits",),
        ),
        TaskSpec(
            "semantic-segmentation",
            "AutoModelForSemanticSegmentation",
            "ORTModelForSemanticSegmentation",
            ("logits",),
            {"logits": {0: "batch_size", 2: "height", 3: "width"}},
        ),
        TaskSpec(
            "zero-shot-image-classification",
            "AutoModelForZeroShotImageClassification",
            "ORTModelForZeroShotImageClassification",
            ("logits_per_image", "logits_per_text", "text_embeds", "image_embeds"),
            {
                "logits_per_image": {0: "image_batch_size", 1: "text_batch_size"},
                "logits_per_text": {0: "text_batch_size", 1: "image_batch_size"},
                "text_embeds": {0: "text_batch_size"},
                "image_embeds": {0: "image_batch_size"},
            },
        ),
        TaskSpec(
            "audio-classification",
            "AutoModelForAudioClassification",
            "ORTModelForAudioClassification",
            ("logits",),
        ),
        TaskSpec(
            "automatic-speech-recognition",
            "AutoModelForCTC",
            "ORTModelForCTC",
            ("logits",),
            {"logits": _TOKEN_AXES},
        ),
        # Generative tasks: the files, past key values and their axes are laid out by
        # modelexport.generative (decoder-only: model.onnx; encoder-decoder: encoder + decoders).
        *(
            TaskSpec(
                name,
                "AutoModelForCausalLM",
                "ORTModelForCausalLM",
                ("logits",),
                {"logits": _TOKEN_AXES},
                "decoder",
            )
            for name in ("text-generation", "text-generation-with-past")
        ),
        *(
            TaskSpec(
                name,
                "AutoModelForSeq2SeqLM",
                "ORTModelForSeq2SeqLM",
                ("logits",),
                {"logits": _DECODER_AXES},
                "seq2seq",
            )
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
