"""Write a zoo checkpoint's preprocessing files: tokenizer, image processor, feature extractor, processor.

Classes come from transformers' auto mappings for the model type (or the spec's ``processor_class``
where the mapping names none), so each directory names the same classes a real checkpoint of that
architecture does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import transformers
from transformers.models.auto.feature_extraction_auto import FEATURE_EXTRACTOR_MAPPING_NAMES
from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

from .compat import image_processor_name, resized
from .custom_tokenizers import BUILDERS, Built
from .spec import ArchSpec
from .spm import build_spm_tokenizer
from .tokenizers import RECIPES, build_ctc_tokenizer, build_tokenizer

Features = Literal["image", "audio"]


@dataclass(frozen=True)
class PreprocessorKind:
    """What one ``ArchSpec.preprocessor`` value writes: a tokenizer (a recipe of
    :data:`.tokenizers.RECIPES`, ``sentencepiece`` (:mod:`.spm`) or a builder of
    :data:`.custom_tokenizers.BUILDERS`) and/or an image processor or audio feature extractor."""

    tokenizer: str | None = None
    features: Features | None = None
    # Tasks that take the features only (Perceiver's image classifier has no use for its tokenizer).
    features_only: frozenset[str] = field(default_factory=frozenset)

    @property
    def image(self) -> bool:
        return self.features == "image"

    @property
    def audio(self) -> bool:
        return self.features == "audio"


def _kinds() -> dict[str, PreprocessorKind]:
    kinds = {
        "image": PreprocessorKind(features="image"),
        "audio": PreprocessorKind(features="audio"),
        "none": PreprocessorKind(),
        "clip": PreprocessorKind(tokenizer="clip", features="image"),
        "sentencepiece": PreprocessorKind(tokenizer="sentencepiece"),
        "perceiver": PreprocessorKind(
            tokenizer="perceiver", features="image", features_only=frozenset({"image-classification"})
        ),
        "whisper": PreprocessorKind(tokenizer="whisper", features="audio"),
        "speech_to_text": PreprocessorKind(tokenizer="sentencepiece", features="audio"),
    }
    for name in (*RECIPES, *BUILDERS):
        kinds.setdefault(name, PreprocessorKind(tokenizer=name))
    for recipe in ("wordpiece", "bpe", "unigram", "sentencepiece"):
        kinds[f"{recipe}+image"] = PreprocessorKind(tokenizer=recipe, features="image")
        kinds[f"{recipe}+audio"] = PreprocessorKind(tokenizer=recipe, features="audio")
    return kinds


KINDS: dict[str, PreprocessorKind] = _kinds()

# Tasks whose head predicts characters: the checkpoint carries a character vocabulary and a processor.
_CHAR_VOCAB_TASKS = frozenset({"automatic-speech-recognition"})
_MODEL_MAX_LENGTH = 512
_AUDIO_PROCESSOR = "Wav2Vec2Processor"
_WAVEFORM_EXTRACTOR = "Wav2Vec2FeatureExtractor"


@dataclass
class Written:
    """What the saved preprocessors imply for the model: config kwargs (vocabulary size, token ids)
    and generation settings."""

    config: dict[str, Any] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=dict)


def _image_processor(spec: ArchSpec) -> Any:
    """The model type's (slow, PIL-based) image processor, every size set to ``spec.image_size``."""
    cls = getattr(transformers, spec.processor_class or image_processor_name(spec.model_type))
    proc = cls(**spec.processor_kwargs)
    for attr in ("size", "crop_size"):
        value = resized(getattr(proc, attr, None), spec.image_size)
        if value is not None and spec.image_size is not None:
            setattr(proc, attr, value)
    return proc


