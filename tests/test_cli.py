"""The CLI: every bad input gets one clear line, the right exit code, and leaves nothing behind."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelexport.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_one_clear_line(stderr: str, *needles: str) -> None:
    assert "Traceback" not in stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def entries(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "work").mkdir()
    return tmp_path / "work"


def test_missing_path(workdir):
    code, _, err = run("export", str(workdir / "no-such-model") + "/", str(workdir / "out"))
    assert code == 2
    assert_one_clear_line(err, "no such directory", "Fix:")
    assert entries(workdir) == set()


def test_unknown_model_type(workdir):
    src = workdir / "weird"
    src.mkdir()
    (src / "config.json").write_text(json.dumps({"model_type": "not-a-real-architecture"}))
    code, _, err = run("export", str(src), str(workdir / "out"))
    assert code == 2
    assert_one_clear_line(err, "unknown or unsupported model type", "Fix:")
    assert entries(workdir) == {"weird"}


def test_hub_id_while_offline(workdir):
    code, _, err = run("export", "some-org/some-model", str(workdir / "out"))
    assert code == 2
    assert_one_clear_line(err, "some-org/some-model", "Hub", "Fix:")
    assert entries(workdir) == set()


def test_unreadable_config_json(workdir):
    src = workdir / "broken"
    src.mkdir()
    (src / "config.json").write_text("{ this is not json")
    code, _, err = run("export", str(src), str(workdir / "out"))
    assert code == 2
    assert_one_clear_line(err, "config.json", "Fix:")
    assert entries(workdir) == {"broken"}


def test_directory_without_config(workdir):
    (workdir / "empty-model").mkdir()
    code, _, err = run("export", str(workdir / "empty-model"), str(workdir / "out"))
    assert code == 2
    assert_one_clear_line(err, "has no config.json")


def test_output_exists_and_user_files_are_kept(zoo_dir, workdir):
    out = workdir / "out"
    out.mkdir()
    (out / "precious.txt").write_text("mine")
    code, _, err = run("export", str(zoo_dir("bert", "text-classification")), str(out))
    assert code == 2
    assert_one_clear_line(err, "exists and is not empty", "--force")
    assert entries(out) == {"precious.txt"} and (out / "precious.txt").read_text() == "mine"
    assert entries(workdir) == {"out"}


def test_unsupported_task_name(zoo_dir, workdir):
    code, _, err = run(
        "export", str(zoo_dir("bert", "text-classification")), str(workdir / "out"), "--task", "mind-reading"
    )
    assert code == 2
    assert_one_clear_line(err, "unsupported task 'mind-reading'", "text-classification")
    assert entries(workdir) == set()


def test_task_the_architecture_has_no_head_for(zoo_dir, workdir):
    code, _, err = run(
        "export",
        str(zoo_dir("resnet", "image-classification")),
        str(workdir / "out"),
        "--task",
        "question-answering",
    )
    assert code == 2
    assert_one_clear_line(err, "question-answering", "Fix:")
    assert entries(workdir) == set()


def test_verification_failure_exits_1_and_writes_nothing(zoo_dir, workdir):
    code, _, err = run(
        "export",
        str(zoo_dir("bert", "text-classification")),
        str(workdir / "out"),
        "--atol",
        "0",
        "--rtol",
        "0",
    )
    assert code == 1
    assert_one_clear_line(err, "verify failed", "max|Δ|")
    assert entries(workdir) == set()


def test_a_model_pytorch_cannot_run_on_the_tasks_inputs_exits_1_without_a_second_backend(
    zoo_dir, workdir, tmp_path
):
    # A GPT-2 classifier saved without a pad token: transformers refuses batches of more than one.
    src = tmp_path / "gpt2-no-pad"
    shutil.copytree(zoo_dir("gpt2", "text-classification"), src)
    config = json.loads((src / "config.json").read_text())
    del config["pad_token_id"]
    (src / "config.json").write_text(json.dumps(config))
    code, _, err = run("export", str(src), str(workdir / "out"))
    assert code == 1
    assert_one_clear_line(err, "capture failed", "PyTorch itself fails on synthetic inputs", "--task")
    assert "dynamo" not in err  # auto does not retry: no backend can trace what PyTorch cannot run
    assert entries(workdir) == set()


def test_failed_forced_export_keeps_the_existing_directory(zoo_dir, workdir):
    out = workdir / "out"
    out.mkdir()
    (out / "precious.txt").write_text("mine")
    code, _, _ = run(
        "export",
        str(zoo_dir("bert", "text-classification")),
        str(out),
        "--force",
        "--atol",
        "0",
        "--rtol",
        "0",
    )
    assert code == 1
    assert (out / "precious.txt").read_text() == "mine"
    assert entries(workdir) == {"out"}


def test_successful_export_lists_files_sizes_and_the_verification_figure(zoo_dir, workdir):
    code, out, _ = run("export", str(zoo_dir("bert", "text-classification")), str(workdir / "bert.onnx"))
    assert code == 0
    target = workdir / "bert"
    assert (target / "model.onnx").is_file(), "OUTPUT ending in .onnx becomes a directory of that stem"
    assert "model.onnx" in out and "KB" in out
    assert "max|Δ| = " in out
    assert entries(workdir) == {"bert"}


def test_force_replaces_an_existing_export(zoo_dir, workdir):
    src = str(zoo_dir("bert", "text-classification"))
    assert run("export", src, str(workdir / "out"))[0] == 0
    (workdir / "out" / "stale.txt").write_text("old")
    assert run("export", src, str(workdir / "out"), "--force")[0] == 0
    assert not (workdir / "out" / "stale.txt").exists()
    assert (workdir / "out" / "model.onnx").is_file()


def test_debug_shows_the_traceback(workdir):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelexport",
            "--debug",
            "export",
            str(workdir / "nope") + "/",
            str(workdir / "o"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "UserInputError" in proc.stderr


def test_validate_reports_a_directory_optimum_cannot_load(workdir):
    code, _, err = run("validate", str(workdir))
    assert code == 1
    assert_one_clear_line(err, "no .onnx file")


def test_add_config_to_an_existing_onnx_file(zoo_dir, workdir):
    src = zoo_dir("bert", "text-classification")
    assert run("export", str(src), str(workdir / "full"), "--no-config")[0] == 0
    assert not (workdir / "full" / "config.json").exists()
    code, out, _ = run("add-config", str(workdir / "full" / "model.onnx"), str(src))
    assert code == 0 and "config.json" in out
    assert run("validate", str(workdir / "full"))[0] == 0
    code, _, err = run("add-config", str(workdir / "full" / "model.onnx"), str(src))
    assert code == 2
    assert_one_clear_line(err, "already exist", "--force")


def test_zoo_list_and_build(workdir):
    code, out, _ = run("zoo", "list")
    assert code == 0 and "bert" in out and "text-classification" in out
    code, out, _ = run("zoo", "build", "vit", str(workdir / "vit"))
    assert code == 0 and (workdir / "vit" / "config.json").is_file()
    code, _, err = run("zoo", "build", "no-such-arch", str(workdir / "x"))
    assert code == 2
    assert_one_clear_line(err, "unknown zoo model")


def test_a_dynamo_failure_is_one_line_naming_its_cause_without_torchs_output(t5_classifier_dir, workdir):
    # A fresh process, as a user runs it: torch's own log handlers write to the real stderr.
    # torch.export prints the partial graph there when T5's data-dependent pooling stops it, and
    # building the exporter's registry warns about every torchvision operator.
    src = t5_classifier_dir
    args = [
        sys.executable,
        "-m",
        "modelexport",
        "export",
        str(src),
        str(workdir / "out"),
        "--exporter",
        "dynamo",
    ]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert_one_clear_line(
        proc.stderr, "capture failed", "caused by GuardOnDataDependentSymNode", "modeling_t5.py"
    )
    assert "def forward" not in proc.stdout + proc.stderr
    assert "torchvision" not in proc.stdout + proc.stderr
    assert entries(workdir) == set()
