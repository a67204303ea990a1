"""A cell's optional records: how they decide the verdict, what they keep, and that they never raise."""

from __future__ import annotations

import time

import pytest

from modelexport.matrix.cell_records import (
    DiffTimeout,
    divergence_record,
    failed_parity,
    lean,
    tag_record,
    time_limit,
)
from modelexport.matrix.tag_checks import TagCheck
from modelexport.render.schema import ExportOutcome, FilesCheck, LoadCheck, ParityCheck, Row


def _row(optimum: bool = True, **kwargs) -> Row:
    ok = ParityCheck(ok=True, max_abs_diff={"logits": 1e-7})
    row = Row(
        "bert-text-classification-torchscript",
        "test",
        "bert",
        "text-classification",
        "torchscript",
        "modelexport",
        ExportOutcome(ok=True),
        files=FilesCheck(ok=True),
        ort_parity=ok,
        optimum_load=LoadCheck(ok=True),
        optimum_parity=ok,
        optimum_available=optimum,
        **kwargs,
    )
    return row


FAILED_TAGS = lean(
    TagCheck(ok=False, error="2 nodes tagged with no module of the model: x", nodes=9).to_json()
)


@pytest.mark.parametrize("optimum", [True, False])
def test_a_failing_tag_check_fails_the_cell_with_its_cause_with_or_without_optimum(optimum):
    row = _row(optimum, records={"tags": FAILED_TAGS})
    assert row.status() == "fail"
    assert row.failure() == ("tags", "2 nodes tagged with no module of the model: x")
    passing = _row(optimum, records={"tags": {"ok": True, "nodes": 9}, "first_divergence": {"module": None}})
    assert passing.status() == ("pass" if optimum else "ort-only") and passing.failure() is None


def test_a_parity_failure_comes_before_a_tag_failure_and_is_what_the_divergence_follows():
    row = _row(records={"tags": FAILED_TAGS})
    row.ort_parity = ParityCheck(ok=False, max_abs_diff={"logits": 3.0}, atol=1e-4, rtol=1e-4)
    assert row.failure()[0] == "ort parity" and failed_parity(row)
    assert not failed_parity(_row()) and not failed_parity(_row(records={"tags": FAILED_TAGS}))


@pytest.mark.parametrize(
    ("check", "error", "diffs", "stage"),
    [
        ("ort", "ONNX Runtime: InvalidArgument: Unexpected input data type", {}, "ort run"),
        ("ort", "'logits' max|Δ| 3.1e-02 > atol 0.0001 / rtol 0.0001", {"logits": 0.031}, "ort parity"),
        ("ort", "output 'logits' missing", {}, "ort parity"),
        ("optimum", "run: ValueError: input_values must be provided", {}, "optimum run"),
        ("optimum", "run on the batch-1 inputs: KeyError: 'x'", {}, "optimum run"),
        ("optimum", "'logits' max|Δ| 4.0e+00 > atol 0.0001 / rtol 0.0001", {"logits": 4.0}, "optimum parity"),
    ],
)
def test_a_file_that_raised_as_it_ran_fails_at_run_not_parity_and_is_still_diagnosed(
    check, error, diffs, stage
):
    row = _row()
    setattr(row, f"{check}_parity", ParityCheck(ok=False, error=error, max_abs_diff=diffs))
    assert row.failure() == (stage, error) and failed_parity(row)


def test_a_lean_record_keeps_ok_and_what_says_something_and_reads_back_whole():
    full = TagCheck(ok=True, files=1, nodes=233, sibling_groups=1, inherited_share=0.133).to_json()
    assert lean(full) == {"ok": True, "files": 1, "nodes": 233, "sibling_groups": 1, "inherited_share": 0.133}
    assert TagCheck.from_json(lean(full)) == TagCheck.from_json(full)
    assert lean({"ok": None, "error": None}) == {"ok": None}


def test_records_that_cannot_run_say_why_and_never_raise(tmp_path):
    tags = tag_record(tmp_path / "missing", tmp_path / "no-model", "text-classification")
    assert tags["ok"] is None and tags["error"].startswith("tag checks did not run: ")
    found = divergence_record(tmp_path / "missing", tmp_path / "no-model", "text-classification", 1e-4, 1e-4)
    assert "ok" not in found and found["error"].startswith("diff did not run: UserInputError: ")


def test_the_diff_budget_interrupts_a_long_call_and_restores_the_alarm():
    started = time.perf_counter()
    with pytest.raises(DiffTimeout), time_limit(0.05):
        time.sleep(5)
    assert time.perf_counter() - started < 2
    with time_limit(5):
        pass
    time.sleep(0.01)  # no alarm left behind
