"""``modelexport diff``: exit 0 when nothing diverges, 1 when something does, 2 on bad input (one
line, no traceback); the table and the JSON name the same module."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from diff_faults import scale_initializer

from modelexport.cli import main

MODULE = "bert.encoder.layer.1.attention.self.value"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["diff", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def bert(exported) -> Path:
    return exported("bert", "text-classification", "torchscript")


@pytest.fixture(scope="module")
def faulty(bert, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faulty") / "export"
    shutil.copytree(bert, out)
    scale_initializer(out / "model.onnx", MODULE)
    return out


def test_an_untouched_export_exits_0_and_says_nothing_diverges(bert):
    code, out, _ = run(str(bert))
    assert code == 0, out
    assert "no module diverges" in out and out.rstrip().endswith("nothing diverges")
    assert "module tags" in out  # where the modules came from


def test_json_gives_every_module_in_execution_order(bert):
    code, out, _ = run(str(bert), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["first_divergent_module"] is None and report["diverges"] is False
    paths = [m["path"] for m in report["modules"]]
    assert paths[0] == "" and "bert.encoder.layer.0" in paths and MODULE in paths
    assert paths.index("bert.embeddings") < paths.index("bert.encoder.layer.0") < paths.index("classifier")
    row = report["modules"][paths.index(MODULE)]
    assert row["class"] == "Linear" and row["ok"] is True and row["local_ok"] is True
    assert 0 <= row["max_abs"] <= 1e-4 and 0 <= row["local_max_abs"] <= 1e-4


def test_a_fault_exits_1_and_the_table_and_json_name_its_module(faulty):
    code, out, _ = run(str(faulty))
    assert code == 1, out
    assert f"first divergent module: {MODULE} (Linear), found by its own nodes" in out
    assert out.rstrip().endswith(f"first divergent module '{MODULE}'")
    code, out, _ = run(str(faulty), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["first_divergent_module"] == MODULE and report["file"] == "model.onnx"
    row = next(m for m in report["modules"] if m["path"] == MODULE)
    assert row["local_ok"] is False and row["ok"] is False and row["input_ok"] is True


def test_a_looser_tolerance_than_the_fault_exits_0(faulty):
    assert run(str(faulty), "--atol", "1e9", "--rtol", "1e9")[0] == 0


def _one_line(stderr: str, *needles: str) -> None:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["{missing}"], "is not a directory"),
        (["{empty}"], "holds no .onnx file"),
        (["{bare}"], "--model"),
        (["{bert}", "--atol", "-1"], "--atol must be a finite number"),
        (["{bert}", "--rtol", "nan"], "--rtol must be a finite number"),
        (["{bert}", "--check", "nope"], "no input set 'nope'"),
        (["{bert}", "--node-data", "{missing}/x.json"], "no such directory"),
        (["{bert}", "--model", "{missing}"], "no such directory"),
        (["{bert}", "--task", "image-classification"], "no head for a 'bert' model"),
    ],
    ids=["no-dir", "no-onnx", "no-metadata", "atol", "rtol", "check", "node-data", "model", "task"],
)
def test_bad_input_exits_2_with_one_line(bert, tmp_path, args, needle):
    empty = tmp_path / "empty"
    empty.mkdir()
    bare = tmp_path / "bare"  # ONNX files without export_metadata.json: the source is unknown
    bare.mkdir()
    shutil.copy(bert / "model.onnx", bare / "model.onnx")
    names = {"missing": str(tmp_path / "missing"), "empty": str(empty), "bare": str(bare), "bert": str(bert)}
    code, out, err = run(*(a.format(**names) for a in args))
    assert code == 2, (out, err)
    _one_line(err, needle)
    assert out == ""


def test_first_divergence_is_a_plain_record_for_a_matrix_row(bert, faulty):
    from modelexport.diagnose import first_divergence

    source = json.loads((bert / "export_metadata.json").read_text())["source_model"]
    assert first_divergence(bert, source, "text-classification") is None
    record = first_divergence(faulty, source, "text-classification")
    assert record is not None and json.loads(json.dumps(record)) == record
    assert {
        k: record[k] for k in ("module", "class", "file", "check", "found_by", "derived_input", "tags")
    } == {
        "module": MODULE,
        "class": "Linear",
        "file": "model.onnx",
        "check": "batch",
        "found_by": "local",
        "derived_input": None,
        "tags": "tags",
    }
    assert (
        record["local_max_abs"] > 1e-4 and record["output_max_abs"] > 1e-4 and record["input_max_abs"] <= 1e-4
    )
    assert set(record) == {
        "module",
        "class",
        "file",
        "check",
        "found_by",
        "local_max_abs",
        "output_max_abs",
        "input_max_abs",
        "derived_input",
        "tags",
    }
