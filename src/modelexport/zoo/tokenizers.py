"""Tiny tokenizers learnt offline with the ``tokenizers`` library, wrapped in the model's own fast class.

Special tokens and their template (``[CLS] $A [SEP]``, ``<s> $A </s></s> $B </s>``, ``$A </s>``…)
are read from the model's tokenizer class itself, so no architecture is named here.
"""

from __future__ import annotations

import inspect
import itertools
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import transformers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from .compat import CLASS_WRITES_POST_PROCESSOR, GENERIC_TOKENIZER, fast_tokenizer_name

# A small corpus: enough merges/pieces for realistic subwords, small enough to train in milliseconds.
CORPUS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "Hello world! This is a tiny tokenizer for offline tests.",
    "Models are exported to ONNX and compared with PyTorch at a new sequence length.",
    "Every node is tagged with the module that produced it: encoder, layer, attention, output.",
    "A photo of a cat, a photo of a dog, a picture of a bird sitting on a branch.",
    "Question: where does the river flow? Answer: the river flows into the sea.",
    "Tokenizers split words into pieces; pieces are mapped to ids and back to text.",
    "Numbers like 0 1 2 3 4 5 6 7 8 9 10 42 100 and 2026 appear in text too.",
    "Café, naïve, résumé, Zürich, São Paulo and Kraków test accents and unicode.",
    "She sells sea shells by the sea shore; the shells she sells are surely sea shells.",
    "Transformers attend to every token: queries, keys and values in several heads.",
    "Short text. Longer text with more words to merge into frequent subword units.",
)

# Ids are given in this order, so pad is 0 wherever the class has a pad token (as in most checkpoints).
_SPECIAL_ORDER = ("pad_token", "bos_token", "eos_token", "unk_token", "cls_token", "sep_token", "mask_token")
_CLIP_PATTERN = r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
_MERGES = 150


def _words(tok: Tokenizer) -> Counter[str]:
    """Corpus words as the tokenizer's own normalizer and pre-tokenizer see them."""
    words: Counter[str] = Counter()
    for line in CORPUS:
        text = tok.normalizer.normalize_str(line) if tok.normalizer else line
        words.update(w for w, _ in tok.pre_tokenizer.pre_tokenize_str(text))
    return words


def learn_merges(
    words: Counter[str], split: Callable[[str], tuple[str, ...]], join: Callable[[str, str], str], n: int
) -> list[tuple[str, str]]:
    """Greedy BPE in plain Python: most frequent pair first, ties broken by the pair itself.

    The ``tokenizers`` trainers break ties by hash order, so their output changes from run to run.
    """
    seqs = {w: split(w) for w in sorted(words)}
    merges: list[tuple[str, str]] = []
    for _ in range(n):
        pairs: Counter[tuple[str, str]] = Counter()
        for w, seq in seqs.items():
            for pair in itertools.pairwise(seq):
                pairs[pair] += words[w]
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        for w, seq in seqs.items():
            out: list[str] = []
            i = 0
            while i < len(seq):
                if i + 1 < len(seq) and (seq[i], seq[i + 1]) == best:
                    out.append(join(*best))
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            seqs[w] = tuple(out)
    return merges


def _vocab(specials: list[str], pieces: Iterable[str]) -> dict[str, int]:
    return {p: i for i, p in enumerate(dict.fromkeys([*specials, *pieces]))}


def _wordpiece(specials: list[str], unk: str | None) -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token=unk or "[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = _words(tok)

    def join(a: str, b: str) -> str:
        return a + b.removeprefix("##")

    merges = learn_merges(words, lambda w: (w[0], *(f"##{c}" for c in w[1:])), join, _MERGES)
    chars = sorted({c for w in words for c in w})
    pieces = [*chars, *(f"##{c}" for c in chars), *(join(a, b) for a, b in merges)]
    tok.model = models.WordPiece(_vocab(specials, pieces), unk_token=unk or "[UNK]")
    tok.decoder = decoders.WordPiece()
    return tok


def _bpe(tok: Tokenizer, specials: list[str], unk: str | None, suffix: str = "") -> Tokenizer:
    """Byte-level BPE over every byte (no unknowns), CLIP-style when ``suffix`` is ``</w>``."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    merges = learn_merges(_words(tok), lambda w: (*w[:-1], w[-1] + suffix), lambda a, b: a + b, _MERGES)
    ends = [c + suffix for c in alphabet] if suffix else []
    vocab = _vocab(specials, [*alphabet, *ends, *(a + b for a, b in merges)])
    extra = (
        {"unk_token": unk, "end_of_word_suffix": suffix, "continuing_subword_prefix": ""} if suffix else {}
    )
    tok.model = models.BPE(vocab, merges, **extra)
    tok.decoder = decoders.ByteLevel()
    return tok


def _byte_bpe(specials: list[str], unk: str | None) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    return _bpe(tok, specials, unk)


def _clip_bpe(specials: list[str], unk: str | None) -> Tokenizer:
    """CLIP's layout: lower-cased, byte-level pieces with a ``</w>`` end-of-word suffix."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_CLIP_PATTERN), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    return _bpe(tok, specials, unk, suffix="</w>")