def _feature_extractor(spec: ArchSpec) -> Any:
    """The model type's feature extractor: for raw 16 kHz waveforms (attention masks only for
    layer-norm feature encoders), or spectrogram extractors sized by the spec's ``processor_kwargs``."""
    name = spec.processor_class or FEATURE_EXTRACTOR_MAPPING_NAMES[spec.model_type]
    kwargs: dict[str, Any] = {}
    if name == _WAVEFORM_EXTRACTOR:
        layer_norm = spec.config.get("feat_extract_norm") == "layer"
        kwargs = {
            "feature_size": 1,
            "sampling_rate": 16000,
            "padding_value": 0.0,
            "return_attention_mask": layer_norm,
        }
    return getattr(transformers, name)(**{**kwargs, **spec.processor_kwargs})


def _token_ids(tok: Any) -> dict[str, int]:
    """Config kwargs that must agree with the tokenizer: vocabulary size and special-token ids.

    The size covers every id the tokenizer can produce: some slow classes (M2M100) give language
    tokens ids beyond ``len(tokenizer)`` and beyond ``get_vocab()`` (its ``__en__`` is 235 of 317
    while both say 217).
    """
    produced = [
        *tok.get_vocab().values(),
        *getattr(tok, "lang_token_to_id", {}).values(),
        *getattr(tok, "lang_code_to_id", {}).values(),
    ]
    ids = {"vocab_size": max(len(tok), max(produced, default=-1) + 1)}
    for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
        value = getattr(tok, key, None)
        if value is not None:
            ids[key] = value
    return ids


def _tokenizer(spec: ArchSpec, task: str, name: str, out_dir: Path) -> Built:
    if name in BUILDERS:
        return BUILDERS[name](spec, out_dir)
    if name == "sentencepiece":  # slow-only SentencePiece classes (Marian, M2M100, ...)
        return Built(build_spm_tokenizer(spec.model_type, out_dir, _MODEL_MAX_LENGTH))
    model_type = spec.tokenizer_type or spec.model_type
    return Built(build_tokenizer(name, model_type, _MODEL_MAX_LENGTH, spec.special_tokens))


def _processor(spec: ArchSpec, kind: PreprocessorKind, tokenizer: Any, features: Any) -> Any | None:
    """The model type's processor over the tokenizer and the features (speech models without one of
    their own: Wav2Vec2Processor); None when there is no processor, or when it does not take these
    classes (wav2vec2-BERT's mapping names Wav2Vec2Processor, which refuses its feature extractor):
    then the parts are saved on their own."""
    name = PROCESSOR_MAPPING_NAMES.get(spec.model_type) or (_AUDIO_PROCESSOR if kind.audio else None)
    if tokenizer is None or features is None or name is None:
        return None
    slot = "image_processor" if kind.image else "feature_extractor"
    try:
        return getattr(transformers, name)(**{slot: features, "tokenizer": tokenizer})
    except TypeError:
        return None


def write_preprocessors(spec: ArchSpec, task: str, out_dir: Path) -> Written:
    """Save the preprocessors of (``spec``, ``task``) into ``out_dir``; return what they imply."""
    kind = KINDS[spec.preprocessor]
    built: Built | None = None
    if kind.tokenizer and task not in kind.features_only:
        built = _tokenizer(spec, task, kind.tokenizer, out_dir)
    elif kind.audio and task in _CHAR_VOCAB_TASKS:
        built = Built(build_ctc_tokenizer(out_dir))
    features = _image_processor(spec) if kind.image else _feature_extractor(spec) if kind.audio else None
    tokenizer = built.tokenizer if built is not None else None

    processor = _processor(spec, kind, tokenizer, features)
    if processor is not None:
        processor.save_pretrained(out_dir)
    else:
        # A custom builder wrote its tokenizer's files itself, some edited (Splinter's): not saved again.
        own = None if kind.tokenizer in BUILDERS and task not in kind.features_only else tokenizer
        for part in (own, features):
            if part is not None:
                part.save_pretrained(out_dir)
    if built is None:
        return Written()
    return Written({**_token_ids(tokenizer), **built.config}, built.generation)
