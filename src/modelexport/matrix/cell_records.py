"""A cell's optional records (``Row.records``): the tag checks of our export, and the first module
where a parity failure's export departs from PyTorch.

Both are plain JSON objects without the values that say nothing (empty lists, zeros, ``None``), so
a row stays small in the published results; their readers fill the defaults back in
(``TagCheck.from_json``). Neither raises: a check that cannot run is a record naming its error.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..render.schema import FIRST_DIVERGENCE, FIXED_SIZES, TAG_SURVIVAL, TAGS, Row, first_line

# Stages whose failure is numbers that differ, or a file that raised as it ran, after a good export.
PARITY_STAGES = ("ort parity", "optimum parity", "ort run", "optimum run")
# A diff longer than this is given up (the cell's own timeout must not turn its failure into a Timeout).
DIVERGENCE_SECONDS = 90.0
ERROR_LIMIT = 300


def lean(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` without the values that say nothing; ``ok`` is always kept."""
    return {k: v for k, v in record.items() if k == "ok" or v not in (None, 0, 0.0, "", [], {})}


def _load_model(source: Path, task: str) -> Any:
    """The Hugging Face model as the exporter loads it (its head for ``task``, eval, float32)."""
    from ..loading import load_config, load_model, resolve, resolve_task

    resolved, is_local, offline = resolve(str(source))
    config = load_config(resolved, is_local, local_files_only=offline)
    return load_model(resolved, config, resolve_task(config, task), local_files_only=offline)


def tag_record(out: Path, source: Path, task: str, other: Path | None = None) -> dict[str, Any]:
    """The tag checks of our export in ``out`` (``modelexport.matrix.tag_checks``), with ``other``
    (the other backend's export) the weight-op agreement too: ``ok`` false fails the cell at stage
    ``tags`` with the check's first failure."""
    try:
        from .tag_checks import check_tags

        record = check_tags(out, _load_model(source, task), other).to_json()
    except Exception as e:  # the check itself could not run: information, not a verdict
        record = {"ok": None, "error": f"tag checks did not run: {_message(e)}"}
    return lean(record)


def failed_parity(row: Row) -> bool:
    """Did the row fail at a parity stage (after its export and files were fine)?"""
    failure = row.failure()
    return failure is not None and failure[0] in PARITY_STAGES


def divergence_record(
    out: Path,
    source: Path,
    task: str,
    atol: float,
    rtol: float,
    seconds: float = DIVERGENCE_SECONDS,
) -> dict[str, Any]:
    """Where the export in ``out`` first departs from PyTorch (``modelexport.diagnose``):
    ``module`` is ``None`` when every module matches (the failure lies in how the files are run)."""
    from ..diagnose import RunFailureError, first_divergence

    try:
        with time_limit(seconds):
            found = first_divergence(out, source, task, atol=atol, rtol=rtol)
    except RunFailureError as e:  # no values to compare: where ONNX Runtime stopped says where
        return lean(e.failure.to_json()) | {"module": e.failure.module, "found_by": "run"}
    except Exception as e:
        return {"error": f"diff did not run: {_message(e)}"}
    if found is None:
        return {"module": None, "note": "every module's outputs match PyTorch"}
    return lean(found) | {"module": found.get("module")}


def add_records(
    row: Row,
    out: Path,
    source: Path,
    atol: float,
    rtol: float,
    other: Path | None = None,
    tag_survival: bool = False,
) -> None:
    """Add the records that apply to ``row`` (its export in ``out``; ``other``, the other backend's
    export of the same model and task, if any; ``tag_survival``: measure it too) in place."""
    if row.exporter == "modelexport" and row.export.ok:
        row.records[TAGS] = tag_record(out, source, row.task, other)
        fixed = fixed_sizes_record(out)
        if fixed:
            row.records[FIXED_SIZES] = fixed
        if tag_survival:
            row.records[TAG_SURVIVAL] = survival_record(out, source, row.task, row.backend)
    if failed_parity(row):
        record = divergence_record(out, source, row.task, atol, rtol)
        failure = row.failure()
        if record.get("module") is None and "found_by" not in record and failure is not None:
            stage, message = failure
            if stage == "optimum run":  # Optimum's class raised, not ONNX Runtime on the file
                record["note"] = (
                    f"Optimum's class raised before running the file ({message.removeprefix('run:').strip()}); "
                    "every module's outputs match PyTorch"
                )
        row.records[FIRST_DIVERGENCE] = record


def measure_export(out: Path, source: str | Path, task: str, backend: str) -> dict[str, dict[str, Any]]:
    """:func:`modelexport.hierarchy.survival.measure` for the export in ``out`` of ``source`` (its
    ``task``, made by ``backend``): an export with Optimum's merged decoder is made again beside it
    with its two decoders apart, for Optimum's own merge of them (where that export fails,
    merge-decoders is its error). The tools' files and that export are removed afterwards."""
    from ..export import run_export
    from ..hierarchy.survival import MERGED, error_text, measure

    model_type = str(json.loads((out / "config.json").read_text()).get("model_type", ""))
    separate = out.parent / f"{out.name}-separate"
    work = out.parent / f"{out.name}-tools"
    merge_error = None
    try:
        if (out / MERGED).is_file():
            try:  # the export itself was verified or measured: its check is not repeated here
                run_export(
                    str(source), separate, task=task, exporter=backend, force=True,
                    merge_decoders=False, atol=math.inf, rtol=math.inf,
                )  # fmt: skip
            except Exception as e:
                merge_error = f"unmerged export failed: {error_text(e)}"
        measured = measure(out, model_type, work, separate if separate.is_dir() else None)
    finally:
        shutil.rmtree(separate, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    if merge_error:
        measured["merge-decoders"] = {MERGED: {"error": merge_error}}
    return measured


def survival_record(out: Path, source: Path, task: str, backend: str) -> dict[str, Any]:
    """How the tags of our export in ``out`` survive the tools users run next: per tool
    ``[nodes, tagged as written, tagged after restore_tags]`` or its error
    (:func:`measure_export`, then :func:`modelexport.hierarchy.survival.summary`)."""
    from ..hierarchy.survival import summary

    try:
        return summary(measure_export(out, source, task, backend))
    except Exception as e:  # the measurement itself could not run
        return {"error": f"tag survival not measured: {_message(e)}"}


def fixed_sizes_record(out: Path) -> dict[str, Any]:
    """The sizes our export in ``out`` fixed (its export_metadata.json): ``image_size`` true where
    its images have the processor's one size, ``axes`` where torch.export fixed batch or sequence."""
    from ..plan import fixed_axes_of
    from .checks import export_metadata

    meta = export_metadata(out)
    record: dict[str, Any] = {}
    if meta.get("fixed_image_size"):
        record["image_size"] = True
    axes = fixed_axes_of(meta)
    if axes:
        record["axes"] = dict(axes)
    return record


def _message(error: BaseException) -> str:
    return f"{type(error).__name__}: {first_line(error, ERROR_LIMIT)}"


class DiffTimeout(Exception):
    """The diff took longer than its budget."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`DiffTimeout` in the block after ``seconds`` (a no-op off the main thread,
    where no alarm can be set)."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise DiffTimeout(f"longer than {seconds:g} s")

    previous: Callable[..., Any] | int | None = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
