"""SentencePiece tokenizers for model types whose only tokenizer class is the slow, SentencePiece one
(Marian, M2M100, Speech2Text, SigLIP): each reads a SentencePiece model, and some a ``vocab.json``,
under file names of its own (:data:`LAYOUTS`).

The pieces and scores are the zoo's own Unigram recipe (:mod:`.tokenizers`), written as a SentencePiece
model proto: no SentencePiece training, so the bytes are the same on every run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import transformers

from .compat import slow_tokenizer_name
from .tokenizers import special_tokens_of, trained_json


@dataclass(frozen=True)
class SpmLayout:
    """The files a slow class reads, in its constructor's argument order (``.json``: the piece -> id
    vocabulary; anything else: the SentencePiece model), and its other constructor arguments."""

    files: tuple[str, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)


LAYOUTS: Mapping[str, SpmLayout] = {
    "marian": SpmLayout(("source.spm", "target.spm", "vocab.json")),
    "m2m_100": SpmLayout(("vocab.json", "sentencepiece.bpe.model"), {"src_lang": "en", "tgt_lang": "fr"}),
    "speech_to_text": SpmLayout(("vocab.json", "sentencepiece.bpe.model")),
    "siglip": SpmLayout(("spiece.model",)),
}


def _spm_model(pieces: list[tuple[str, float]], specials: dict[str, str]) -> bytes:
    from sentencepiece import sentencepiece_model_pb2 as pb

    model = pb.ModelProto()
    kinds = {specials.get("unk_token"): pb.ModelProto.SentencePiece.UNKNOWN}
    for piece, score in pieces:
        entry = model.pieces.add()
        entry.piece, entry.score = piece, score
        entry.type = kinds.get(piece, pb.ModelProto.SentencePiece.NORMAL)
        if piece in specials.values() and piece not in kinds:
            entry.type = pb.ModelProto.SentencePiece.CONTROL
    ids = {p: i for i, (p, _) in enumerate(pieces)}
    spec = model.trainer_spec
    spec.model_type = pb.TrainerSpec.UNIGRAM
    spec.unk_id = ids[specials["unk_token"]]
    spec.bos_id = ids.get(specials.get("bos_token", ""), -1)
    spec.eos_id = ids.get(specials.get("eos_token", ""), -1)
    spec.pad_id = ids.get(specials.get("pad_token", ""), -1)
    model.normalizer_spec.name = "identity"
    model.normalizer_spec.add_dummy_prefix = True
    model.normalizer_spec.remove_extra_whitespaces = True
    model.normalizer_spec.escape_whitespaces = True
    return bytes(model.SerializeToString(deterministic=True))


def build_spm_tokenizer(model_type: str, out_dir: Path, model_max_length: int) -> Any:
    """The model type's slow tokenizer over a SentencePiece model of the zoo's Unigram pieces."""
    name = slow_tokenizer_name(model_type)
    layout = LAYOUTS.get(model_type)
    if name is None or layout is None:
        raise ValueError(
            f"no SentencePiece tokenizer layout for '{model_type}' (is sentencepiece installed?)"
        )
    cls = getattr(transformers, name)
    specials = special_tokens_of(cls)
    ordered = tuple(dict.fromkeys(specials.values()))
    vocab = json.loads(trained_json("unigram", ordered, specials.get("unk_token")))["model"]["vocab"]
    pieces = [(str(p), float(s)) for p, s in vocab]
    paths = [out_dir / name for name in layout.files]
    for path in paths:
        if path.suffix == ".json":
            text = json.dumps({p: i for i, (p, _) in enumerate(pieces)}, ensure_ascii=False, indent=2) + "\n"
            path.write_text(text, encoding="utf-8")
        else:
            path.write_bytes(_spm_model(pieces, specials))
    return cls(*(str(p) for p in paths), model_max_length=model_max_length, **layout.kwargs)
