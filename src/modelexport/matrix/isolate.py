"""Run cells in child processes forked from a pre-loaded server, so a crash or hang is a row.

A fork server (``multiprocessing``'s ``forkserver``) imports torch, transformers, ONNX Runtime and
Optimum once; each cell is a fresh fork of it, with a timeout. The child writes its row to a file;
a child that dies or hangs leaves none, and the parent records that as the cell's failure.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..render.schema import ExportOutcome, Row
from .cell import CellSpec, run_cell
from .environment import machine_info, package_versions, utc_now

CellTarget = Callable[[CellSpec], Row]
PRELOAD = ("modelexport.matrix.preload",)


def append_row(path: str | Path, row: Row) -> None:
    """Append one JSON line under an exclusive lock, in one write, so parallel writers never interleave."""
    data = (json.dumps(row.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)  # releases the lock


def failure_row(spec: CellSpec, error_type: str, message: str, seconds: float | None = None) -> Row:
    """The row of a cell that produced none itself (crash, timeout)."""
    return Row(
        **spec.identity(),
        export=ExportOutcome(ok=False, error_type=error_type, error=message, seconds=seconds),
        versions=package_versions(),
        machine=machine_info(),
        commit=spec.commit,
        utc=utc_now(),
    )


def _child(target: CellTarget, spec: CellSpec, row_path: str, log_path: str) -> None:
    """In the forked child: send output to the cell's log, run it, write the row atomically."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    row = target(spec)
    tmp = f"{row_path}.tmp"
    Path(tmp).write_text(json.dumps(row.to_dict()), encoding="utf-8")
    os.replace(tmp, row_path)


def _nothing() -> None:
    """A child that only proves the fork server is up (its imports done)."""


def _last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return ""
    return next((ln for ln in reversed(lines) if ln), "")


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class CellRunner:
    """Runs each cell in a fresh fork of one pre-loaded server process, with a timeout."""

    def __init__(
        self,
        *,
        timeout: float = 300.0,
        target: CellTarget = run_cell,
        preload: Sequence[str] = PRELOAD,
    ) -> None:
        self.timeout = timeout
        self.target = target
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(list(preload))
        self._warm: threading.Thread | None = None

    def warm_up(self) -> None:
        """Start the fork server and its imports in the background (pytest collects meanwhile)."""
        if self._warm is None:
            self._warm = threading.Thread(target=self._first_child, name="forkserver-warm-up", daemon=True)
            self._warm.start()

    def _first_child(self) -> None:
        process = self._context.Process(target=_nothing, daemon=True)
        process.start()
        process.join(self.timeout)

    def run(self, spec: CellSpec) -> Row:
        """The cell's row: its own, or a Timeout / Crash row naming the last thing it printed; its
        ``seconds`` is the whole cell's wall time, fork to row (the fork server's start is not in it)."""
        self.warm_up()
        assert self._warm is not None
        self._warm.join()
        started = time.perf_counter()
        row = self._run(spec)
        row.seconds = round(time.perf_counter() - started, 3)
        return row

    def _run(self, spec: CellSpec) -> Row:
        work = Path(spec.workdir)
        work.mkdir(parents=True, exist_ok=True)
        row_path, log_path = work / f"{spec.case_id}.row.json", work / f"{spec.case_id}.log"
        row_path.unlink(missing_ok=True)
        args = (self.target, spec, str(row_path), str(log_path))
        process = self._context.Process(target=_child, args=args, name=spec.case_id, daemon=True)
        started = time.perf_counter()
        process.start()
        process.join(self.timeout)
        if process.is_alive():
            process.kill()
            process.join()
            return failure_row(
                spec, "Timeout", f"cell did not finish within {self.timeout:g} s", self.timeout
            )
        if row_path.is_file():
            return Row.from_dict(json.loads(row_path.read_text(encoding="utf-8")))
        seconds = round(time.perf_counter() - started, 3)
        last = _last_line(log_path) or "no output"
        return failure_row(
            spec, "Crash", f"cell process {_describe_exit(process.exitcode)}; last output: {last}", seconds
        )
