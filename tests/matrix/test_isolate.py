"""Cells run in forked children: a crash or a hang becomes a recorded row, rows append cleanly."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import time

import pytest

from modelexport.matrix.cases import Case
from modelexport.matrix.cell import CellSpec
from modelexport.matrix.isolate import CellRunner, append_row, failure_row
from modelexport.render.schema import ExportOutcome, Row


def _spec(tmp_path, model: str = "tiny") -> CellSpec:
    return CellSpec(
        Case(model, "text-classification", "torchscript", "modelexport"), "test-env", str(tmp_path)
    )


def _good(spec: CellSpec) -> Row:
    print("doing fine")
    export = ExportOutcome(ok=True, seconds=0.1)
    return Row(
        spec.case_id,
        spec.env,
        spec.case.model,
        spec.case.task,
        spec.case.backend,
        spec.case.exporter,
        export,
        utc=str(os.getpid()),
    )


def _crash(spec: CellSpec) -> Row:
    print("about to crash", flush=True)
    os.kill(os.getpid(), signal.SIGSEGV)
    raise AssertionError("unreachable")


def _hang(spec: CellSpec) -> Row:
    time.sleep(120)
    raise AssertionError("unreachable")


def _raise(spec: CellSpec) -> Row:
    raise RuntimeError("a bug in the harness")


@pytest.fixture
def runner():
    return lambda target, timeout=60.0: CellRunner(timeout=timeout, target=target, preload=())


def test_a_cell_row_comes_back_from_a_child_process(runner, tmp_path):
    row = runner(_good).run(_spec(tmp_path))
    assert row.export.ok and row.case_id == "tiny-text-classification-torchscript"
    assert row.utc != str(os.getpid())  # made in another process
    assert "doing fine" in (tmp_path / f"{row.case_id}.log").read_text()


def test_a_crashing_cell_becomes_a_crash_row_with_its_last_output(runner, tmp_path):
    row = runner(_crash).run(_spec(tmp_path))
    assert row.export.error_type == "Crash"
    assert "SIGSEGV" in row.export.error and "about to crash" in row.export.error
    assert row.status() == "fail"


def test_a_cell_that_raises_becomes_a_crash_row_naming_the_error(runner, tmp_path):
    row = runner(_raise).run(_spec(tmp_path))
    assert row.export.error_type == "Crash"
    assert "exit code 1" in row.export.error and "RuntimeError: a bug in the harness" in row.export.error


def test_a_hanging_cell_becomes_a_timeout_row(runner, tmp_path):
    started = time.perf_counter()
    row = runner(_hang, timeout=2.0).run(_spec(tmp_path))
    assert time.perf_counter() - started < 30
    assert (row.export.error_type, row.export.seconds) == ("Timeout", 2.0)
    assert row.failure() == ("export", "Timeout: cell did not finish within 2 s")


def _append_many(path: str, worker: int) -> None:
    for i in range(40):
        row = failure_row(_spec("/nonexistent", f"m{worker}"), "X", f"{worker}-{i} " + "x" * 20000)
        append_row(path, row)


def test_parallel_appends_never_interleave(tmp_path):
    path = str(tmp_path / "env.jsonl")
    context = multiprocessing.get_context("fork" if sys.platform != "darwin" else "spawn")
    workers = [context.Process(target=_append_many, args=(path, w)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    lines = (tmp_path / "env.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 160
    messages = {Row.from_dict(json.loads(line)).export.error.split()[0] for line in lines}
    assert messages == {f"{w}-{i}" for w in range(4) for i in range(40)}
