"""The compact results file: what it keeps, what it shares in its defaults lines, how it reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelexport.render import ResultsSchemaError, load_results
from modelexport.render.compact import compact_lines, compact_text, parse_lines, read_rows
from modelexport.render.schema import ExportOutcome, FilesCheck, ParityCheck, Row

INPUT = Path(__file__).parents[1] / "golden" / "render" / "input"


@pytest.fixture
def rows() -> list[Row]:
    return load_results([INPUT]).rows


def _same_but_figures(a: Row, b: Row) -> None:
    """Everything equal except max|Δ| (three significant digits) and the tag summary (node counts)."""
    for name in ("case_id", "env", "export", "files", "optimum_load", "versions", "machine", "commit", "utc"):
        assert getattr(a, name) == getattr(b, name), name
    assert (a.status(), a.failure(), a.seconds, a.records) == (b.status(), b.failure(), b.seconds, b.records)
    for check in ("ort_parity", "optimum_parity"):
        x, y = getattr(a, check), getattr(b, check)
        assert (x.ok, x.error, x.atol, x.rtol) == (y.ok, y.error, y.atol, y.rtol)
        assert x.max_abs_diff.keys() == y.max_abs_diff.keys()
        for name, diff in x.max_abs_diff.items():
            assert y.max_abs_diff[name] == pytest.approx(diff, rel=5e-3)


def test_compact_rows_read_back_as_the_same_rows(rows):
    back = list(parse_lines(compact_lines(rows), "x"))
    key = lambda r: r.key  # noqa: E731
    assert [r.key for r in sorted(back, key=key)] == [r.key for r in sorted(rows, key=key)]
    for a, b in zip(sorted(rows, key=key), sorted(back, key=key), strict=True):
        _same_but_figures(a, b)


def test_compact_form_is_a_fraction_of_the_full_rows(rows):
    full = sum(len(json.dumps(r.to_dict())) + 1 for r in rows)
    assert len(compact_text(rows)) < full / 2


def test_each_env_and_exporter_gets_a_defaults_line_and_rows_omit_what_it_says(rows):
    lines = [json.loads(line) for line in compact_lines(rows)]
    defaults = [line["defaults"] for line in lines if "defaults" in line]
    assert [(d["env"], d["exporter"]) for d in defaults] == [
        ("optimum-latest", "modelexport"),
        ("optimum-latest", "optimum"),
        ("transformers-latest", "modelexport"),
        ("transformers-latest", "optimum"),
    ]
    assert defaults[0]["versions"]["transformers"] == "4.57.6"
    row_lines = [line for line in lines if "defaults" not in line]
    assert all("case_id" not in r and "schema_version" not in r and "env" not in r for r in row_lines)
    assert all("versions" not in r and "machine" not in r for r in row_lines)


def test_rows_are_sorted_one_per_line_by_env_exporter_model_task_and_column(rows):
    lines = compact_lines(rows)
    order = [
        (r.get("model"), r.get("task"), r.get("backend")) for r in map(json.loads, lines[1:]) if "model" in r
    ]
    assert order[:3] == [
        ("bert", "text-classification", "dynamo"),
        ("bert", "text-classification", "torchscript"),
        ("clip", "zero-shot-image-classification", "torchscript"),
    ]


def _row(commit: str, files_ok: bool | None, utc: str) -> Row:
    return Row(
        case_id=f"m-t-torchscript-{commit}",
        env="e",
        model=f"m{commit}",
        task="t",
        backend="torchscript",
        exporter="modelexport",
        export=ExportOutcome(ok=True, seconds=1.0),
        files=FilesCheck(ok=files_ok),
        ort_parity=ParityCheck(ok=True, max_abs_diff={"y": 1.23456e-7}, atol=1e-4, rtol=1e-4),
        commit=commit,
        utc=utc,
    )


def test_a_row_keeps_what_differs_from_the_defaults_even_a_schema_default():
    rows = [_row("a", True, "t1"), _row("a", True, "t2"), _row("b", None, "t3")]
    lines = [json.loads(line) for line in compact_lines(rows)]
    assert lines[0]["defaults"]["commit"] == "a" and lines[0]["defaults"]["files"] == {"ok": True}
    odd = next(line for line in lines if line.get("model") == "mb")
    assert odd["commit"] == "b" and odd["files"] == {"ok": None}
    back = {r.model: r for r in parse_lines(compact_lines(rows), "x")}
    assert back["mb"].commit == "b" and back["mb"].files.ok is None and back["ma"].files.ok is True
    assert back["ma"].ort_parity.max_abs_diff == {"y": 1.23e-7}


def test_a_full_row_appended_to_a_compact_file_reads_as_itself(tmp_path, rows):
    path = tmp_path / "e.jsonl"
    extra = _row("z", False, "t9")
    path.write_text(compact_text(rows) + json.dumps(extra.to_dict()) + "\n")
    back = read_rows(path)
    assert len(back) == len(rows) + 1 and back[-1] == extra


def test_a_malformed_line_names_the_file_and_line(tmp_path, rows):
    path = tmp_path / "e.jsonl"
    lines = compact_lines(rows)
    lines[2] = lines[2][:-1]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ResultsSchemaError, match=r"e\.jsonl:3"):
        read_rows(path)
    path.write_text('{"schema_version": 2, "defaults": {"env": "e"}}\n["not", "an", "object"]\n')
    with pytest.raises(ResultsSchemaError, match=r"e\.jsonl:2: a results line must be a JSON object"):
        read_rows(path)


def test_the_tag_summary_keeps_node_counts_and_recomputes_its_fraction():
    row = _row("a", True, "t")
    row.hierarchy = {
        "backend": "torchscript",
        "nodes_total": 10,
        "nodes_from_source": 7,
        "nodes_inherited": 3,
        "nodes_unresolved": 0,
        "nodes_on_root": 0,
        "source_fraction": 0.7,
        "modules_total": 5,
        "modules_with_nodes": 4,
    }
    line = json.loads(compact_lines([row])[1])
    assert line["hierarchy"] == [10, 7, 3]  # NODE_COUNTS order, trailing zeros left out
    back = next(parse_lines(compact_lines([row]), "x"))
    assert back.hierarchy == {
        "backend": "torchscript",
        "nodes_total": 10,
        "nodes_from_source": 7,
        "nodes_inherited": 3,
        "nodes_unresolved": 0,
        "nodes_on_root": 0,
        "source_fraction": 0.7,
    }


def test_optimum_figures_equal_to_onnx_runtimes_are_written_once_and_read_back_whole():
    same, other = _row("a", True, "t"), _row("b", True, "t")
    same.optimum_parity = ParityCheck(ok=True, max_abs_diff={"y": 1.23456e-7}, atol=1e-4, rtol=1e-4)
    other.optimum_parity = ParityCheck(ok=True, max_abs_diff={"y": 9.9e-7}, atol=1e-4, rtol=1e-4)
    lines = {line.get("model"): line for line in map(json.loads, compact_lines([same, other]))}
    assert lines["ma"]["optimum_parity"]["max_abs_diff"] == "="
    assert lines["mb"]["optimum_parity"]["max_abs_diff"] == {"y": 9.9e-7}
    back = {r.model: r for r in parse_lines(compact_lines([same, other]), "x")}
    assert back["ma"].optimum_parity.max_abs_diff == back["ma"].ort_parity.max_abs_diff == {"y": 1.23e-7}
    assert back["mb"].optimum_parity.max_abs_diff == {"y": 9.9e-7}


def test_a_rows_time_is_written_as_seconds_after_the_groups_earliest_and_read_back_exactly():
    times = ["2026-12-01T06:19:38Z", "2026-11-30T23:59:59Z", "2026-12-01T08:00:00Z", "", "not a time"]
    rows = [_row(str(n), True, utc) for n, utc in enumerate(times)]
    lines = [json.loads(line) for line in compact_lines(rows)]
    assert lines[0]["defaults"]["utc"] == "2026-11-30T23:59:59Z"
    offsets = {line["model"]: line.get("utc") for line in lines[1:]}
    assert offsets == {"m0": 22779, "m1": 0, "m2": 28801, "m3": "", "m4": "not a time"}
    back = {r.model: r.utc for r in parse_lines(compact_lines(rows), "x")}
    assert back == {f"m{n}": utc for n, utc in enumerate(times)}
