"""How to export: the options of an export, checked before any work is done."""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass

from .backends import BACKENDS, get_backend
from .common import AUTO, AUTO_ORDER
from .errors import UserInputError
from .tasks import get_task
from .verify import DEFAULT_ATOL, DEFAULT_RTOL


@dataclass(frozen=True)
class ExportOptions:
    """How to export, whatever the backend: the keywords of :func:`run_export`, in one place."""

    task: str | None = None
    exporter: str = AUTO
    opset: int | None = None
    clean_onnx: bool = False
    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL
    force: bool = False
    with_config: bool = True
    trust_remote_code: bool = False
    # An encoder-decoder with past: one decoder_model_merged.onnx (False: decoder_model.onnx and
    # decoder_with_past_model.onnx, the decoder's weights stored twice).
    merge_decoders: bool = True

    def backends(self) -> tuple[str, ...]:
        """The backends to try, in order: for ``auto``, those of :data:`AUTO_ORDER` that can write
        the asked opset."""
        names = AUTO_ORDER if self.exporter == AUTO else (self.exporter,)
        return tuple(b for b in names if self.opset is None or _opset_ok(b, self.opset))

    def check(self) -> ExportOptions:
        """Refuse bad values before any work, each with one line saying what is wrong and the fix."""
        if self.exporter != AUTO:
            get_backend(self.exporter)
        if self.task is not None:
            if not isinstance(self.task, str):
                raise UserInputError(
                    f"task must be a task name, not {self.task!r}.", hint="pass e.g. --task fill-mask."
                )
            get_task(self.task)
        for name in ("atol", "rtol"):
            value = getattr(self, name)
            # inf is allowed: the drift is recorded without failing the export (the matrix measures it).
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or math.isnan(value)
                or value < 0
            ):
                raise UserInputError(
                    f"--{name} must be a number >= 0, not {value!r}.", hint=f"pass e.g. --{name} 1e-4."
                )
        if self.opset is not None:
            self._check_opset()
        return self

    def _check_opset(self) -> None:
        opset = self.opset
        names = AUTO_ORDER if self.exporter == AUTO else (self.exporter,)
        ranges = ", ".join(f"{b} {BACKENDS[b].min_opset}-{BACKENDS[b].max_opset}" for b in names)  # type: ignore[index]
        if isinstance(opset, bool) or not isinstance(opset, int) or not self.backends():
            raise UserInputError(
                f"--opset {opset} is not one the exporter writes ({ranges}).",
                hint="pass an opset in that range, or none for the default.",
            )


def _opset_ok(backend: str, opset: int) -> bool:
    spec = BACKENDS[backend]  # type: ignore[index]
    return isinstance(opset, int) and spec.min_opset <= opset <= spec.max_opset


def path_argument(value: object, what: str) -> str:
    """``value`` as the user wrote it (a str or path-like), else a one-line error."""
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise UserInputError(
            f"{what} must be a path, not {value!r}.", hint=f"pass the {what} as a str or Path."
        )
    return str(os.fspath(value))
