"""The results schema, merging, and the pure renderers, against golden files.

The fixture rows are hand-written JSONL under ``tests/golden/render/input/``: two environments,
both exporters, failures at each stage, a timeout, a stale row a later run replaced, and an env
(transformers-latest) where Optimum cannot be imported. To accept a deliberate rendering change,
regenerate the golden outputs and review the diff::

    UPDATE_GOLDEN=1 pytest tests/render/test_render.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from modelexport.errors import UserInputError
from modelexport.render import (
    SCHEMA_VERSION,
    ExportOutcome,
    ParityCheck,
    ResultsSchemaError,
    Row,
    cli_render,
    load_results,
    merge,
    render_html,
    render_json,
    render_markdown,
)

GOLDEN = Path(__file__).parents[1] / "golden" / "render"
INPUT = GOLDEN / "input"
RENDERERS = {"RESULTS.md": render_markdown, "results.json": render_json, "index.html": render_html}

EXPECTED_STATUS = {
    ("optimum-latest", "bert-text-classification-torchscript"): "pass",
    ("optimum-latest", "bert-text-classification-dynamo"): "pass",
    ("optimum-latest", "bert-text-classification-optimum"): "pass",
    ("optimum-latest", "vit-image-classification-torchscript"): "pass",
    ("optimum-latest", "vit-image-classification-dynamo"): "fail",
    ("optimum-latest", "vit-image-classification-optimum"): "fail",
    ("optimum-latest", "clip-zero-shot-image-classification-torchscript"): "fail",
    ("transformers-latest", "bert-text-classification-torchscript"): "ort-only",
    ("transformers-latest", "bert-text-classification-dynamo"): "fail",
    ("transformers-latest", "bert-text-classification-optimum"): "n/a",
    ("transformers-latest", "vit-image-classification-torchscript"): "ort-only",
    ("transformers-latest", "vit-image-classification-dynamo"): "fail",
}


@pytest.fixture
def results():
    return load_results([INPUT])


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_rendering_matches_golden_file(results, name):
    rendered = RENDERERS[name](results)
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(rendered, encoding="utf-8", newline="\n")
    assert rendered == golden.read_text(encoding="utf-8"), f"{name} differs; see the module docstring"


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_renderers_are_pure(results, name):
    before = [row.to_dict() for row in results.rows]
    assert RENDERERS[name](results) == RENDERERS[name](load_results([INPUT]))
    assert [row.to_dict() for row in results.rows] == before


def test_each_fixture_row_gets_its_status(results):
    assert {row.key: row.status() for row in results.rows} == EXPECTED_STATUS


def test_merge_keeps_the_newest_row_per_env_and_case(results):
    kept = next(
        r for r in results.rows if r.key == ("optimum-latest", "bert-text-classification-torchscript")
    )
    assert kept.utc == "2026-11-24T10:00:01Z"
    assert kept.export.ok
    raw = sum(1 for path in INPUT.glob("*.jsonl") for line in path.read_text().splitlines() if line)
    assert len(results.rows) == raw - 1


def test_merge_breaks_time_ties_in_favour_of_the_later_row(results):
    row = results.rows[0]
    again = Row.from_dict({**row.to_dict(), "onnx_bytes": 1})
    assert merge([row, again]).rows[0].onnx_bytes == 1


def test_row_round_trips_through_dict(results):
    for row in results.rows:
        assert Row.from_dict(json.loads(json.dumps(row.to_dict()))) == row


def test_rows_in_results_json_read_back_as_rows(results):
    document = json.loads(render_json(results))
    assert document["schema_version"] == SCHEMA_VERSION
    assert [Row.from_dict(r) for r in document["rows"]] == results.rows
    assert [r["status"] for r in document["rows"]] == [r.status() for r in results.rows]


def test_results_json_names_environments_with_versions_machine_commit_and_time(results):
    document = json.loads(render_json(results))
    envs = {env["name"]: env for env in document["environments"]}
    assert set(envs) == {"optimum-latest", "transformers-latest"}
    assert envs["transformers-latest"]["versions"]["transformers"] == "5.23.0"
    assert "import fails" in envs["transformers-latest"]["versions"]["optimum"]
    assert envs["transformers-latest"]["optimum_available"] is False
    assert envs["optimum-latest"]["machine"]["cpu_count"] == 2
    assert document["commits"] == ["0123456789abcdef0123456789abcdef01234567"]
    assert document["generated_utc"] == "2026-11-24T11:00:30Z"
    assert document["summary"] == {"cells": 12, "pass": 4, "ort-only": 2, "fail": 5, "n/a": 1}


def test_other_schema_version_is_refused(results):
    data = {**results.rows[0].to_dict(), "schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(ResultsSchemaError, match="schema_version"):
        Row.from_dict(data)


def test_malformed_line_names_file_and_line(tmp_path, results):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(results.rows[0].to_dict()) + "\n" + '{"schema_version": 1, "case_id": "x"\n')
    with pytest.raises(ResultsSchemaError, match=r"broken\.jsonl:2"):
        load_results([path])


def test_row_missing_a_field_is_refused(results):
    data = results.rows[0].to_dict()
    del data["export"]
    with pytest.raises(ResultsSchemaError, match="malformed"):
        Row.from_dict(data)


def test_markdown_has_one_matrix_row_per_model_task_and_one_column_per_env_and_column(results):
    text = render_markdown(results)
    matrix = text.split("## Matrix")[1].split("##")[0].strip().splitlines()
    assert len(matrix) == 2 + 3  # header, rule, bert/clip/vit
    assert matrix[0].count("<br>") == 2 * 4  # 2 envs × (torchscript, dynamo, auto, optimum)
    vit = next(line for line in matrix if line.startswith("| vit |"))
    assert "❌ export" in vit and "❌ optimum parity 3.2e-03" in vit and "🔷 9.5e-07" in vit


def test_auto_is_torchscripts_cell_where_it_exported_and_matched_else_dynamos(results):
    for env in results.envs():
        for model, task in results.model_tasks():
            ts = results.cell(env, model, task, "torchscript")
            dy = results.cell(env, model, task, "dynamo")
            auto = results.cell(env, model, task, "auto")
            if ts is None:
                assert auto is None
            elif ts.export.ok and ts.ort_parity.ok:
                assert auto is ts
            else:
                assert auto is dy
    # vit in optimum-latest: dynamo failed to export, TorchScript passed, so auto passes
    assert results.cell("optimum-latest", "vit", "image-classification", "auto").status() == "pass"
    counts = results.column_counts()
    assert counts["optimum-latest"]["auto"] == {"pass": 2, "ort-only": 0, "fail": 1, "n/a": 0}
    assert counts["transformers-latest"]["dynamo"]["fail"] == 2


def test_markdown_lists_the_error_behind_every_failure(results):
    failures = render_markdown(results).split("## Failures")[1]
    for row in results.rows:
        if row.status() == "fail":
            stage, message = row.failure()
            assert f"`{row.case_id}` — **{stage}**: {message}" in failures
    assert "`transformers-latest` · Optimum cannot be imported: ImportError" in failures
    assert "stale failure" not in failures


def test_markdown_summary_counts_statuses(results):
    assert "**12 cells in 2 environments over 3 model × task rows from 3 models: 4 pass, 2 ort-only, " in (
        render_markdown(results)
    )


def _row(model: str, task: str, backend: str, env: str = "e", **checks: object) -> Row:
    """One hand-made row of ours (``checks``: export, ort_parity, versions, ...)."""
    return Row(
        case_id=f"{model}-{task}-{backend}",
        env=env,
        model=model,
        task=task,
        backend=backend,
        exporter="modelexport",
        **checks,  # type: ignore[arg-type]
    )


def test_markdown_escapes_pipes_inside_table_cells():
    row = _row(
        "m",
        "t",
        "torchscript",
        env="e|x",
        export=ExportOutcome(ok=True),
        ort_parity=ParityCheck(ok=True, max_abs_diff={"y": 0.0}),
        versions={"torch": "2|13"},
    )
    text = render_markdown(merge([row]))
    assert "e\\|x" in text and "2\\|13" in text


def test_an_export_failure_is_listed_without_the_source_path_the_row_already_names():
    error = (
        "'/root/.cache/modelexport/zoo/0a1b/gpt2-text-classification' (text-classification, dynamo): "
        "ConversionError: Failed to convert; caused by TypeError: int() argument. Fix: try --exporter torchscript."
    )
    row = _row("gpt2", "text-classification", "dynamo", export=ExportOutcome(False, "CaptureError", error))
    assert row.failure() == (
        "export",
        "CaptureError: ConversionError: Failed to convert; caused by TypeError: int() argument. "
        "Fix: try --exporter torchscript.",
    )
    assert "/root/.cache" not in render_markdown(merge([row]))


def test_html_is_self_contained(results):
    page = render_html(results)
    assert not re.search(r"https?://|<link\b|\bsrc=|@import|url\(", page)
    assert page.count("<script>") == 1 and "function apply()" in page


def test_html_has_a_row_per_cell_with_its_status_class(results):
    page = render_html(results)
    cells = page.split('<table id="cells"')[1].split("</table>")[0]
    statuses = re.findall(r'<tr data-status="([^"]+)"', cells)
    assert sorted(statuses) == sorted(EXPECTED_STATUS.values())
    assert cells.count('class="s-fail"') == 5 and cells.count('class="s-ort"') == 2


def test_cli_render_writes_the_three_files(tmp_path):
    written = cli_render(INPUT, tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(RENDERERS)
    assert (tmp_path / "out" / "RESULTS.md").read_text() == (GOLDEN / "RESULTS.md").read_text()
    assert not list((tmp_path / "out").glob(".*.tmp"))
    assert all(p.stat().st_mode & 0o044 == 0o044 for p in written), "published files must be readable"


def test_cli_render_refuses_an_empty_results_directory(tmp_path):
    with pytest.raises(UserInputError, match="no results rows"):
        cli_render(tmp_path, tmp_path / "out")


def test_short_commit_keeps_the_dirty_mark():
    from modelexport.render.markdown import short_commit

    assert short_commit("0123456789abcdef0123+dirty") == "0123456789ab+dirty"
    assert short_commit("0123456789abcdef0123") == "0123456789ab"
    assert short_commit(None) == "?"


def test_current_commit_is_dirty_for_code_changes_but_not_for_the_matrix_outputs(tmp_path, monkeypatch):
    """One env's rows and renders must not mark the next env's run dirty; any other change does."""
    import subprocess

    from modelexport.matrix.environment import current_commit

    for name in ("MODELEXPORT_COMMIT", "GITHUB_SHA"):  # these name the commit without asking git
        monkeypatch.delenv(name, raising=False)

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "matrix" / "results").mkdir(parents=True)
    files = [
        "src.py",
        "matrix/RESULTS.md",
        "matrix/results.json",
        "matrix/index.html",
        "matrix/results/e.jsonl",
    ]
    for name in files:
        (tmp_path / name).write_text("v1\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", "commit", "-q", "-m", "v1")
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    ).stdout.strip()
    for name in files[1:]:
        (tmp_path / name).write_text("v2\n")
    assert current_commit(tmp_path / "matrix") == sha
    (tmp_path / "src.py").write_text("v2\n")
    assert current_commit(tmp_path / "matrix") == f"{sha}+dirty"
