"""``cached_build``: each (arch, task) is built once per zoo source + library versions, atomically."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

from .build import build, get_spec
from .spec import ZooError

ENV_VAR = "MODELEXPORT_ZOO_CACHE"
# Libraries whose version changes the bytes a build writes.
LIBRARIES = ("torch", "transformers", "tokenizers")


def cache_root() -> Path:
    """``$MODELEXPORT_ZOO_CACHE``, else ``~/.cache/modelexport/zoo``."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path.home() / ".cache" / "modelexport" / "zoo"


@lru_cache(maxsize=1)
def cache_key() -> str:
    """A hash of the zoo package's source and the torch/transformers/tokenizers versions."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for lib in LIBRARIES:
        digest.update(f"{lib}=={version(lib)}\0".encode())
    return digest.hexdigest()[:16]


def cached_build(name: str, task: str | None = None) -> Path:
    """The checkpoint of (``name``, ``task``) in the cache, built on first use.

    It is built in a temporary sibling and renamed into place, so concurrent processes (pytest-xdist
    workers) never see a half-written directory; whoever renames second discards its copy.
    """
    task = get_spec(name).resolve_task(task, building=True)
    parent = cache_root() / cache_key()
    target = parent / f"{name}-{task}"
    if target.is_dir():
        return target
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-{task}.", dir=parent))
    try:
        build(name, tmp, task)
        tmp.chmod(0o755)
        os.replace(tmp, target)
    except OSError as e:
        if not target.is_dir():  # not "another process finished first": a real failure
            raise ZooError(f"could not store zoo model '{name}' ({task}) in {target}: {e}") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
