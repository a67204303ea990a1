"""One root error and one subclass per export stage.

Every message names the stage, what went wrong and what to do next. ``UserInputError`` marks
problems the user can fix by changing the call (exit code 2 in the CLI); everything else is a
failure of the export itself (exit code 1).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

# Terminal colour codes some libraries put in their messages (torch.export's step banners).
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def first_line(error: object, limit: int | None = None) -> str:
    """The first non-empty line of an error message, without terminal colour codes, trimmed to
    ``limit`` characters when given."""
    for line in _ANSI.sub("", str(error)).splitlines():
        if line.strip():
            line = line.strip()
            return line if limit is None or len(line) <= limit else line[: limit - 1] + "…"
    return ""


# An absolute path into an installed package: ``/any/venv/lib/python3.11/site-packages/torch/x.py``.
_PACKAGE_PATH = re.compile(r"/[^\s'\"()]*?/(?:site|dist)-packages/")
# A zoo checkpoint in the cache: ``~/.cache/modelexport/zoo/<key>/bert-fill-mask``.
_ZOO_PATH = re.compile(r"/[^\s'\"()]*?/modelexport/zoo/[0-9a-f]+/")


def scrub_paths(text: str) -> str:
    """``text`` without this machine's directories: paths into installed packages from the package
    on (``torch/onnx/utils.py``), zoo checkpoints as ``<zoo>/name``, the home directory as ``~``. For
    what is published (matrix rows), which must not carry where it ran."""
    text = _PACKAGE_PATH.sub("", text)
    text = _ZOO_PATH.sub("<zoo>/", text)
    home = os.path.expanduser("~")
    return text.replace(home + "/", "~/") if home not in ("", "/") else text


def subject(source: object, task: str | None, backend: str | None = None) -> str:
    """How an error names what failed: ``'<source>' (<task>, <backend>)``."""
    what = ", ".join(x for x in (task or "task not yet known", backend) if x)
    return f"'{source}' ({what})"


_SUBJECT = re.compile(r"^'[^']*' \([^()]*\): ")


def without_subject(message: str) -> str:
    """``message`` without its leading :func:`subject` (for records that name the model already)."""
    return _SUBJECT.sub("", message)


# torch.export names the model source line behind a failed guard: "Caused by: (file.py:12 in forward)".
_SOURCE_LINE = re.compile(r"Caused by: \(([^()]+)\)")


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error``, then what it was raised from or while handling (``__cause__``, else
    ``__context__``), each once."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def root_cause(error: BaseException, limit: int = 240) -> str | None:
    """``Type: first line`` of the innermost exception ``error`` was raised from (``raise ... from``),
    with the model source line torch.export blames, if it names one; ``None`` without a cause.

    The exporters wrap every failure in a generic one ("Failed to export the model with
    torch.export. This is step 1/3 ..."); the cause is what says which operation failed.
    """
    inner, seen = error, {id(error)}
    while inner.__cause__ is not None and id(inner.__cause__) not in seen:
        inner = inner.__cause__
        seen.add(id(inner))
    if inner is error:
        return None
    text = " ".join(f"{type(inner).__name__}: {first_line(inner, limit)}".rstrip(": ").split())
    where = _SOURCE_LINE.search(_ANSI.sub("", str(inner)))
    return f"{text} (at {where.group(1)})" if where else text


class ModelExportError(Exception):
    """Root of every error modelexport raises on purpose."""

    stage: str = "export"
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} Fix: {hint}" if hint else message)

    def one_line(self) -> str:
        """The single line the CLI prints: stage, what happened, what to do."""
        return " ".join(f"{self.stage} failed: {self}".split())


class UserInputError(ModelExportError):
    """The call itself is wrong: a missing path, an unsupported task, an existing output."""

    stage = "input"
    exit_code = 2


class UnsafePathError(UserInputError):
    """Something would be written outside the output directory (a file name taken from the model's own
    files, such as a chat template named ``../../x``); nothing is written."""


class LoadError(ModelExportError):
    """The model, its config or its preprocessors could not be loaded."""

    stage = "load"
    exit_code = 2


class CaptureError(ModelExportError):
    """The exporter backend could not turn the model into ONNX."""

    stage = "capture"


class ModelRunError(CaptureError):
    """PyTorch itself cannot run the model on the synthetic inputs, so no backend can trace it
    (``exporter="auto"`` does not retry with another backend)."""


class TagError(ModelExportError):
    """Hierarchy tagging failed."""

    stage = "tag"


class PackageError(ModelExportError):
    """Writing the output directory failed."""

    stage = "package"


class VerifyError(ModelExportError):
    """ONNX Runtime's outputs differ from PyTorch's beyond tolerance, or could not be compared."""

    stage = "verify"
    # True when the outputs were compared and differ (drift a larger tolerance would accept), False
    # when ONNX Runtime could not run the graph or nothing was compared.
    drift = False
    # The input sets (modelexport.inputs.CHECKS) the export failed on, where known.
    input_sets: tuple[str, ...] = ()


class CompatibilityError(ModelExportError):
    """Optimum could not load or run the exported directory."""

    stage = "optimum"


class Terminated(BaseException):
    """SIGTERM arrived during an export (like ``KeyboardInterrupt`` for SIGINT: not an ``Exception``,
    so no stage mistakes it for the export's own failure)."""
