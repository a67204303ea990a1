"""Bad options and bad files get one line and exit 2 before any work, never a traceback; what each
backend did is said when every backend fails; published text carries no machine paths.

Options are checked before the model is even looked at: each case below passes a model path that
does not exist, so an option error (not "no such directory") shows that no work was done.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner

import modelexport
from modelexport.cli import main
from modelexport.errors import UserInputError, scrub_paths
from modelexport.graph import STACK_TRACE, walk


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def one_error_line(stderr: str) -> str:
    """The one error line; besides it, stderr holds only the export's progress (``  load ...``)."""
    assert "Traceback" not in stderr, stderr
    lines = [
        line for line in stderr.splitlines() if line.strip() and not re.fullmatch(r"  \S.* \.\.\.", line)
    ]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and len(lines) == 1, stderr
    return errors[0]


NO_MODEL = "/nonexistent/model-dir"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--opset", "3"], "--opset 3"),
        (["--opset", "-5"], "--opset -5"),
        (["--opset", "0"], "--opset 0"),
        (["--opset", "99"], "--opset 99"),
        (["--opset", "13", "--exporter", "dynamo"], "dynamo 14-"),
        (["--opset", "21", "--exporter", "torchscript"], "torchscript 7-20"),
        (["--atol", "-1"], "--atol must be a number >= 0"),
        (["--atol", "nan"], "--atol must be a number >= 0"),
        (["--rtol", "-0.5"], "--rtol must be a number >= 0"),
        (["--atol", "abc"], "--atol"),
        (["--task", "no-such-task"], "unsupported task"),
        (["--exporter", "onnxscript"], "--exporter"),
    ],
)
def test_bad_options_are_refused_before_any_work(tmp_path, args, needle):
    code, _, err = run("export", NO_MODEL, str(tmp_path / "out"), *args)
    assert code == 2
    line = one_error_line(err)
    assert needle in line and "no such directory" not in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"atol": "1e-4"}, "atol"),
        ({"rtol": None}, "rtol"),
        ({"atol": float("nan")}, "atol"),
        ({"opset": 17.5}, "opset"),
        ({"task": 3}, "task"),
    ],
)
def test_the_api_refuses_bad_values_with_the_documented_errors(tmp_path, kwargs, needle):
    with pytest.raises(UserInputError, match=needle):
        modelexport.export_with_config(NO_MODEL, tmp_path / "out", **kwargs)


@pytest.mark.parametrize("output", [None, 5, b"bytes", ""])
def test_the_api_refuses_an_output_that_is_not_a_path(output):
    with pytest.raises(UserInputError, match="output directory must be a path"):
        modelexport.export_with_config(NO_MODEL, output)  # type: ignore[arg-type]


@pytest.mark.parametrize("directory", [None, 5, "/nonexistent/export"])
def test_validate_refuses_what_is_not_an_export_directory(directory):
    with pytest.raises(UserInputError):
        modelexport.validate_optimum_compatibility(directory)  # type: ignore[arg-type]


