"""SentencePiece tokenizers for model types whose only tokenizer class is the slow, SentencePiece one
(Marian: ``MarianTokenizer`` reads ``source.spm``, ``target.spm`` and ``vocab.json``).

The pieces and scores are the zoo's own Unigram recipe (:mod:`.tokenizers`), written as a SentencePiece
model proto: no SentencePiece training, so the bytes are the same on every run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import transformers

from .compat import slow_tokenizer_name
from .tokenizers import special_tokens_of, trained_json


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
    if name is None:
        raise ValueError(f"no SentencePiece tokenizer class for '{model_type}' (is sentencepiece installed?)")
    cls = getattr(transformers, name)
    specials = special_tokens_of(cls)
    ordered = tuple(dict.fromkeys(specials.values()))
    vocab = json.loads(trained_json("unigram", ordered, specials.get("unk_token")))["model"]["vocab"]
    pieces = [(str(p), float(s)) for p, s in vocab]
    spm_file, vocab_file = out_dir / "source.spm", out_dir / "vocab.json"
    spm_file.write_bytes(_spm_model(pieces, specials))
    vocab_file.write_text(
        json.dumps({p: i for i, (p, _) in enumerate(pieces)}, ensure_ascii=False, indent=2) + "\n"
    )
    return cls(str(spm_file), str(spm_file), str(vocab_file), model_max_length=model_max_length)
