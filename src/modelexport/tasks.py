"""The one task registry: Optimum task name -> auto class, ORTModel class, layout, output spec.

Names and axes follow Optimum's ONNX configs so ``ORTModelFor<Task>.from_pretrained`` reads an
export as if Optimum had made it. The layout says which ONNX files a task's export has
(:mod:`modelexport.plan`); inputs depend on the model's modality more than on the task, so they
live in :mod:`modelexport.io_spec`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Literal

from .common import Axes
from .errors import UserInputError

# single: one model.onnx; decoder: model.onnx with a KV cache (ORTModelForCausalLM); seq2seq: an
# encoder file and decoder files (ORTModelForSeq2SeqLM, ...ForSpeechSeq2Seq, ...ForVision2Seq: the
# encoder's inputs are the model's own: token ids, speech features, pixels, flattened patches).
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

    def ort_class_for(self, inputs: Sequence[str], outputs: Sequence[str]) -> str:
        """The ORTModel class that loads *and runs* an export with these inputs and outputs: the
        task's own when it returns the task's first output and its ``forward`` feeds every input,
        else :attr:`fallback_ort_class` (``ORTModelForCustomTasks`` feeds whatever the file takes:
        LayoutLM's boxes, MarkupLM's xpaths, T5's decoder tokens, SAM's points)."""
        if self.generative:
            return self.ort_class
        if not outputs or self.outputs[0] not in outputs:
            return self.fallback_ort_class
        fed = _ort_forward_inputs(self.ort_class)
        if fed is not None and not set(inputs) <= fed:
            return self.fallback_ort_class
        return self.ort_class

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


@cache
def _ort_forward_inputs(class_name: str) -> frozenset[str] | None:
    """The inputs an ``optimum.onnxruntime`` class's ``forward`` takes; None where Optimum does not import."""
    import inspect

    try:
        import optimum.onnxruntime as ortm

        forward = getattr(ortm, class_name).forward
    except Exception:
        return None
    return frozenset(inspect.signature(forward).parameters) - {"self", "kwargs", "return_dict"}


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
        _spec(
            "automatic-speech-recognition-with-past",
            "AutoModelForSpeechSeq2Seq",
            "ORTModelForSpeechSeq2Seq",
            {"logits": _DECODER_AXES},
            "seq2seq",
        ),
        *(
            _spec(
                name,
                # transformers 5 has no AutoModelForVision2Seq: its image-text-to-text class maps them
                ("AutoModelForVision2Seq", "AutoModelForImageTextToText", "AutoModel"),
                "ORTModelForVision2Seq",
                {"logits": _DECODER_AXES},
                "seq2seq",
            )
            for name in ("image-to-text", "image-to-text-with-past")
        ),
        # A decoder's or an encoder-decoder's base model with its cache (the layout follows the model).
        _spec(
            "feature-extraction-with-past",
            "AutoModel",
            _CUSTOM,
            {"last_hidden_state": _TOKEN_AXES},
            "decoder",
        ),
    )
}

# The same task names for other kinds of model: speech recognition by an encoder-decoder (Whisper)
# rather than CTC, without its cache.
SPEECH_SEQ2SEQ = _spec(
    "automatic-speech-recognition",
    "AutoModelForSpeechSeq2Seq",
    "ORTModelForSpeechSeq2Seq",
    {"logits": _DECODER_AXES},
    "seq2seq",
)


# Model types whose export Optimum loads with a class of their own.
MODEL_TYPE_ORT_CLASSES: dict[tuple[str, str], str] = {
    ("pix2struct", "image-to-text"): "ORTModelForPix2Struct",
    ("pix2struct", "image-to-text-with-past"): "ORTModelForPix2Struct",
}


def task_for(name: str, config: Any) -> TaskSpec:
    """``name``'s spec for this model: an encoder-decoder's speech recognition is generative (Whisper),
    a CTC model's is one file; an encoder-decoder's ``feature-extraction-with-past`` is split like its
    text2text generation; Pix2Struct loads in ``ORTModelForPix2Struct``."""
    spec = get_task(name)
    encoder_decoder = bool(getattr(config, "is_encoder_decoder", False))
    if name == "automatic-speech-recognition" and encoder_decoder:
        spec = SPEECH_SEQ2SEQ
    elif name == "feature-extraction-with-past" and encoder_decoder:
        spec = replace(spec, layout="seq2seq", output_axes={"last_hidden_state": _DECODER_AXES})
    ort_class = MODEL_TYPE_ORT_CLASSES.get((str(getattr(config, "model_type", "")), name))
    return replace(spec, ort_class=ort_class) if ort_class else spec