def test_an_opset_torchscript_alone_writes_is_exported_with_it_and_recorded_as_written(zoo_dir, tmp_path):
    """auto with --opset 13: dynamo cannot write 13, so TorchScript alone is tried; the file and the
    metadata both say 13 (the metadata used to claim what was asked while the file said otherwise).
    ResNet: BERT's attention (scaled_dot_product_attention) needs opset 14."""
    src = zoo_dir("resnet", "image-classification")
    code, _, err = run("export", str(src), str(tmp_path / "out"), "--opset", "13")
    assert code == 0, err
    meta = json.loads((tmp_path / "out" / "export_metadata.json").read_text())
    model = onnx.load(str(tmp_path / "out" / "model.onnx"))
    written = {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")}
    assert meta["opset"] == 13 and written == {13} and meta["exporter"] == "torchscript"


def test_dynamo_writes_the_opset_it_is_asked_for(zoo_dir, tmp_path):
    src = zoo_dir("bert", "text-classification")
    code, _, err = run("export", str(src), str(tmp_path / "out"), "--opset", "17", "--exporter", "dynamo")
    assert code == 0, err
    meta = json.loads((tmp_path / "out" / "export_metadata.json").read_text())
    model = onnx.load(str(tmp_path / "out" / "model.onnx"))
    assert meta["opset"] == 17 and {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {
        17
    }


# --------------------------------------------------------------------------- what each backend did


def test_when_every_backend_fails_the_error_says_what_each_did(router_dir, tmp_path):
    code, _, err = run("export", str(router_dir), str(tmp_path / "out"))
    assert code == 1
    line = one_error_line(err)
    assert line.startswith("error: export failed:")
    assert "torchscript: verify failed:" in line and "dynamo: capture failed:" in line
    assert "try --exporter torchscript" not in line
    assert list(tmp_path.iterdir()) == []


def test_a_graph_with_a_traced_size_baked_in_fails_verification(granitemoe_dir, tmp_path):
    """Granite-MoE's experts: TorchScript's graph keeps the traced inputs' routing sizes; ONNX Runtime
    cannot run it at another shape, which verification finds before anything is written."""
    code, _, err = run("export", str(granitemoe_dir), str(tmp_path / "out"), "--exporter", "torchscript")
    assert code == 1
    line = one_error_line(err)
    assert "model.onnx on its 'first" in line and "ONNX Runtime cannot run the graph" in line
    assert list(tmp_path.iterdir()) == []


def test_auto_moves_on_to_dynamo_when_torchscripts_graph_fails_verification(granitemoe_dir, tmp_path):
    code, _, err = run("export", str(granitemoe_dir), str(tmp_path / "out"))
    assert code == 0, err
    meta = json.loads((tmp_path / "out" / "export_metadata.json").read_text())
    assert meta["exporter"] == "dynamo"
    assert meta["exporter_fallback_from"].startswith("verify failed:")
    assert {c["check"] for c in meta["verification"]["checks"]} == {
        "first",
        "cached",
        "first-single",
        "cached-single",
    }


def test_every_verified_input_set_is_recorded(zoo_dir, tmp_path):
    out, status = modelexport.run_export(str(zoo_dir("bert", "text-classification")), tmp_path / "out")
    checks = json.loads((out / "export_metadata.json").read_text())["verification"]["checks"]
    shapes = {c["check"]: c["input_shapes"]["input_ids"] for c in checks}
    assert shapes == {"batch": [3, 128], "single": [1, 7]}
    assert all(c["ok"] and c["seconds"] >= 0 for c in checks)
    recorded = json.loads((out / "export_metadata.json").read_text())["verification"]
    assert json.loads(json.dumps(status.verification)) == recorded


# --------------------------------------------------------------------------- bad files


def _files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "empty.onnx": b"",
        "random.onnx": random.Random(0).randbytes(4000),
        "empty-object.json": b"{}",
        "list.json": b"[]",
        "null.json": b"null",
        "wrong-shape.json": b'{"schema_version": 1, "modules": 5, "nodes": {}}',
        "not-json.json": b"{ nope",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in files}


def test_hierarchy_refuses_what_is_not_an_export_with_one_line(tmp_path, zoo_dir):
    exported = tmp_path / "exported"
    modelexport.run_export(str(zoo_dir("bert", "text-classification")), exported)
    cases = [*_files(tmp_path).values(), exported / "export_metadata.json", tmp_path / "missing"]
    for path in cases:
        code, _, err = run("hierarchy", str(path))
        assert code == 2, (path.name, err)
        line = one_error_line(err)
        assert "not an ONNX model" in line or "not a hierarchy.json" in line or "does not exist" in line, line


def test_add_config_refuses_a_file_that_is_not_an_onnx_model(tmp_path, zoo_dir):
    src = zoo_dir("bert", "text-classification")
    for path in (tmp_path / "empty.onnx", tmp_path / "random.onnx"):
        _files(tmp_path)
        code, _, err = run("add-config", str(path), str(src))
        assert code == 2 and "not an ONNX model" in one_error_line(err)
        assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".json") == [
            "empty.onnx",
            "random.onnx",
        ]


def test_a_fuzzed_file_is_one_line_and_exit_2_for_every_command_that_reads_files(tmp_path, zoo_dir):
    """Random bytes, truncations of a real export's files and wrong JSON shapes, 60 seeded cases."""
    exported = tmp_path / "exported"
    modelexport.run_export(str(zoo_dir("bert", "text-classification")), exported, exporter="torchscript")
    real = {
        "model.onnx": (exported / "model.onnx").read_bytes(),
        "hierarchy.json": (exported / "hierarchy.json").read_bytes(),
    }
    rng = random.Random(1)
    for i in range(60):
        name = rng.choice(sorted(real))
        data = real[name]
        kind = i % 3
        if kind == 0:
            data = rng.randbytes(rng.randint(0, 2000))
        elif kind == 1:
            data = data[: rng.randint(0, min(len(data) - 1, 5000))]
        else:
            data = json.dumps(
                rng.choice([[], {}, None, 1, "x", {"schema_version": 1}, {"nodes": []}])
            ).encode()
        case = tmp_path / f"case{i}"
        case.mkdir()
        target = case / (name if kind != 2 else "hierarchy.json")
        target.write_bytes(data)
        code, _, err = run("hierarchy", str(target))
        assert code == 2, (i, kind, err)
        one_error_line(err)
        if target.suffix == ".onnx":
            code, _, err = run("add-config", str(target), str(zoo_dir("bert", "text-classification")))
            assert code == 2, (i, kind, err)
            one_error_line(err)
            assert sorted(p.name for p in case.iterdir()) == [target.name]
        code, _, err = run("validate", str(case))
        assert code in (1, 2), (i, kind, err)
        one_error_line(err)


