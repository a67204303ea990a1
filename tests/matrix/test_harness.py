"""The matrix's pytest plugin end to end (matrix/conftest.py), on two real cells in a child pytest.

bert's TorchScript cell passes and Moonshine's dynamo feature-extraction cell fails at export
(torch.export meets a data-dependent guard on the mask length): a record that says so makes each
shard's run green (the failure an xfail), a record that says otherwise makes the run red, naming
both cells and the command that records them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelexport.render.compact import read_rows

ROOT = Path(__file__).parents[2]
CELLS = ("bert-text-classification-torchscript", "moonshine-feature-extraction-dynamo")
IDS = [f"matrix/test_matrix.py::test_cell[{cell}]" for cell in CELLS]


def _run(tmp_path: Path, record: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "expected").mkdir(exist_ok=True)
    (tmp_path / "expected" / "harness.txt").write_text(record)
    env = dict(
        os.environ,
        MODELEXPORT_MATRIX_ENV="harness",
        MODELEXPORT_MATRIX_RESULTS=str(tmp_path / "results"),
        MODELEXPORT_MATRIX_EXPECTED=str(tmp_path / "expected"),
    )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_a_regression_and_an_unexpected_pass_make_the_run_red_and_name_the_update(tmp_path):
    record = f"{CELLS[0]} fail export: an old failure\n{CELLS[1]} pass\n"
    done = _run(tmp_path, record, "-n", "2", "--dist", "loadgroup", *IDS)
    assert done.returncode == 1, done.stdout[-3000:]
    out = done.stdout
    assert f"new pass: {CELLS[0]} expected fail at export: an old failure; now pass" in out
    assert f"regression: {CELLS[1]} expected pass; now fails at export" in out
    assert "If the new state is right, record it with: modelexport matrix expect --env harness" in out
    assert "2 failed" in out


@pytest.mark.slow
def test_shards_that_match_the_record_are_green_each_into_its_own_file_with_the_known_failure_as_xfail(
    tmp_path,
):
    record = f"{CELLS[0]} pass\n{CELLS[1]} fail export: TorchExportError: Failed to export the model\n"
    ran, out = [], ""
    for shard in ("1/2", "2/2"):
        done = _run(tmp_path, record, "-n", "0", "--shard", shard, *IDS)
        assert done.returncode == 0, done.stdout[-3000:]
        assert "matrix: 1/1 cells (100 %)" in done.stdout and "1 cells compared, 1 expected" in done.stdout
        path = tmp_path / "results" / f"harness.shard-{shard.replace('/', '-of-')}.jsonl"
        rows = read_rows(path)
        ran.append([r.case_id for r in rows])
        assert all(r.seconds and r.export.seconds and r.seconds > r.export.seconds for r in rows)
        assert "defaults" in json.loads(path.read_text().splitlines()[0]), "the run leaves its file compact"
        out += done.stdout
    assert sorted(c for cells in ran for c in cells) == sorted(CELLS) and all(len(c) == 1 for c in ran)
    assert f"XFAIL {IDS[1]} - known failure, recorded: export: TorchExportError" in out
    # Each cell's optional records: the tag checks of an export; none where nothing was exported.
    rows = {r.case_id: r for f in (tmp_path / "results").glob("*.jsonl") for r in read_rows(f)}
    assert rows[CELLS[0]].records["tags"]["ok"] is True
    assert "tags" not in rows[CELLS[1]].records and "first_divergence" not in rows[CELLS[1]].records
    done = _run(tmp_path, record, "-n", "0", "--shard", "3/2", *IDS)
    assert done.returncode == 2 and "--shard takes I/N with 1 <= I <= N" in done.stdout + done.stderr


@pytest.mark.slow
def test_under_xdist_each_group_runs_whole_so_every_dynamo_row_compares_with_its_torchscript_export(
    tmp_path,
):
    # Four cells, two groups: dealt out one by one (pytest-xdist's loadgroup under pytest 9.2),
    # each worker would get both TorchScript cells or both dynamo cells, and no agreement.
    tasks = ("token-classification", "question-answering")  # cells no other test here runs
    cells = [f"bert-{task}-{backend}" for task in tasks for backend in ("torchscript", "dynamo")]
    record = "".join(f"{cell} pass\n" for cell in cells)
    done = _run(
        tmp_path,
        record,
        "-n",
        "2",
        "--dist",
        "loadgroup",
        *[f"matrix/test_matrix.py::test_cell[{c}]" for c in cells],
    )
    assert done.returncode == 0, done.stdout[-3000:]
    rows = {r.case_id: r for r in read_rows(tmp_path / "results" / "harness.jsonl")}
    for task in tasks:
        tags = rows[f"bert-{task}-dynamo"].records["tags"]
        assert tags["agreement"] == 1.0 and tags["agreement_matched"] >= 10, tags
        assert "agreement_not_run" not in tags
    # The dynamo cell alone: no TorchScript export to compare with, and the row says so.
    alone = tmp_path / "alone"
    alone.mkdir()
    done = _run(alone, record, "-n", "0", f"matrix/test_matrix.py::test_cell[{cells[1]}]")
    assert done.returncode == 0, done.stdout[-3000:]
    tags = read_rows(alone / "results" / "harness.jsonl")[0].records["tags"]
    assert "agreement" not in tags
    assert tags["agreement_not_run"] == "the TorchScript cell was not in this run"
