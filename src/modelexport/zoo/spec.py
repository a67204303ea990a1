"""``ArchSpec``: one architecture of the tiny-model zoo, as data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from ..errors import ModelExportError, UserInputError

Modality = Literal["text", "vision", "multimodal", "audio", "text-generation"]
Preprocessor = Literal["wordpiece", "bpe", "unigram", "sentencepiece", "clip", "image", "audio"]


class ZooError(ModelExportError):
    """A zoo model could not be built."""

    stage = "zoo"


@dataclass(frozen=True)
class ArchSpec:
    """A tiny, offline-buildable checkpoint of one architecture, for every task Optimum exports it for.

    ``config`` holds the tiny config kwargs; vocabulary size and special-token ids come from the
    tokenizer the zoo writes, labels from the task. ``tasks[0]`` is the default task.
    """

    name: str
    model_type: str
    modality: Modality
    tasks: tuple[str, ...]
    config: Mapping[str, Any] = field(hash=False)
    preprocessor: Preprocessor
    # Side of the square images the image processor produces (vision and multimodal only).
    image_size: int | None = None
    # Special tokens for a model type whose tokenizer class declares none (transformers 5 loads llama,
    # mistral and bloom checkpoints with the generic TokenizersBackend); the class's own win otherwise.
    special_tokens: Mapping[str, str] = field(default_factory=dict, hash=False)
    notes: str = ""

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError(f"zoo arch {self.name!r} lists no task")
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))
        object.__setattr__(self, "special_tokens", MappingProxyType(dict(self.special_tokens)))

    def resolve_task(self, task: str | None) -> str:
        """``task``, or the default task; a one-line error when the arch does not support it."""
        if task is None:
            return self.tasks[0]
        if task not in self.tasks:
            raise UserInputError(
                f"zoo arch '{self.name}' has no task '{task}'.", hint=f"use one of: {', '.join(self.tasks)}."
            )
        return task
