"""The results schema, merging, and the pure renderers, against golden files.

The fixture rows are hand-written JSONL under ``tests/golden/render/input/`` (schema version 1, read
as version 2): two environments, both exporters, failures at each stage, a timeout, a stale row a
later run replaced, and an env (transformers-latest) where Optimum cannot be imported. A
hand-written record (``expected/optimum-latest.txt``) has each kind of difference once;
transformers-latest has no record. To accept a deliberate rendering change,
regenerate the golden outputs and review the diff::

    UPDATE_GOLDEN=1 pytest tests/render/test_render.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from synthetic import UNSUPPORTED, unsupported

from modelexport.errors import UserInputError
from modelexport.render import (
    SCHEMA_VERSION,
    ExportOutcome,
    FilesCheck,
    LoadCheck,
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
from modelexport.render.compact import compact_text, read_rows
from modelexport.render.expected import read_records
from modelexport.render.htmldata import position

GOLDEN = Path(__file__).parents[1] / "golden" / "render"
INPUT = GOLDEN / "input"
EXPECTED = GOLDEN / "expected"
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


def _load():
    results = load_results([INPUT])
    return results.with_expected(read_records(EXPECTED, results.envs()))


@pytest.fixture
def results():
    return _load()


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
    assert RENDERERS[name](results) == RENDERERS[name](_load())
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


def test_results_json_lists_every_failure_with_stage_cause_and_record(results):
    document = json.loads(render_json(results))
    assert document["schema_version"] == 3
    failures = {(c["env"], c["cell"]): {**f, **c} for f in document["failures"] for c in f["cells"]}
    failing = {row.key: row for row in results.rows if row.status() == "fail"}
    assert set(failures) == set(failing)
    for key, row in failing.items():
        cause = failures[key]["cause"].replace("‹model›", failures[key]["model"])
        assert (failures[key]["stage"], cause, failures[key]["model"]) == (*row.failure(), row.model)
    assert failures[("optimum-latest", "vit-image-classification-dynamo")]["record"] == "regression"
    assert "record" not in failures[("transformers-latest", "vit-image-classification-dynamo")]


def test_results_json_names_the_cells_that_differ_from_the_record(results):
    record = json.loads(render_json(results))["record"]
    assert record["envs"] == ["optimum-latest"]
    assert {(c["cell"], c["verdict"]) for c in record["changes"]} == {
        ("bert-text-classification-torchscript", "new pass"),
        ("clip-zero-shot-image-classification-torchscript", "unrecorded"),
        ("vit-image-classification-dynamo", "regression"),
        ("vit-image-classification-optimum", "changed"),
    }


def test_other_schema_version_is_refused(results):
    data = {**results.rows[0].to_dict(), "schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(ResultsSchemaError, match="schema_version"):
        Row.from_dict(data)


def test_a_version_1_row_reads_as_a_version_2_row_without_seconds_or_records(results):
    first = json.loads((INPUT / "optimum-latest.jsonl").read_text().splitlines()[1])
    assert first["schema_version"] == 1 and "records" not in first
    row = Row.from_dict(first)
    assert (row.schema_version, row.seconds, row.records) == (2, None, {})
    assert row.to_dict()["schema_version"] == 2


def test_a_record_that_says_not_ok_fails_the_cell_at_a_stage_of_its_name():
    row = _row(
        "m",
        "t",
        "torchscript",
        export=ExportOutcome(ok=True),
        files=FilesCheck(ok=True),
        ort_parity=ParityCheck(ok=True, max_abs_diff={"y": 0.0}),
        optimum_load=LoadCheck(ok=True),
        optimum_parity=ParityCheck(ok=True, max_abs_diff={"y": 0.0}),
    )
    assert row.status() == "pass"
    row.records = {"divergence": {"first_module": "encoder.layer.1"}, "tags": {"ok": True}}
    assert row.status() == "pass", "a record without ok: false is information"
    row.records["tags"] = {"ok": False, "error": "3 nodes untagged"}
    assert (row.status(), row.failure()) == ("fail", ("tags", "3 nodes untagged"))
    assert Row.from_dict(json.loads(json.dumps(row.to_dict()))) == row


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


def test_markdown_has_a_table_per_env_with_a_row_per_model_task_and_a_column_per_column(results):
    text = render_markdown(results)
    matrix = text.split("## Matrix")[1].split("## Environments")[0]
    tables = matrix.split("### ")[1:]
    assert [t.splitlines()[0] for t in tables] == ["optimum-latest", "transformers-latest"]
    lines = [line for line in tables[0].splitlines() if line.startswith("|")]
    assert lines[0] == "| model | task | torchscript | dynamo | auto | optimum |"
    assert len(lines) == 2 + 3  # header, rule, bert/clip/vit
    vit = next(line for line in lines if line.startswith("| vit |"))
    assert "❌ export 🔻" in vit and "❌ optimum parity 3.2e-03 🔄" in vit and "✅ 1.1e-06 |" in vit


def test_markdown_marks_each_difference_from_the_record_and_lists_it(results):
    text = render_markdown(results)
    assert (
        "Against the record (matrix/expected/, 1 env): 3 of 7 cells as recorded; 1 regression, 1 new pass, "
        "1 changed, 1 not in the record." in text
    )
    changes = text.split("## Against the record")[1].split("## Matrix")[0]
    assert (
        "🔻 regression · `optimum-latest` · `vit-image-classification-dynamo` — was pass; now fails at export"
        in changes
    )
    assert (
        "🔺 new pass · `optimum-latest` · `bert-text-classification-torchscript` — was fail at export"
        in changes
    )
    assert "🆕 unrecorded · `optimum-latest` · `clip-zero-shot-image-classification-torchscript`" in changes
    failures = text.split("## Failures")[1]
    assert "**ort parity**: max|Δ| beyond tolerance: logits 2.10e-03\n" in failures  # no record: no label
    assert "data-dependent branch 🔻 *(regression)*" in failures


def test_markdown_without_a_record_has_no_marks_or_record_section():
    text = render_markdown(load_results([INPUT]))
    assert "Against the record" not in text and "🔻" not in text and "🔺" not in text


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
    assert "`transformers-latest` · Optimum does not run these cells: ImportError" in failures
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
    assert page.count("<script>") == 1 and "function draw()" in page
    assert page.count('<script type="application/json" id="matrix-data">') == 1


def _page_data(page: str) -> dict:
    return json.loads(page.split('id="matrix-data">')[1].split("</script>")[0].replace("<\\/", "</"))


def test_auto_counts_an_export_at_a_fixed_image_size_only_when_no_backend_takes_every_size():
    """As the export does: a backend's file fixed at the processor's image size is the last resort."""
    from modelexport.render.results import auto_row
    from modelexport.render.schema import FIXED_SIZES

    def cell(backend: str, ok: bool, fixed: bool = False) -> Row:
        records = {FIXED_SIZES: {"image_size": True}} if fixed else {}
        parity = ParityCheck(ok=ok, max_abs_diff={"y": 0.0 if ok else 1.0})
        return _row(
            "bit",
            "feature-extraction",
            backend,
            export=ExportOutcome(True),
            ort_parity=parity,
            records=records,
        )

    fixed_ts, dynamic_dy = cell("torchscript", True, fixed=True), cell("dynamo", True)
    assert auto_row({"torchscript": fixed_ts, "dynamo": dynamic_dy}) is dynamic_dy
    fixed_dy = cell("dynamo", True, fixed=True)
    assert auto_row({"torchscript": fixed_ts, "dynamo": fixed_dy}) is fixed_ts
    failing_dy = cell("dynamo", False)
    assert auto_row({"torchscript": fixed_ts, "dynamo": failing_dy}) is fixed_ts
    dynamic_ts = cell("torchscript", True)
    assert auto_row({"torchscript": dynamic_ts, "dynamo": fixed_dy}) is dynamic_ts
    failing_ts = cell("torchscript", False)
    assert auto_row({"torchscript": failing_ts, "dynamo": fixed_dy}) is fixed_dy
    assert auto_row({"torchscript": failing_ts, "dynamo": failing_dy}) is failing_dy
    assert auto_row({"torchscript": fixed_ts, "dynamo": None}) is None


def test_html_carries_every_cell_once_with_its_status_and_the_derived_auto_cells(results):
    data = _page_data(render_html(results))
    own = [c for c in data["cells"] if "a" not in c]
    statuses = sorted(data["statuses"][c["s"]] for c in own)
    assert statuses == sorted(EXPECTED_STATUS.values())
    autos = [c for c in data["cells"] if "a" in c]
    assert (
        len(autos) == 5
    )  # auto where a backend cell exists: bert, clip, vit in one env, bert, vit in the other
    for auto in autos:
        row, env, _ = position(data, auto)
        model, task = data["rows"][row]
        chosen = results.cell(data["envs"][env]["name"], model, task, "auto")
        source = data["cells"][auto["a"]]
        assert data["columns"][position(data, source)[2]] == chosen.column


def test_html_cell_data_has_the_error_versions_commit_seconds_and_record(results):
    data = _page_data(render_html(results))
    env = {e["name"]: n for n, e in enumerate(data["envs"])}
    columns = data["columns"]

    def cell(env_name, model, column):
        row = next(n for n, (m, _) in enumerate(data["rows"]) if m == model)
        return next(
            c for c in data["cells"] if position(data, c) == (row, env[env_name], columns.index(column))
        )

    vit = cell("optimum-latest", "vit", "dynamo")
    assert data["strings"][vit["g"]] == "export" and "data-dependent branch" in data["strings"][vit["m"]]
    assert data["verdicts"][vit["v"]] == "regression" and data["strings"][vit["x"]] == "pass"
    assert data["envs"][env["optimum-latest"]]["versions"]["transformers"] == "4.57.6"
    assert data["envs"][env["optimum-latest"]]["commit"] == "0123456789abcdef0123456789abcdef01234567"
    bert = cell("optimum-latest", "bert", "torchscript")
    assert (
        bert["t"] == 1.2 and bert["b"] == 412345 and [data["strings"][n] for n, _ in bert["o"]] == ["logits"]
    )
    assert "v" in bert and data["verdicts"][bert["v"]] == "new pass"
    assert "v" not in cell("optimum-latest", "bert", "dynamo")  # as recorded
    assert data["envs"][env["transformers-latest"]]["record"] is False


def test_html_lists_failures_with_a_link_to_their_cell(results):
    page = render_html(results)
    data = _page_data(page)
    items = re.findall(r'<li data-cell="(\d+)" data-env="([^"]+)"', page)
    assert len(items) == 5
    for index, env in items:
        assert data["envs"][position(data, data["cells"][int(index)])[1]]["name"] == env
        assert data["statuses"][data["cells"][int(index)]["s"]] == "fail"


def test_html_escapes_text_and_keeps_the_data_script_closed():
    row = _row(
        "m",
        "t",
        "torchscript",
        env="e",
        export=ExportOutcome(False, "CaptureError", "</script><script>alert(1)</script> <b>"),
    )
    page = render_html(merge([row]))
    assert "alert(1)</script>" not in page and "&lt;/script&gt;&lt;script&gt;alert(1)" in page
    data = page.split('id="matrix-data">')[1].split("</script>")[0]
    assert "<" not in data, "the data holds no '<', so nothing in it can close or open a tag"
    assert _page_data(page)["strings"][1].startswith("CaptureError: </script>")


def test_cli_render_writes_the_three_files(tmp_path):
    written = cli_render(INPUT, tmp_path / "out", EXPECTED).written
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
    (tmp_path / "matrix" / "expected").mkdir(parents=True)
    files = [
        "src.py",
        "matrix/RESULTS.md",
        "matrix/results.json",
        "matrix/index.html",
        "matrix/results/e.jsonl",
        "matrix/expected/e.txt",
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


def test_a_cause_shared_by_several_model_types_is_listed_once_with_its_cells():
    """Optimum's one sentence over model types (each named in it) is one failure entry in all three
    renders, the model type written ``‹model›``; a cause of one cell stays whole; the page fills the
    model type back in for a cell (in its data, the template is stored once)."""
    rows = [
        unsupported("altclip", "feature-extraction"),
        unsupported("altclip", "feature-extraction", env="f"),
        unsupported("bros", "token-classification"),
        unsupported("opt", "feature-extraction"),  # 'opt' stands inside no other word of the cause
        _row("m", "t", "dynamo", export=ExportOutcome(False, "CaptureError", "m failed")),
    ]
    results = merge(rows)
    template = UNSUPPORTED.format("‹model›")
    failures = render_markdown(results).split("## Failures")[1]
    assert f"- **export** on 3 cells: {template}" in failures
    assert (
        "  - `e`, `f` · `altclip-feature-extraction-optimum`\n  - `e` · `bros-token-classification-optimum`"
        in failures
    )
    assert "- `e` · `m-t-dynamo` — **export**: CaptureError: m failed" in failures
    assert "Trying to export a altclip" not in failures
    document = json.loads(render_json(results))
    shared = [f for f in document["failures"] if len(f["cells"]) > 1]
    assert [(f["cause"], len(f["cells"])) for f in shared] == [(template, 4)]
    assert {"env": "e", "cell": "bros-token-classification-optimum", "model": "bros"} in shared[0]["cells"]
    page = render_html(results)
    assert page.count('<li class="group">') == 1 and page.count("Trying to export a") == 2  # list and data
    data = _page_data(page)
    assert data["strings"].count(template) == 1


def test_a_cause_shared_by_model_types_round_trips_through_the_compact_file(tmp_path):
    """Stored once in the defaults' ``errors``; each row reads its own model type back in."""
    rows = [unsupported(m, "feature-extraction") for m in ("altclip", "bros", "opt")]
    rows.append(unsupported("solo", "fill-mask"))
    text = compact_text(rows)
    assert text.count("custom or unsupported architecture") == 1
    assert '"error":0' in text and '"errors":["' in text
    path = tmp_path / "e.jsonl"
    path.write_text(text)
    assert [r.to_dict() for r in read_rows(path)] == [
        r.to_dict() for r in sorted(rows, key=lambda r: r.model)
    ]
