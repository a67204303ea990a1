"""The output directory, written atomically: built in a sibling, swapped into place under a lock.

An export builds its files in a temporary sibling ``.<name>.tmp-<pid>-<random>`` and, once every
stage succeeded, swaps it into place while holding an exclusive lock on the parent directory: two
exports to one output take turns, and the previous output is moved aside only for as long as the
swap takes. A failed, interrupted (SIGINT) or terminated (SIGTERM) export removes its sibling. One
killed outright (SIGKILL) cannot; the next export to the same output removes what it left (its
process is gone), and puts back a previous output it had moved aside.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from .errors import PackageError, Terminated, UserInputError

_TMP, _OLD = "tmp", "old"


def check_output_dir(output_dir: Path, *, force: bool) -> None:
    """Refuse an existing file or a non-empty directory unless ``force``."""
    if output_dir.exists() and not output_dir.is_dir():
        raise UserInputError(
            f"output '{output_dir}' exists and is a file.", hint="choose a directory path for the export."
        )
    if output_dir.is_dir() and any(output_dir.iterdir()) and not force:
        raise UserInputError(
            f"output directory '{output_dir}' exists and is not empty.",
            hint="choose another path, or pass --force to replace it.",
        )


def check_not_source(output_dir: Path, source_dir: Path) -> None:
    """Refuse an output that is the model directory, lies inside it, or contains it: replacing it
    (``--force``) would delete the model, and the model's own files are never written to."""
    out, src = output_dir.resolve(), source_dir.resolve()
    if out == src:
        where = "is the model directory itself"
    elif src in out.parents:
        where = f"lies inside the model directory '{src}'"
    elif out in src.parents:
        where = f"contains the model directory '{src}' (replacing it would delete the model)"
    else:
        return
    raise UserInputError(
        f"output '{out}' {where}.", hint="choose an output directory outside the model's directory."
    )


def _sibling_pattern(output_dir: Path) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(output_dir.name)}\.({_TMP}|{_OLD})-(\d+)-\w+$")


def _new_sibling(output_dir: Path, kind: str) -> Path:
    prefix = f".{output_dir.name}.{kind}-{os.getpid()}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=output_dir.parent))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@contextlib.contextmanager
def _parent_lock(parent: Path) -> Iterator[None]:
    """An exclusive lock on ``parent`` (no lock file: the directory itself is locked)."""
    try:
        fd = os.open(parent, os.O_RDONLY)
    except OSError:  # cannot open the parent for reading: go on unlocked
        yield
        return
    try:
        with contextlib.suppress(OSError):  # a file system without flock: unlocked
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _clean_stale(output_dir: Path) -> None:
    """Remove what killed exports to ``output_dir`` left; restore a previous output they moved aside."""
    pattern = _sibling_pattern(output_dir)
    stale = []
    for entry in output_dir.parent.iterdir():
        match = pattern.match(entry.name)
        if match and entry.is_dir() and not entry.is_symlink() and not _alive(int(match.group(2))):
            stale.append((match.group(1), entry))
    for kind, entry in sorted(stale, key=lambda x: x[0] != _OLD):  # restore first, then remove
        if kind == _OLD and not output_dir.exists():
            os.replace(entry, output_dir)
        else:
            shutil.rmtree(entry, ignore_errors=True)


def _new_dir_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


def _swap(staging: Path, output_dir: Path, *, force: bool) -> None:
    """Move ``staging`` into place; the previous output (``force``) is removed only once it is."""
    with _parent_lock(output_dir.parent):
        check_output_dir(output_dir, force=force)  # again: another export may have finished meanwhile
        exists = output_dir.is_dir()
        os.chmod(staging, stat.S_IMODE(output_dir.stat().st_mode) if exists else _new_dir_mode())
        backup: Path | None = None
        if exists:
            backup = _new_sibling(output_dir, _OLD)
            backup.rmdir()
            os.replace(output_dir, backup)
        try:
            os.replace(staging, output_dir)
        except OSError as e:
            if backup is not None:
                os.replace(backup, output_dir)
            raise PackageError(f"cannot move the export into '{output_dir}': {e}.") from e
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While active, SIGTERM raises :class:`Terminated` (so the staging directory is removed), where
    this is the main thread and nobody else handles SIGTERM."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def staging_dir(output_dir: Path, *, force: bool) -> Iterator[Path]:
    """Yield a new temporary sibling of ``output_dir``; swap it into place if the block succeeds,
    remove it if not (an exception, SIGINT or SIGTERM)."""
    check_output_dir(output_dir, force=force)
    parent = output_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with _parent_lock(parent):
            _clean_stale(output_dir)
        staging = _new_sibling(output_dir, _TMP)
    except OSError as e:
        raise UserInputError(
            f"cannot write in '{parent}': {e.strerror or e}.",
            hint="choose an output directory you can write to.",
        ) from e
    try:
        with _sigterm_raises():
            yield staging
            _swap(staging, output_dir, force=force)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