# Head-class suffixes in ``config.architectures`` -> task, most specific first.
_SUFFIX_TO_TASK: tuple[tuple[str, str], ...] = (
    ("ForImageClassificationWithTeacher", "image-classification"),
    ("ForImageClassification", "image-classification"),
    ("ForImageClassificationLearned", "image-classification"),
    ("ForImageClassificationFourier", "image-classification"),
    ("ForImageClassificationConvProcessing", "image-classification"),
    # Optimum's name for every type it exports a semantic-segmentation head of (MobileViT lists no other).
    ("ForSemanticSegmentation", "image-segmentation"),
    ("ForInstanceSegmentation", "image-segmentation"),
    ("ForUniversalSegmentation", "image-segmentation"),
    ("ForSegmentation", "image-segmentation"),
    ("ForObjectDetection", "object-detection"),
    ("ForDepthEstimation", "depth-estimation"),
    ("ForMaskedImageModeling", "masked-im"),
    ("ForImageSuperResolution", "image-to-image"),
    ("ForPoseEstimation", "keypoint-detection"),
    ("ForPrediction", "time-series-forecasting"),
    ("ForAudioFrameClassification", "audio-frame-classification"),
    ("ForXVector", "audio-xvector"),
    ("ForAudioClassification", "audio-classification"),
    ("ForCTC", "automatic-speech-recognition"),
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForQuestionAnsweringSimple", "question-answering"),  # XLM, FlauBERT, XLNet
    ("ForMultipleChoice", "multiple-choice"),
    ("ForMaskedLM", "fill-mask"),
    ("WithLMHeadModel", "fill-mask"),  # XLM's and FlauBERT's masked-language heads
    ("ForCausalLM", "text-generation-with-past"),
    ("LMHeadModel", "text-generation-with-past"),
)

# Text encoder-decoders ORTModelForSeq2SeqLM loads: their ``*ForConditionalGeneration`` head generates
# text (the suffix alone also names speech and vision-language heads, which are other tasks).
_SEQ2SEQ_MODEL_TYPES = frozenset(
    {
        "bart",
        "bigbird_pegasus",
        "blenderbot",
        "blenderbot-small",
        "encoder-decoder",
        "longt5",
        "m2m_100",
        "marian",
        "mbart",
        "mt5",
        "mvp",
        "pegasus",
        "pegasus_x",
        "plbart",
        "t5",
        "umt5",
    }
)
# Encoder-decoders from speech or images to text (ORTModelForSpeechSeq2Seq, ORTModelForVision2Seq).
_SPEECH_SEQ2SEQ_MODEL_TYPES = frozenset({"whisper", "speech_to_text", "moonshine", "speech-encoder-decoder"})
_VISION_SEQ2SEQ_MODEL_TYPES = frozenset({"vision-encoder-decoder", "pix2struct"})

# Bare models whose natural task is not feature extraction.
_BARE_MODEL_TASKS: dict[str, str] = {
    "CLIPModel": "zero-shot-image-classification",
    "SiglipModel": "zero-shot-image-classification",
    "ChineseCLIPModel": "zero-shot-image-classification",
    "AltCLIPModel": "zero-shot-image-classification",
    "MetaClip2Model": "zero-shot-image-classification",
    "OwlViTForObjectDetection": "zero-shot-object-detection",
    "Owlv2ForObjectDetection": "zero-shot-object-detection",
    "VitsModel": "text-to-audio",
    "FastSpeech2ConformerModel": "text-to-audio",
    "FastSpeech2ConformerWithHifiGan": "text-to-audio",
    "DecisionTransformerModel": "reinforcement-learning",
    "MarianMTModel": "text2text-generation-with-past",
    "DPRQuestionEncoder": "feature-extraction",
    "DPRContextEncoder": "feature-extraction",
}

_AUDIO_MODEL_TYPES = frozenset(
    {
        "wav2vec2",
        "wav2vec2-conformer",
        "wav2vec2-bert",
        "hubert",
        "wavlm",
        "data2vec-audio",
        "unispeech",
        "unispeech-sat",
        "sew",
        "sew-d",
        "audio-spectrogram-transformer",
        "whisper",
    }
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
        generation = arch.endswith(("ForConditionalGeneration", "EncoderDecoderModel"))
        if generation and model_type in _SEQ2SEQ_MODEL_TYPES:
            return "text2text-generation-with-past"
        if generation and model_type in _SPEECH_SEQ2SEQ_MODEL_TYPES:
            return "automatic-speech-recognition-with-past"
        if generation and model_type in _VISION_SEQ2SEQ_MODEL_TYPES:
            return "image-to-text-with-past"
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
