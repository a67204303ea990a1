"""Nothing written outside the output, the source never deleted, nothing left behind by a killed export.

Each case runs the real CLI (in-process, or as a child process where a signal is involved) on a zoo
checkpoint, and checks the files on disk and the exit code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelexport.cli import main
from modelexport.confine import confined_writes
from modelexport.errors import UnsafePathError

CLI = [sys.executable, "-m", "modelexport"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def digest(directory: Path) -> dict[str, str]:
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture()
def bert(zoo_dir, tmp_path: Path) -> Path:
    """A private copy of the zoo BERT classifier (tests may tamper with it)."""
    model = tmp_path / "model"
    shutil.copytree(zoo_dir("bert", "text-classification"), model)
    return model


def malicious_chat_templates(model: Path, escape: Path) -> None:
    config = model / "tokenizer_config.json"
    data = json.loads(config.read_text())
    data["chat_template"] = [
        {"name": "default", "template": "{{ messages }}"},
        {"name": "../../ESCAPED", "template": "x"},
        {"name": str(escape), "template": "y"},
    ]
    config.write_text(json.dumps(data))


def jinja_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.jinja"))


# --------------------------------------------------------------------------- writes stay inside


def test_chat_template_names_cannot_make_export_write_outside_the_output(bert, tmp_path):
    outside = tmp_path / "elsewhere" / "ABS"
    outside.parent.mkdir()
    malicious_chat_templates(bert, outside)
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    code, _, err = run("export", str(bert), str(work / "out"))
    assert code == 2
    line = one_error_line(err)
    assert "outside the output directory" in line and "Fix:" in line
    assert jinja_files(tmp_path) == []
    assert list(work.iterdir()) == []  # no output, no staging directory


def test_chat_template_names_cannot_make_add_config_write_outside(bert, tmp_path, zoo_dir):
    outside = tmp_path / "elsewhere" / "ABS"
    outside.parent.mkdir()
    malicious_chat_templates(bert, outside)
    target = tmp_path / "a" / "b"
    target.mkdir(parents=True)
    onnx_file = target / "model.onnx"
    shutil.copy(_exported(zoo_dir, tmp_path) / "model.onnx", onnx_file)
    code, _, err = run("add-config", str(onnx_file), str(bert))
    assert code == 2
    assert "outside the output directory" in one_error_line(err)
    assert jinja_files(tmp_path) == []
    assert sorted(p.name for p in target.iterdir()) == ["model.onnx"]


def _exported(zoo_dir, tmp_path: Path) -> Path:
    out = tmp_path / "exported"
    code, _, err = run(
        "export", str(zoo_dir("bert", "text-classification")), str(out), "--exporter", "torchscript"
    )
    assert code == 0, err
    return out


def test_confined_writes_refuse_every_way_of_creating_a_file_outside(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    attempts = {
        "open": lambda: open(outside, "w"),  # noqa: SIM115
        "append": lambda: open(outside, "a"),  # noqa: SIM115
        "Path.write_text": lambda: outside.write_text("x"),
        "os.open": lambda: os.open(outside, os.O_WRONLY | os.O_CREAT),
        "mkdir": lambda: outside.mkdir(),
        "makedirs": lambda: os.makedirs(outside / "deep"),
        "relative escape": lambda: open(root / ".." / "outside", "w"),  # noqa: SIM115
        "rename": lambda: os.replace(root / "inside", outside),
    }
    (root / "inside").write_text("kept")
    with confined_writes(root):
        (root / "ok.txt").write_text("inside is fine")
        (root / "sub").mkdir()
        with open(root / "inside") as f:  # reading anything is fine
            assert f.read() == "kept"
        for name, attempt in attempts.items():
            with pytest.raises(UnsafePathError):
                attempt()
                pytest.fail(f"{name} was not refused")
    assert not outside.exists()
    assert (root / "inside").read_text() == "kept"
    outside.write_text("after the block, writes are free again")


# --------------------------------------------------------------------------- the source is never touched


@pytest.mark.parametrize("where", ["itself", "parent", "inside"])
def test_force_never_replaces_or_writes_into_the_source(bert, tmp_path, where, monkeypatch):
    before = digest(bert)
    output = {"itself": bert, "parent": bert.parent, "inside": bert / "onnx"}[where]
    monkeypatch.chdir(tmp_path)
    code, _, err = run("export", str(bert), str(output), "--force")
    assert code == 2
    line = one_error_line(err)
    assert "model directory" in line and "Fix:" in line
    assert digest(bert) == before
    assert not (bert / "onnx").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_relative_output_that_contains_the_source_is_refused(bert, tmp_path, monkeypatch):
    monkeypatch.chdir(bert.parent)
    before = digest(bert)
    code, _, err = run("export", bert.name, ".", "--force")
    assert code == 2 and "contains the model directory" in one_error_line(err)
    assert digest(bert) == before


# --------------------------------------------------------------------------- killed exports


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([*CLI, *args], cwd=cwd, env=env, text=True, stderr=subprocess.PIPE)


def _wait_for_staged_model(parent: Path, name: str, process: subprocess.Popen[str]) -> Path:
    """The export's staging directory, once its model.onnx is written (the verify stage is next)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        for entry in parent.glob(f".{name}.tmp-*"):
            if any(entry.rglob("model.onnx")):
                return entry
        time.sleep(0.02)
    raise AssertionError("the export never staged model.onnx")


def test_sigterm_during_an_export_leaves_nothing(bert, tmp_path):
    process = _start(["export", str(bert), "out", "--exporter", "dynamo"], tmp_path)
    _wait_for_staged_model(tmp_path, "out", process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143
    assert "terminated" in one_error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_later_export_removes_what_a_killed_one_left(bert, tmp_path):
    process = _start(["export", str(bert), "out", "--exporter", "dynamo"], tmp_path)
    staged = _wait_for_staged_model(tmp_path, "out", process)
    process.kill()
    process.communicate(timeout=60)
    assert staged.is_dir()  # SIGKILL cannot be handled
    code, _, err = run("export", str(bert), str(tmp_path / "out"), "--exporter", "torchscript")
    assert code == 0, err
    assert not staged.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "out"]


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_previous_output_a_killed_swap_moved_aside_is_put_back(bert, tmp_path):
    aside = tmp_path / f".out.old-{_dead_pid()}-abc123"
    aside.mkdir()
    (aside / "model.onnx").write_text("the user's previous export")
    code, _, err = run("export", str(bert), str(tmp_path / "out"), "--exporter", "torchscript")
    assert code == 2 and "exists and is not empty" in one_error_line(err)
    assert (tmp_path / "out" / "model.onnx").read_text() == "the user's previous export"
    assert not aside.exists()


def test_concurrent_forced_exports_to_one_output_both_succeed(bert, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("replaced")
    args = ["export", str(bert), "out", "--force", "--exporter", "torchscript"]
    first, second = _start(args, tmp_path), _start(args, tmp_path)
    errors = [p.communicate(timeout=300)[1] for p in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), errors
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "out"]
    assert (tmp_path / "out" / "model.onnx").is_file() and not (tmp_path / "out" / "old.txt").exists()


def test_replacing_an_output_keeps_its_permissions(bert, tmp_path):
    out = tmp_path / "out"
    out.mkdir(mode=0o700)
    (out / "stale").write_text("x")
    out.chmod(0o710)
    code, _, err = run("export", str(bert), str(out), "--force", "--exporter", "torchscript")
    assert code == 0, err
    assert out.stat().st_mode & 0o777 == 0o710
