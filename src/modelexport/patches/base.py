"""What a patch is: a traceable stand-in for model code an exporter cannot follow, declared as data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch

from ..common import BackendName

# Activates the patch for one capture; appends what the traced code actually ran of it to the list.
Activate = Callable[[torch.nn.Module, list[str]], AbstractContextManager[None]]


def record(applied: list[str], note: str) -> None:
    """Add ``note`` to what an export's patches record, once (``model_patches``)."""
    if note not in applied:
        applied.append(note)


@dataclass(frozen=True)
class Patch:
    """One replacement: what it replaces, where it is used, and how it is switched on.

    ``scope``: the layouts (``single``, ``decoder``, ``seq2seq``) it is used for, per backend.
    ``applies``: whether the model (the Hugging Face model, not the export wrapper) needs it, for
    replacements bound to a model family or a transformers version; the others check the installed
    transformers themselves and do nothing where there is nothing to replace.
    ``versions``: the transformers versions whose code it replaces, for the reader.
    """

    name: str
    replaces: str
    versions: str
    scope: Mapping[BackendName, frozenset[str]]
    activate: Activate
    applies: Callable[[torch.nn.Module], bool] = lambda model: True
