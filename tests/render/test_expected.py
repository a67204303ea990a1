"""The expectations record: its file format, and how a row compares with its line."""

from __future__ import annotations

import pytest

from modelexport.errors import UserInputError
from modelexport.render.expected import (
    Expectation,
    expectation_of,
    format_record,
    is_mismatch,
    parse_record,
    verdict,
)
from modelexport.render.schema import ExportOutcome, FilesCheck, LoadCheck, ParityCheck, Row


def _row(status: str, stage: str = "export") -> Row:
    """A row of the given status; a failing one fails at ``stage``."""
    ok = ParityCheck(ok=True, max_abs_diff={"y": 0.0})
    row = Row(
        "m-t-torchscript",
        "e",
        "m",
        "t",
        "torchscript",
        "modelexport",
        ExportOutcome(ok=True),
        files=FilesCheck(ok=True),
        ort_parity=ok,
        optimum_load=LoadCheck(ok=True),
        optimum_parity=ok,
    )
    if status == "ort-only":
        row.optimum_available = False
    elif status == "n/a":
        row.exporter_available = False
    elif status == "fail" and stage == "export":
        row.export = ExportOutcome(False, "CaptureError", "boom")
    elif status == "fail":
        row.optimum_parity = ParityCheck(ok=False, error="run: KeyError: 'x'")
    return row


def test_a_record_round_trips_through_its_text():
    cells = {
        "b-t-dynamo": Expectation("pass"),
        "a-t-optimum": Expectation("fail", "optimum run", "run: KeyError: 'last_hidden_state'"),
        "c-t-optimum": Expectation("n/a"),
        "d-t-torchscript": Expectation("ort-only"),
        "e-t-dynamo": Expectation("fail", "export", None),
    }
    text = format_record("env1", cells, "modelexport matrix expect --env env1")
    lines = text.splitlines()
    assert lines[3] == "#   modelexport matrix expect --env env1"
    assert lines[4:] == [
        "a-t-optimum fail optimum run: run: KeyError: 'last_hidden_state'",
        "b-t-dynamo pass",
        "c-t-optimum n/a",
        "d-t-torchscript ort-only",
        "e-t-dynamo fail export:",
    ]
    assert parse_record(text, "x") == cells


def test_a_cause_on_several_lines_is_kept_on_one():
    line = Expectation("fail", "export", "first\n  second").line("c")
    assert line == "c fail export: first second"


@pytest.mark.parametrize(
    "line",
    ["c passes", "c pass extra words", "c", "c fail"],
)
def test_a_malformed_line_is_an_error_naming_file_and_line(line):
    text = "# header\nok-cell pass\n" + line + "\n"
    if line == "c fail":
        assert parse_record(text, "x")["c"] == Expectation("fail", "export", None)
        return
    with pytest.raises(UserInputError, match=r"rec\.txt:3: expected '<cell> <status>"):
        parse_record(text, "rec.txt")


def test_a_cell_listed_twice_is_an_error():
    with pytest.raises(UserInputError, match=r"rec\.txt:2"):
        parse_record("c pass\nc fail export: x\n", "rec.txt")


@pytest.mark.parametrize(
    ("recorded", "now", "kind", "red"),
    [
        (Expectation("pass"), _row("pass"), "expected", False),
        (Expectation("fail", "export", "old words"), _row("fail"), "expected", False),
        (Expectation("n/a"), _row("n/a"), "expected", False),
        (Expectation("pass"), _row("fail"), "regression", True),
        (Expectation("ort-only"), _row("fail"), "regression", True),
        (Expectation("fail", "export", "x"), _row("pass"), "new pass", True),
        (Expectation("fail", "export", "x"), _row("ort-only"), "new pass", True),
        (Expectation("fail", "export", "x"), _row("fail", "optimum run"), "changed", True),
        (Expectation("pass"), _row("ort-only"), "changed", True),
        (Expectation("n/a"), _row("pass"), "changed", True),
        (None, _row("pass"), "unrecorded", False),
        (None, _row("n/a"), "unrecorded", False),
        (None, _row("fail"), "unrecorded", True),
    ],
)
def test_verdict_and_whether_it_makes_a_run_red(recorded, now, kind, red):
    assert verdict(recorded, now) == kind
    assert is_mismatch(kind, now) is red


def test_recording_a_row_writes_its_status_and_for_a_failure_its_stage_and_cause():
    assert expectation_of(_row("pass")) == Expectation("pass")
    assert expectation_of(_row("fail", "optimum run")) == Expectation(
        "fail", "optimum run", "run: KeyError: 'x'"
    )
    assert verdict(expectation_of(_row("fail")), _row("fail")) == "expected"
