"""``ArchSpec``: one architecture of the tiny-model zoo, as data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from ..errors import ModelExportError, UserInputError

Modality = Literal[
    "text", "vision", "multimodal", "audio", "text-generation", "time-series", "reinforcement-learning"
]


class ZooError(ModelExportError):
    """A zoo model could not be built."""

    stage = "zoo"


# The special tokens of the tokenizer classes transformers 4.x uses for these model types, for where
# transformers 5 loads them with its generic class, which declares none (ArchSpec.special_tokens).
LLAMA_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
GPT2_SPECIALS = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
T5_SPECIALS = {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"}
PEGASUS_SPECIALS = {**T5_SPECIALS, "mask_token": "<mask_2>"}
XLM_R_SPECIALS = {
    "pad_token": "<pad>",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "cls_token": "<s>",
    "sep_token": "</s>",
    "mask_token": "<mask>",
}
ALBERT_SPECIALS = {
    **XLM_R_SPECIALS,
    "bos_token": "[CLS]",
    "eos_token": "[SEP]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}


@dataclass(frozen=True)
class ArchSpec:
    """A tiny, offline-buildable checkpoint of one architecture, for every task Optimum exports it for.

    ``config`` holds the tiny config kwargs; vocabulary size and special-token ids come from the
    tokenizer the zoo writes, labels from the task. ``tasks[0]`` is the default task. ``preprocessor``
    names a kind of :data:`modelexport.zoo.processors.KINDS` (what files the checkpoint ships).
    """

    name: str
    model_type: str
    modality: Modality
    tasks: tuple[str, ...]
    config: Mapping[str, Any] = field(hash=False)
    preprocessor: str
    # Side of the square images the image processor produces (vision and multimodal only).
    image_size: int | None = None
    # Special tokens for a model type whose tokenizer class declares none (transformers 5 loads llama,
    # mistral and bloom checkpoints with the generic TokenizersBackend); the class's own win otherwise.
    special_tokens: Mapping[str, str] = field(default_factory=dict, hash=False)
    notes: str = ""
    # Whether Optimum's ONNX exporter registers the model type (the matrix lists the others apart).
    optimum: bool = True
    # Tasks Optimum exports the type for, with a transformers head, whose layout modelexport does not
    # export yet: listed, never silently dropped, and not built or run.
    pending: tuple[str, ...] = ()
    # The model type whose tokenizer class the checkpoint uses, where the type has none of its own
    # (granite checkpoints ship GPT-2's).
    tokenizer_type: str | None = None
    # The image processor or feature extractor class, where the type's auto mapping names none (or not
    # the one checkpoints ship), and settings it needs for the tiny config (spectrogram sizes, ...).
    processor_class: str | None = None
    processor_kwargs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # Labels of a labelling head (classification, detection, segmentation); 0 keeps the config's own.
    num_labels: int = 3
    # Sub-configs that take the tokenizer's vocabulary size and token ids ("" is the top level); by
    # default ``text_config`` where the config has one, else the top level.
    token_ids_into: tuple[str, ...] = ()
    # BatchNorm weights drawn with the config's initializer_range, as transformers >= 4.5x's
    # _init_weights does, where the installed one leaves them at 1 (4.48's MobileViT, EfficientNet):
    # with convolutions at 0.4-0.5 and identity norms, 4.48's zoo models reached activations of 1e5.
    batchnorm_init: bool = False

    def __post_init__(self) -> None:
        if not self.tasks and not self.pending:
            raise ValueError(f"zoo arch {self.name!r} lists no task")
        if set(self.tasks) & set(self.pending):
            raise ValueError(f"zoo arch {self.name!r} lists a task as both exported and pending")
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))
        object.__setattr__(self, "special_tokens", MappingProxyType(dict(self.special_tokens)))
        object.__setattr__(self, "processor_kwargs", MappingProxyType(dict(self.processor_kwargs)))

    @property
    def all_tasks(self) -> tuple[str, ...]:
        """Every task Optimum exports this type for: exported ones first, then pending ones."""
        return (*self.tasks, *self.pending)

    def resolve_task(self, task: str | None, *, building: bool = False) -> str:
        """``task``, or the default task; a one-line error when the arch does not support it. A
        pending task is refused unless ``building`` (its checkpoint builds; it does not export yet)."""
        if task is None:
            return self.all_tasks[0]
        if task in self.pending and not building:
            raise UserInputError(
                f"zoo arch '{self.name}' lists task '{task}' as pending: modelexport cannot export it yet.",
                hint=f"use one of: {', '.join(self.tasks)}.",
            )
        if task not in self.all_tasks:
            raise UserInputError(
                f"zoo arch '{self.name}' has no task '{task}'.",
                hint=f"use one of: {', '.join(self.all_tasks)}.",
            )
        return task
