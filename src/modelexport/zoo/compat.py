"""The one place the zoo reads transformers' auto-class name mappings, whose shapes differ by version.

transformers 4.x maps a model type to ``(slow, fast)`` tokenizer names and to ``(slow, fast)`` image
processor names. transformers 5 maps it to one tokenizers-backed class name (absent, or the generic
``TokenizersBackend``, for model types with no class of their own: llama, bloom, mistral) and to
``{"pil": ..., "torchvision": ...}`` image processor names. Everything else in the zoo asks here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import transformers
from packaging.version import Version
from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES
from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING_NAMES

TRANSFORMERS_VERSION = Version(transformers.__version__)
# transformers 5's class for "a tokenizer.json and nothing model-specific" (4.x: PreTrainedTokenizerFast).
GENERIC_TOKENIZER = "TokenizersBackend" if TRANSFORMERS_VERSION.major >= 5 else "PreTrainedTokenizerFast"


def _tokenizer_names(model_type: str) -> tuple[str | None, str | None]:
    """(SentencePiece/slow class, tokenizers-backed class) names for ``model_type``."""
    entry: Any = TOKENIZER_MAPPING_NAMES.get(model_type)
    if isinstance(entry, tuple):  # transformers 4.x: (slow, fast)
        return entry[0], entry[1]
    if entry is None:  # transformers 5 with no class of its own: AutoTokenizer falls back to the generic one
        return None, GENERIC_TOKENIZER
    cls = getattr(transformers, entry, None)
    # transformers 5: one name; a class not backed by ``tokenizers`` (Marian: PythonBackend over
    # SentencePiece) is the "slow" one.
    if cls is not None and not any(base.__name__ == "TokenizersBackend" for base in cls.__mro__):
        return entry, None
    return None, entry


def fast_tokenizer_name(model_type: str) -> str | None:
    """The tokenizers-backed class AutoTokenizer loads for ``model_type`` (None: only a slow one exists)."""
    return _tokenizer_names(model_type)[1]


def slow_tokenizer_name(model_type: str) -> str | None:
    """The SentencePiece (slow) tokenizer class for ``model_type``, if transformers has one."""
    return _tokenizer_names(model_type)[0]


def tokenizer_name(model_type: str) -> str:
    """The class AutoTokenizer gives back for a zoo checkpoint: the fast one, else the slow one.

    Resolved, since transformers 5 keeps some names as aliases (``MobileBertTokenizer`` is ``BertTokenizer``).
    """
    slow, fast = _tokenizer_names(model_type)
    name = fast or slow
    if name is None:
        raise ValueError(f"transformers has no tokenizer class for model type '{model_type}'")
    return str(getattr(transformers, name).__name__)


def image_processor_name(model_type: str) -> str:
    """The model type's PIL-based image processor (4.x: the slow class; 5.x: the ``pil`` backend)."""
    entry: Any = IMAGE_PROCESSOR_MAPPING_NAMES.get(model_type)
    name = entry.get("pil") if isinstance(entry, dict) else entry[0] if isinstance(entry, tuple) else entry
    if name is None:
        raise ValueError(f"transformers has no PIL image processor class for model type '{model_type}'")
    return str(name)


def resized(value: Any, side: int | None) -> Any:
    """An image processor's ``size``/``crop_size`` with every key it sets made ``side`` (a longest-edge
    cap twice that); None if it has none.

    4.x keeps a plain dict; 5.x a ``SizeDict`` dataclass whose unset fields are None.
    """
    if isinstance(value, dict):
        keys = list(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        keys = [f.name for f in dataclasses.fields(value) if getattr(value, f.name) is not None]
    else:
        return None
    sides = dict.fromkeys(keys, side)
    if side is not None and "shortest_edge" in sides and "longest_edge" in sides:
        # The longest edge's cap must exceed the shortest edge's target (MaskFormer refuses them equal),
        # as in real checkpoints (800 and 1333): a wider image keeps its aspect ratio up to 2:1.
        sides["longest_edge"] = 2 * side
    return sides if isinstance(value, dict) else dataclasses.replace(value, **sides)


# transformers 5 tokenizer classes install their own special-token post-processor in ``__init__`` and
# no longer have ``build_inputs_with_special_tokens``; 4.x fast classes need the zoo to write one.
CLASS_WRITES_POST_PROCESSOR = TRANSFORMERS_VERSION.major >= 5


def with_special_tokens(tok: Any, text: str | list[str], **kwargs: Any) -> list[int]:
    """The ids of ``text`` laid out with the tokenizer's special tokens by the class's own definition of
    that layout: ``build_inputs_with_special_tokens`` where the class has one (4.x, and 5.x's Python
    tokenizers such as Marian), else (5.x tokenizers-backed classes) the post-processor its ``__init__`` set.
    ``text`` is a list of words (with their ``boxes`` or ``xpaths`` in ``kwargs``) for word-level classes.
    """
    if hasattr(tok, "build_inputs_with_special_tokens"):
        plain = tok(text, add_special_tokens=False, **kwargs)["input_ids"]
        return list(tok.build_inputs_with_special_tokens(plain))
    backend = tok.backend_tokenizer
    encoding = backend.encode(text, add_special_tokens=False, is_pretokenized=not isinstance(text, str))
    return list(backend.post_processor.process(encoding).ids) if backend.post_processor else encoding.ids
