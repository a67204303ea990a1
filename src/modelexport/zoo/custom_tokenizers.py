"""Tokenizers of model types the zoo's generic recipes cannot write as they are: slow-only classes with
their own vocabulary files (ESM, XLM, FlauBERT, VITS, Blenderbot-small), fast classes whose template
or files need more than a learnt backend (MarkupLM, Splinter, Blenderbot, Whisper, Perceiver).

Each builder writes the class's own files into the checkpoint directory and returns a :class:`Built`:
the tokenizer as ``AutoTokenizer`` loads it back, and the config and generation settings it implies
beyond the vocabulary size and the pad/bos/eos ids (ESM's mask id, XLM's indices, Whisper's
prompt tokens).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import transformers
from tokenizers import Tokenizer, processors

from .tokenizers import CORPUS, build_tokenizer, learn_merges, special_tokens_of, trained_json

MAX_LENGTH = 512


@dataclass
class Built:
    """A saved tokenizer, with the config and generation settings it implies."""

    tokenizer: Any
    config: dict[str, Any] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=dict)


Builder = Callable[[Any, Path], Built]


def _reloaded(tok: Any, out_dir: Path) -> Any:
    tok.save_pretrained(out_dir)
    return transformers.AutoTokenizer.from_pretrained(out_dir, local_files_only=True)


# ESM-2's 33 tokens: four specials, the amino-acid letters, gap symbols and the mask.
_ESM_VOCAB = (
    *("<cls>", "<pad>", "<eos>", "<unk>"),
    *"LAGVSERTIDPKQNFYMHWCXBUZO",
    *(".", "-", "<null_1>", "<mask>"),
)


def _esm(spec: Any, out_dir: Path) -> Built:
    """``EsmTokenizer``: one ``vocab.txt``; ESM configs name no mask or pad id by default."""
    (out_dir / "vocab.txt").write_text("\n".join(_ESM_VOCAB) + "\n", encoding="utf-8")
    tok = _reloaded(transformers.EsmTokenizer(str(out_dir / "vocab.txt"), model_max_length=1024), out_dir)
    return Built(tok, {"mask_token_id": tok.mask_token_id})


def _xlm_like(cls_name: str) -> Builder:
    """XLM / FlauBERT: slow-only BPE over ``vocab.json`` + ``merges.txt`` with ``</w>`` word ends (the
    zoo's CLIP-style recipe); their configs index specials by ``*_index`` as well as ``*_token_id``."""

    def build(spec: Any, out_dir: Path) -> Built:
        specials = ("<s>", "</s>", "<pad>", "<unk>", *(f"<special{i}>" for i in range(10)))
        model = json.loads(trained_json("clip", specials, "<unk>"))["model"]
        merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
        (out_dir / "vocab.json").write_text(json.dumps(model["vocab"], ensure_ascii=False), encoding="utf-8")
        (out_dir / "merges.txt").write_text("\n".join(merges) + "\n", encoding="utf-8")
        cls = getattr(transformers, cls_name)
        tok = _reloaded(
            cls(str(out_dir / "vocab.json"), str(out_dir / "merges.txt"), model_max_length=512), out_dir
        )
        indices = {
            "pad_index": tok.pad_token_id,
            "bos_index": tok.bos_token_id,
            "eos_index": tok.convert_tokens_to_ids("</s>"),
            "unk_index": tok.unk_token_id,
            "mask_index": tok.mask_token_id,
            "mask_token_id": tok.mask_token_id,
        }
        return Built(tok, indices)

    return build


# HTML tags a MarkupLM tokenizer knows; their pad id (len + 1) must be the config's tag_pad_id.
_TAGS = ("html", "head", "title", "body", "div", "p", "span", "a", "ul", "li", "table", "tr", "td", "b")


def _markuplm(spec: Any, out_dir: Path) -> Built:
    """``MarkupLMTokenizerFast`` over the zoo's byte-level BPE, with a tag table and xpath widths that
    match the config (tag_pad_id, subs_pad_id, max_depth). Real checkpoints also ship an HTML feature
    extractor (it needs BeautifulSoup); exports take the tokenizer's ids and xpaths only."""
    backend = build_tokenizer("bpe", "roberta", MAX_LENGTH).backend_tokenizer
    config = spec.config
    tok = transformers.MarkupLMTokenizerFast(
        vocab_file=None,
        merges_file=None,
        tags_dict={tag: i for i, tag in enumerate(_TAGS)},
        tokenizer_object=backend,
        max_depth=config["max_depth"],
        max_width=config["subs_pad_id"] - 1,
        pad_width=config["subs_pad_id"],
        model_max_length=MAX_LENGTH,
    )
    tok = _reloaded(tok, out_dir)
    if tok.pad_tag_id != config["tag_pad_id"]:
        raise ValueError(f"markuplm config tag_pad_id must be {tok.pad_tag_id} for {len(_TAGS)} tags")
    return Built(tok)


def _perceiver(spec: Any, out_dir: Path) -> Built:
    """``PerceiverTokenizer``: raw UTF-8 bytes after six special tokens; it has no vocabulary file."""
    return Built(_reloaded(transformers.PerceiverTokenizer(model_max_length=MAX_LENGTH), out_dir))


def _splinter(spec: Any, out_dir: Path) -> Built:
    """``SplinterTokenizerFast`` with its ``[QUESTION]`` token, whose id the QA head looks for.

    transformers 4.57's class cannot load a directory it saved with ``additional_special_tokens`` in its
    files (its ``__init__`` passes them itself as well), so they are left out of the saved files.
    """
    cls = transformers.SplinterTokenizerFast
    specials = special_tokens_of(cls)
    ordered = (*dict.fromkeys(specials.values()), "[QUESTION]")
    backend = Tokenizer.from_str(trained_json("wordpiece", ordered, specials.get("unk_token")))
    tok = cls(tokenizer_object=backend, model_max_length=MAX_LENGTH)
    cls_id, sep_id = tok.convert_tokens_to_ids(tok.cls_token), tok.convert_tokens_to_ids(tok.sep_token)
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{tok.cls_token} $A {tok.sep_token}",
        pair=f"{tok.cls_token} $A {tok.sep_token} $B:1 {tok.sep_token}:1",
        special_tokens=[(tok.cls_token, cls_id), (tok.sep_token, sep_id)],
    )
    tok.save_pretrained(out_dir)
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = out_dir / name
        if path.is_file():
            saved = json.loads(path.read_text(encoding="utf-8"))
            saved.pop("additional_special_tokens", None)
            path.write_text(json.dumps(saved, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tok = transformers.AutoTokenizer.from_pretrained(out_dir, local_files_only=True)
    return Built(tok, {"question_token_id": tok.convert_tokens_to_ids("[QUESTION]")})


def _blenderbot(spec: Any, out_dir: Path) -> Built:
    """``BlenderbotTokenizerFast``: byte-level BPE whose template ends a single text and a pair alike
    with ``</s>`` (the class's pair layout drops nothing of B here; the zoo's generic template builder
    refuses a pair template that does not use B)."""
    cls = transformers.BlenderbotTokenizerFast
    specials = special_tokens_of(cls)
    ordered = tuple(dict.fromkeys(specials.values()))
    backend = Tokenizer.from_str(trained_json("bpe", ordered, specials.get("unk_token")))
    tok = cls(tokenizer_object=backend, model_max_length=MAX_LENGTH)
    eos = tok.eos_token
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A:0 {eos}:0", pair=f"$A:0 $B:0 {eos}:0", special_tokens=[(eos, tok.eos_token_id)]
    )
    tok.save_pretrained(out_dir)
    return Built(transformers.AutoTokenizer.from_pretrained(out_dir, local_files_only=True))


_BLENDERBOT_SMALL_SPECIALS = ("__null__", "__start__", "__end__", "__unk__")


def _blenderbot_small(spec: Any, out_dir: Path) -> Built:
    """``BlenderbotSmallTokenizer`` (slow only): lower-cased BPE with ``@@`` continuations over
    ``vocab.json`` + ``merges.txt``. Its vocabulary also holds every merge product and character with
    ``</w>`` (what a byte-level BPE over the same files would emit)."""
    words: Counter[str] = Counter()
    for line in CORPUS:
        text = re.sub(r"([.,!?()])", r" \1", line)
        text = re.sub(r"(')", r" \1 ", text)
        words.update(w.lower() for w in re.sub(r"\s{2,}", " ", text).split(" ") if w)
    merges = learn_merges(words, lambda w: (*w[:-1], w[-1] + "</w>"), lambda a, b: a + b, 150)
    (out_dir / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8"
    )
    vocab_file = out_dir / "vocab.json"
    vocab_file.write_text(
        json.dumps({s: i for i, s in enumerate(_BLENDERBOT_SMALL_SPECIALS)}), encoding="utf-8"
    )
    probe = transformers.BlenderbotSmallTokenizer(str(vocab_file), str(out_dir / "merges.txt"))
    chars = sorted({c for w in words for c in w})
    pieces = {p for line in CORPUS for p in probe.tokenize(line)}
    pieces |= {*chars, *(c + "@@" for c in chars), *(c + "</w>" for c in chars), *(a + b for a, b in merges)}
    ordered = [*_BLENDERBOT_SMALL_SPECIALS, *sorted(pieces)]
    vocab_file.write_text(
        json.dumps({s: i for i, s in enumerate(ordered)}, ensure_ascii=False), encoding="utf-8"
    )
    tok = transformers.BlenderbotSmallTokenizer(
        str(vocab_file), str(out_dir / "merges.txt"), model_max_length=MAX_LENGTH
    )
    tok.save_pretrained(out_dir)
    # Not reloaded with AutoTokenizer: transformers 4.57 cannot convert this slow class to its fast one
    # (checkpoints of it load with use_fast=False).
    return Built(tok)


_WHISPER_LANGUAGES = ("en", "fr", "de")


def _whisper(spec: Any, out_dir: Path) -> Built:
    """``WhisperTokenizerFast`` over the zoo's byte-level BPE with Whisper's special tokens after it,
    and the generation settings Whisper's ``generate`` reads (prompt tokens, languages, tasks)."""
    eot = "<|endoftext|>"
    backend = Tokenizer.from_str(trained_json("bpe", (), None))
    backend.add_special_tokens(
        [
            eot,
            "<|startoftranscript|>",
            *(f"<|{lang}|>" for lang in _WHISPER_LANGUAGES),
            *("<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>"),
            "<|notimestamps|>",
        ]
    )
    backend.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(4)])
    tok = transformers.WhisperTokenizerFast(
        tokenizer_object=backend,
        model_max_length=448,
        unk_token=eot,
        bos_token=eot,
        eos_token=eot,
        pad_token=eot,
    )
    tok.set_prefix_tokens(language=None, task=None, predict_timestamps=False)
    tok.save_pretrained(out_dir)
    tok = transformers.AutoTokenizer.from_pretrained(out_dir, local_files_only=True)
    ids = tok.convert_tokens_to_ids
    start = ids("<|startoftranscript|>")
    generation = {
        "decoder_start_token_id": start,
        "no_timestamps_token_id": ids("<|notimestamps|>"),
        "prev_sot_token_id": ids("<|startofprev|>"),
        "is_multilingual": True,
        "lang_to_id": {f"<|{lang}|>": ids(f"<|{lang}|>") for lang in _WHISPER_LANGUAGES},
        "task_to_id": {"transcribe": ids("<|transcribe|>"), "translate": ids("<|translate|>")},
        "suppress_tokens": [],
        "begin_suppress_tokens": [ids(eot)],
        "max_initial_timestamp_index": 50,
    }
    return Built(tok, {"decoder_start_token_id": start}, generation)


# VITS's character vocabulary: padding, unknown, then the characters of the zoo's corpus.
_VITS_CHARACTERS = " abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'-"


def _vits(spec: Any, out_dir: Path) -> Built:
    """``VitsTokenizer`` (slow only): a character ``vocab.json``, no phonemizer (MMS-TTS checkpoints)."""
    vocab = {"<pad>": 0, "<unk>": 1, **{c: i + 2 for i, c in enumerate(_VITS_CHARACTERS)}}
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tok = transformers.VitsTokenizer(
        str(out_dir / "vocab.json"), phonemize=False, add_blank=True, normalize=True
    )
    return Built(_reloaded(tok, out_dir))


BUILDERS: Mapping[str, Builder] = {
    "esm": _esm,
    "xlm": _xlm_like("XLMTokenizer"),
    "flaubert": _xlm_like("FlaubertTokenizer"),
    "markuplm": _markuplm,
    "perceiver": _perceiver,
    "splinter": _splinter,
    "blenderbot": _blenderbot,
    "blenderbot-small": _blenderbot_small,
    "whisper": _whisper,
    "vits": _vits,
}