def _unigram(specials: list[str], unk: str | None) -> Tokenizer:
    """SentencePiece-style: NFKC, ``▁`` word boundaries, Unigram pieces scored by log frequency."""
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    words = _words(tok)
    merges = learn_merges(words, tuple, lambda a, b: a + b, _MERGES)
    pieces = [*sorted({c for w in words for c in w}), *(a + b for a, b in merges)]
    counts = {p: sum(n * w.count(p) for w, n in words.items()) for p in dict.fromkeys(pieces)}
    total = sum(counts.values())
    scored = [(s, 0.0) for s in specials] + [
        (p, round(math.log(max(c, 1) / total), 6)) for p, c in counts.items() if p not in specials
    ]
    unk_id = specials.index(unk) if unk in specials else None
    tok.model = models.Unigram(scored, unk_id=unk_id)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    return tok


RECIPES: dict[str, Callable[[list[str], str | None], Tokenizer]] = {
    "wordpiece": _wordpiece,
    "bpe": _byte_bpe,
    "clip": _clip_bpe,
    "unigram": _unigram,
}


def special_tokens_of(
    fast_cls: type[PreTrainedTokenizerBase], fallback: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The class's default special tokens (``__init__`` defaults), in id order, pad first.

    A generic class (transformers 5's ``TokenizersBackend``) declares none: then ``fallback`` (the
    spec's ``special_tokens``) names them.
    """
    params = inspect.signature(fast_cls.__init__).parameters
    found = {k: params[k].default for k in _SPECIAL_ORDER if k in params}
    own = {k: v for k, v in found.items() if isinstance(v, str)}
    return own or {k: fallback[k] for k in _SPECIAL_ORDER if fallback and k in fallback}


@cache
def trained_json(recipe: str, specials: tuple[str, ...], unk: str | None) -> str:
    """Learn once per (recipe, special tokens) in a process; the JSON is the deterministic artefact."""
    tok = RECIPES[recipe](list(specials), unk)
    for special in specials:
        tok.add_special_tokens([special])
    return tok.to_str()


def _template(fast: PreTrainedTokenizerBase) -> processors.TemplateProcessing:
    """The post-processor equivalent to the class's own ``build_inputs_with_special_tokens``."""
    a, b = -1, -2
    single = fast.build_inputs_with_special_tokens([a])
    pair = fast.build_inputs_with_special_tokens([a], [b])
    pair_types = fast.create_token_type_ids_from_sequences([a], [b])
    if len(pair_types) != len(pair):
        pair_types = [0] * len(pair)
    names = {a: "$A", b: "$B"}
    specials: dict[str, int] = {}

    def piece(i: int, type_id: int) -> str:
        if i not in names:
            specials[fast.convert_ids_to_tokens(i)] = i
        return f"{names.get(i) or fast.convert_ids_to_tokens(i)}:{type_id}"

    single_t = [piece(i, 0) for i in single]
    pair_t = [piece(i, t) for i, t in zip(pair, pair_types, strict=True)]
    return processors.TemplateProcessing(single=single_t, pair=pair_t, special_tokens=list(specials.items()))


def build_tokenizer(
    recipe: str, model_type: str, model_max_length: int, fallback_specials: Mapping[str, str] | None = None
) -> PreTrainedTokenizerFast:
    """Learn (or reuse) a tiny tokenizer of ``recipe`` inside the fast tokenizer class of ``model_type``."""
    fast_name = fast_tokenizer_name(model_type)
    if fast_name is None:
        raise ValueError(f"transformers has no fast tokenizer class for model type '{model_type}'")
    fast_cls = getattr(transformers, fast_name)
    specials = special_tokens_of(fast_cls, fallback_specials)
    unk = specials.get("unk_token")
    ordered = tuple(dict.fromkeys(specials.values()))
    backend = Tokenizer.from_str(trained_json(recipe, ordered, unk))
    extra: dict[str, Any] = (
        {"legacy": False} if "legacy" in inspect.signature(fast_cls.__init__).parameters else {}
    )
    # ``legacy`` only concerns conversion from a SentencePiece model; there is none here.
    if fast_cls.__name__ == GENERIC_TOKENIZER:  # no class defaults: name the special tokens
        extra.update(specials)
    try:
        fast = fast_cls(tokenizer_object=backend, model_max_length=model_max_length, **extra)
    except ValueError:
        if "vocab" not in inspect.signature(fast_cls.__init__).parameters:
            raise
        # transformers 5's PegasusTokenizer builds a blank vocabulary when given none and then cannot
        # find its unknown token in it: hand it the learned one (a Unigram's (piece, score) list).
        vocab = [tuple(entry) for entry in json.loads(backend.to_str())["model"]["vocab"]]
        fast = fast_cls(tokenizer_object=backend, model_max_length=model_max_length, vocab=vocab, **extra)
    if fast.pad_token is None:
        # Decoder-only checkpoints fine-tuned for classification pad with the end-of-sequence token.
        fast.pad_token = fast.eos_token
    if not CLASS_WRITES_POST_PROCESSOR:
        fast.backend_tokenizer.post_processor = _template(fast)
    return fast


def build_ctc_tokenizer(out_dir: Path) -> Any:
    """A character-level ``Wav2Vec2CTCTokenizer`` (``|`` is the word delimiter), as in ASR checkpoints."""
    chars = ["<pad>", "<s>", "</s>", "<unk>", "|", "'", *[chr(c) for c in range(ord("A"), ord("Z") + 1)]]
    vocab_file = out_dir / "vocab.json"
    vocab_file.write_text(json.dumps({c: i for i, c in enumerate(chars)}, indent=2) + "\n")
    return transformers.Wav2Vec2CTCTokenizer(str(vocab_file))
