"""Writes confined to one directory, for library code that names files after the model's own files.

``save_pretrained`` of a tokenizer or processor names files after entries of the files it read: a
chat template named ``../../x`` in ``tokenizer_config.json`` is written to
``<dir>/additional_chat_templates/../../x.jinja``, one named ``/abs/y`` to ``/abs/y.jinja``. So a model
directory could make an export write anywhere the user can. While :func:`confined_writes` is active,
every Python-level creation of a file or directory outside the directory (``open`` for writing,
``os.open`` with a write flag, ``mkdir``, ``rename``/``replace``, links) raises
:class:`~modelexport.errors.UnsafePathError` before anything is written.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import UnsafePathError

_WRITE_MODES = frozenset("wax+")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _inside(path: Any, root: str) -> bool:
    resolved = os.path.realpath(os.path.join(os.getcwd(), os.fsdecode(path)))
    return resolved == root or resolved.startswith(root + os.sep)


def confined_check(root: Path, what: str) -> Callable[[Any], None]:
    """A function that raises :class:`UnsafePathError` for a path outside ``root``."""
    real_root = os.path.realpath(root)

    def check(path: Any) -> None:
        if isinstance(path, int) or _inside(path, real_root):
            return
        shown = os.path.normpath(os.path.join(os.getcwd(), os.fsdecode(path)))
        raise UnsafePathError(
            f"refused to write '{shown}' while saving {what}: it lies outside the output directory; "
            "the path comes from the model's own files (e.g. a chat template's name in "
            "tokenizer_config.json). Nothing was written.",
            hint="remove or rename that entry in the model's files.",
        )

    return check


@contextlib.contextmanager
def confined_writes(root: Path, what: str = "the model's files") -> Iterator[None]:
    """While active, creating files or directories outside ``root`` raises :class:`UnsafePathError`."""
    check = confined_check(root, what)
    originals: dict[tuple[Any, str], Any] = {}

    def patch(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        originals[(owner, name)] = original
        setattr(owner, name, make(original))

    def opener(original: Any) -> Any:
        def guarded(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if _WRITE_MODES & set(mode):
                check(file)
            return original(file, mode, *args, **kwargs)

        return guarded

    def os_opener(original: Any) -> Any:
        def guarded(path: Any, flags: int, *args: Any, **kwargs: Any) -> Any:
            if flags & _WRITE_FLAGS and kwargs.get("dir_fd") is None:
                check(path)
            return original(path, flags, *args, **kwargs)

        return guarded

    def one_path(original: Any) -> Any:
        def guarded(path: Any, *args: Any, **kwargs: Any) -> Any:
            check(path)
            return original(path, *args, **kwargs)

        return guarded

    def two_paths(original: Any) -> Any:
        def guarded(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
            check(src)
            check(dst)
            return original(src, dst, *args, **kwargs)

        return guarded

    patch(builtins, "open", opener)
    patch(io, "open", opener)  # pathlib's Path.open and write_text call io.open
    patch(os, "open", os_opener)
    patch(os, "mkdir", one_path)
    for name in ("replace", "rename", "link", "symlink"):
        patch(os, name, two_paths)
    try:
        yield
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)