def test_a_truncated_safetensors_file_is_one_line_with_a_fix(zoo_dir, tmp_path):
    import shutil

    src = tmp_path / "model"
    shutil.copytree(zoo_dir("bert", "text-classification"), src)
    weights = src / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    code, _, err = run("export", str(src), str(tmp_path / "out"))
    assert code == 2
    line = one_error_line(err)
    assert "truncated" in line and "Fix:" in line and "(task not yet known, auto)" not in line


def test_a_malicious_pickle_is_refused_without_running_it_or_a_warning(zoo_dir, tmp_path):
    import pickle
    import shutil

    src = tmp_path / "model"
    shutil.copytree(zoo_dir("bert", "text-classification"), src)
    (src / "model.safetensors").unlink()
    marker = tmp_path / "PWNED"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (src / "pytorch_model.bin").write_bytes(pickle.dumps({"x": Evil()}, protocol=4))
    code, _, err = run("export", str(src), str(tmp_path / "out"))
    assert code == 2
    line = one_error_line(err)  # no UserWarning from torch's unpickler beside it
    assert "Python objects besides tensors" in line and "Fix:" in line
    assert not marker.exists()


# --------------------------------------------------------------------------- --debug and prefixes


def test_debug_shows_the_traceback_and_keeps_the_exit_code(tmp_path):
    result = CliRunner().invoke(main, ["--debug", "export", NO_MODEL, str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "error: input failed: no such directory" in result.stderr


@pytest.mark.parametrize("command", ["validate", "hierarchy"])
def test_validate_and_hierarchy_honour_debug(tmp_path, command):
    result = CliRunner().invoke(main, ["--debug", command, str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and result.stderr.count("error:") == 1


def test_zoo_build_into_a_path_it_cannot_create_says_so(tmp_path):
    (tmp_path / "a-file").write_text("x")
    code, _, err = run("zoo", "build", "bert", str(tmp_path / "a-file" / "model"))
    assert code == 2
    line = one_error_line(err)
    assert "cannot create" in line and "ArchSpec" not in line


def test_offline_add_config_with_a_hub_id_says_the_hub_is_unreachable(tmp_path, zoo_dir):
    exported = tmp_path / "exported"
    modelexport.run_export(str(zoo_dir("bert", "text-classification")), exported, exporter="torchscript")
    code, _, err = run("add-config", str(exported / "model.onnx"), "some-org/some-model", "--force")
    assert code == 2 and "unreachable" in one_error_line(err)


# --------------------------------------------------------------------------- no machine paths


def test_dynamo_exports_carry_no_absolute_paths_of_this_machine(zoo_dir, tmp_path):
    out, _ = modelexport.run_export(
        str(zoo_dir("bert", "text-classification")), tmp_path / "out", exporter="dynamo"
    )
    model = onnx.load(str(out / "model.onnx"))
    traces = [p.value for r in walk(model.graph) for p in r.node.metadata_props if p.key == STACK_TRACE]
    assert traces, "the dynamo exporter writes stack traces"
    assert not any(sys.prefix in t or "site-packages" in t for t in traces)
    assert any('File "transformers/models/bert/modeling_bert.py"' in t for t in traces)


def test_published_text_loses_package_zoo_and_home_paths():
    text = (
        "ImportError: cannot import name 'x' from 'torch.onnx.a' "
        "(/work/main/.tox/optimum-1.27/lib/python3.11/site-packages/torch/onnx/a.py); "
        f"'{Path.home()}/.cache/modelexport/zoo/926dd6e722fd1eae/bert-fill-mask'; {Path.home()}/notes.txt"
    )
    assert scrub_paths(text) == (
        "ImportError: cannot import name 'x' from 'torch.onnx.a' (torch/onnx/a.py); "
        "'<zoo>/bert-fill-mask'; ~/notes.txt"
    )
