"""Updating the expectations record from results, and a run's end-of-run comparison."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from modelexport.cli import main
from modelexport.errors import UserInputError
from modelexport.matrix.expectations import (
    RunComparison,
    load_record,
    update_command,
    updated_record,
    write_update,
    xfail_reason,
)
from modelexport.render import load_results
from modelexport.render.expected import Expectation, parse_record, verdict

INPUT = Path(__file__).parents[1] / "golden" / "render" / "input"


def _rows(env: str = "optimum-latest"):
    return [r for r in load_results([INPUT]).rows if r.env == env]


def test_an_update_records_each_row_keeps_other_cells_and_drops_cells_outside_the_zoo():
    old = {
        "gone-t-dynamo": Expectation("pass"),
        "kept-t-dynamo": Expectation("fail", "export", "x"),
        "vit-image-classification-dynamo": Expectation("pass"),
    }
    rows = _rows()
    known = [r.case_id for r in rows] + ["kept-t-dynamo"]
    new = updated_record(old, rows, known)
    assert "gone-t-dynamo" not in new and new["kept-t-dynamo"] == old["kept-t-dynamo"]
    assert new["vit-image-classification-dynamo"].status == "fail"
    assert new["vit-image-classification-dynamo"].stage == "export"
    assert set(new) == {r.case_id for r in rows} | {"kept-t-dynamo"}


def test_writing_an_update_counts_what_changed_and_a_second_write_changes_nothing(tmp_path):
    rows = _rows()
    first = write_update(tmp_path, "optimum-latest", rows, None)
    assert (first.written, first.changed, first.added, first.removed) == (7, 0, 7, 0)
    text = first.path.read_text()
    assert text.startswith("# Expected status of every cell of env optimum-latest")
    assert "#   modelexport matrix expect --env optimum-latest\n" in text
    assert "vit-image-classification-optimum fail optimum parity: max|Δ| beyond tolerance" in text
    again = write_update(tmp_path, "optimum-latest", rows, None)
    assert (again.changed, again.added, again.removed) == (0, 0, 0) and again.path.read_text() == text
    assert load_record(tmp_path, "optimum-latest")["bert-text-classification-dynamo"] == Expectation("pass")
    assert load_record(tmp_path, "nowhere") is None


def test_a_run_summary_names_each_mismatch_and_the_command_that_records_it():
    rows = {r.case_id: r for r in _rows()}
    record = {
        "bert-text-classification-torchscript": Expectation("pass"),
        "vit-image-classification-dynamo": Expectation("pass"),
        "vit-image-classification-optimum": Expectation("fail", "optimum parity", "x"),
    }
    comparison = RunComparison.start("optimum-latest", record, "matrix/expected")
    for cell in record:
        comparison.add(rows[cell])
    lines = comparison.summary()
    assert lines[0] == (
        "matrix expectations (matrix/expected/optimum-latest.txt): 3 cells compared, 2 expected, 1 regression"
    )
    assert lines[1].startswith(
        "  regression: vit-image-classification-dynamo expected pass; now fails at export"
    )
    assert lines[-1] == f"If the new state is right, record it with: {update_command('optimum-latest')}"


def test_a_run_without_a_record_says_so_and_expects_every_cell_to_pass():
    comparison = RunComparison.start("local", None, "matrix/expected")
    rows = {r.case_id: r for r in _rows()}
    assert comparison.add(rows["bert-text-classification-dynamo"]) == "unrecorded"
    comparison.add(rows["vit-image-classification-dynamo"])
    lines = comparison.summary()
    assert "no record for env local: every cell was expected to pass." in lines
    assert any(line.startswith("  unrecorded: vit-image-classification-dynamo") for line in lines)
    assert not any("bert-text-classification-dynamo" in line for line in lines)


def test_an_expected_failure_is_reported_with_its_recorded_cause():
    assert xfail_reason(Expectation("fail", "optimum run", "run: KeyError: 'x'")) == (
        "known failure, recorded: optimum run: run: KeyError: 'x'"
    )


def test_expect_command_writes_a_record_per_env_and_refuses_an_unknown_env(tmp_path):
    args = ["matrix", "expect", "--results", str(INPUT), "--expected", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["optimum-latest.txt", "transformers-latest.txt"]
    assert "optimum-latest: 7 cells recorded" in result.output
    result = CliRunner().invoke(main, [*args, "--env", "nope"])
    assert result.exit_code == 2 and "no results for env nope" in result.output


def test_a_long_cause_recorded_again_is_not_counted_as_changed(tmp_path):
    """The file cuts a long cause; recording the same failing row again changed nothing (the count
    said 199 changed for one new line in optimum-latest's record)."""
    rows = _rows()
    failing = next(r for r in rows if r.status() == "fail" and not r.export.ok)
    failing.export.error = "the exporter failed " + "x" * 500
    write_update(tmp_path, "optimum-latest", rows, None)
    again = write_update(tmp_path, "optimum-latest", rows, None)
    assert (again.changed, again.added, again.removed) == (0, 0, 0)


def test_an_unstable_cell_matches_a_pass_and_a_failure_and_recording_a_run_keeps_its_line(tmp_path):
    rows = _rows()
    passed = next(r for r in rows if r.status() == "pass")
    failed = next(r for r in rows if r.status() == "fail")
    why = "ONNX Runtime's greedy tokens differ from PyTorch's in 2 of 14 runs"
    record = parse_record(f"{passed.case_id} unstable {why}\n{failed.case_id} unstable {why}\n", "x.txt")
    assert record[passed.case_id] == Expectation("pass", unstable=why)
    assert verdict(record[passed.case_id], passed) == verdict(record[failed.case_id], failed) == "expected"
    assert record[failed.case_id].line(failed.case_id) == f"{failed.case_id} unstable {why}"
    # Recording a run (here: one where the cell failed) keeps the hand-written line.
    kept = updated_record({failed.case_id: record[failed.case_id]}, rows, None)
    assert kept[failed.case_id].unstable == why
    assert updated_record({}, rows, None)[failed.case_id].status == "fail"
    # A line without a reason is refused: an unstable cell says what was measured.
    with pytest.raises(UserInputError, match=r"x\.txt:1: expected"):
        parse_record(f"{passed.case_id} unstable\n", "x.txt")
