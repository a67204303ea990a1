"""Write a zoo checkpoint's preprocessing files: tokenizer, image processor, feature extractor, processor.

Classes come from transformers' auto mappings for the model type, so each directory names the same
classes a real checkpoint of that architecture does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import transformers
from transformers.models.auto.feature_extraction_auto import FEATURE_EXTRACTOR_MAPPING_NAMES
from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

from .compat import image_processor_name, resized
from .spec import ArchSpec
from .spm import build_spm_tokenizer
from .tokenizers import build_ctc_tokenizer, build_tokenizer


@dataclass(frozen=True)
class PreprocessorKind:
    """What one ``ArchSpec.preprocessor`` value writes."""

    tokenizer: str | None = None  # a recipe of zoo.tokenizers.RECIPES, or "sentencepiece" (zoo.spm)
    image: bool = False
    audio: bool = False


KINDS: dict[str, PreprocessorKind] = {
    "wordpiece": PreprocessorKind(tokenizer="wordpiece"),
    "bpe": PreprocessorKind(tokenizer="bpe"),
    "unigram": PreprocessorKind(tokenizer="unigram"),
    "sentencepiece": PreprocessorKind(tokenizer="sentencepiece"),
    "clip": PreprocessorKind(tokenizer="clip", image=True),
    "image": PreprocessorKind(image=True),
    "audio": PreprocessorKind(audio=True),
}

# Tasks whose head predicts characters: the checkpoint carries a character vocabulary and a processor.
_CHAR_VOCAB_TASKS = frozenset({"automatic-speech-recognition"})
_MODEL_MAX_LENGTH = 512
_AUDIO_PROCESSOR = "Wav2Vec2Processor"


def _image_processor(spec: ArchSpec) -> Any:
    """The model type's (slow, PIL-based) image processor, every size set to ``spec.image_size``."""
    cls = getattr(transformers, image_processor_name(spec.model_type))
    proc = cls()
    for attr in ("size", "crop_size"):
        value = resized(getattr(proc, attr, None), spec.image_size)
        if value is not None:
            setattr(proc, attr, value)
    return proc


def _feature_extractor(spec: ArchSpec) -> Any:
    """A 16 kHz raw-waveform feature extractor; attention masks only for layer-norm feature encoders."""
    cls = getattr(transformers, FEATURE_EXTRACTOR_MAPPING_NAMES[spec.model_type])
    layer_norm = spec.config.get("feat_extract_norm") == "layer"
    return cls(feature_size=1, sampling_rate=16000, padding_value=0.0, return_attention_mask=layer_norm)


def _token_ids(tok: Any) -> dict[str, int]:
    """Config kwargs that must agree with the tokenizer: vocabulary size and special-token ids."""
    ids = {"vocab_size": len(tok)}
    for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
        value = getattr(tok, key, None)
        if value is not None:
            ids[key] = value
    return ids


def write_preprocessors(spec: ArchSpec, task: str, out_dir: Path) -> dict[str, int]:
    """Save the preprocessors of (``spec``, ``task``) into ``out_dir``; return config kwargs they imply."""
    kind = KINDS[spec.preprocessor]
    tokenizer: Any = None
    if kind.tokenizer == "sentencepiece":  # slow-only tokenizer classes (Marian)
        tokenizer = build_spm_tokenizer(spec.model_type, out_dir, _MODEL_MAX_LENGTH)
    elif kind.tokenizer:
        tokenizer = build_tokenizer(kind.tokenizer, spec.model_type, _MODEL_MAX_LENGTH, spec.special_tokens)
    elif kind.audio and task in _CHAR_VOCAB_TASKS:
        tokenizer = build_ctc_tokenizer(out_dir)
    features = _image_processor(spec) if kind.image else _feature_extractor(spec) if kind.audio else None

    processor_name = PROCESSOR_MAPPING_NAMES.get(spec.model_type)
    if kind.audio and tokenizer is not None:
        processor_name = _AUDIO_PROCESSOR
    if tokenizer is not None and features is not None and processor_name:
        slot = "image_processor" if kind.image else "feature_extractor"
        getattr(transformers, processor_name)(**{slot: features, "tokenizer": tokenizer}).save_pretrained(
            out_dir
        )
    else:
        for part in (tokenizer, features):
            if part is not None:
                part.save_pretrained(out_dir)
    return _token_ids(tokenizer) if tokenizer is not None else {}
