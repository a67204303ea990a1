"""What a row records about where it ran: library versions, machine, commit and UTC time."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from ..render.schema import VERSION_KEYS, first_line

# Distribution names whose version stands for each key.
_DISTRIBUTIONS = {key: key for key in VERSION_KEYS if key != "python"}


@lru_cache(maxsize=1)
def _installed() -> tuple[tuple[str, str], ...]:
    """Read once per process (the matrix's fork server reads it before forking any cell)."""
    versions = {"python": platform.python_version()}
    for key, dist in _DISTRIBUTIONS.items():
        try:
            versions[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[key] = "not installed"
    return tuple(versions.items())


def package_versions(import_errors: dict[str, str] | None = None) -> dict[str, str]:
    """Installed version per key, ``not installed``, or the version and why it fails to import."""
    versions = dict(_installed())
    for key, error in (import_errors or {}).items():
        if versions.get(key, "not installed") != "not installed":
            versions[key] = f"{versions[key]} (import fails: {first_line(error, 160)})"
    return versions


@lru_cache(maxsize=1)
def _machine() -> tuple[tuple[str, Any], ...]:
    # platform.processor() runs `uname -p`: once per process, not once per cell.
    return (
        ("platform", f"{platform.system()} {platform.machine()}"),
        ("cpu_count", os.cpu_count()),
        ("processor", platform.processor() or platform.machine()),
    )


def machine_info() -> dict[str, Any]:
    """The machine in a few stable words."""
    return dict(_machine())


# What a matrix run writes into the checkout, relative to its top: results, the rendered files, and
# the expectations record (which decides no cell's outcome, only how a run judges it).
MATRIX_OUTPUTS = (
    "matrix/results",
    "matrix/expected",
    "matrix/RESULTS.md",
    "matrix/results.json",
    "matrix/index.html",
)


def current_commit(cwd: str | Path | None = None) -> str | None:
    """The commit under test: ``MODELEXPORT_COMMIT`` or ``GITHUB_SHA`` if set, else ``git``.

    A work tree whose tracked files differ from that commit gets ``+dirty``: the rows then do not
    describe the commit alone. The matrix's own outputs (:data:`MATRIX_OUTPUTS`) do not count: one
    env's rows and renders must not mark the next env's run, in the same checkout, as dirty.
    """
    for name in ("MODELEXPORT_COMMIT", "GITHUB_SHA"):
        if os.environ.get(name):
            return os.environ[name]

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        outputs = [f":(top,exclude){path}" for path in MATRIX_OUTPUTS]
        dirty = git("diff", "--quiet", "HEAD", "--", ":(top)", *outputs).returncode != 0  # 1, or unknown
    except (OSError, subprocess.SubprocessError):
        return None
    sha = head.stdout.strip()
    if head.returncode != 0 or not sha:
        return None
    return f"{sha}+dirty" if dirty else sha


def utc_now() -> str:
    """Seconds-precision ISO 8601 UTC time, the format every row uses."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
