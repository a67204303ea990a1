"""``modelexport matrix render`` through the real command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from modelexport.cli import main
from modelexport.render import load_results
from modelexport.render.compact import compact_text, read_rows

GOLDEN = Path(__file__).parent / "golden" / "render"


def _render(results: Path, out: Path, *extra: str):
    args = [
        "matrix",
        "render",
        "--results",
        str(results),
        "--out",
        str(out),
        "--expected",
        str(GOLDEN / "expected"),
    ]
    return CliRunner().invoke(main, [*args, *extra])


def test_matrix_render_writes_the_published_files(tmp_path):
    result = _render(GOLDEN / "input", tmp_path)
    assert result.exit_code == 0, result.output
    assert "12 cells in 2 environments" in result.output
    assert (
        "Against the record (matrix/expected/, 1 env): 3 of 7 cells as recorded; 1 regression"
        in result.output
    )
    for name in ("RESULTS.md", "results.json", "index.html"):
        assert (tmp_path / name).read_text(encoding="utf-8") == (GOLDEN / name).read_text(encoding="utf-8")


def test_matrix_render_without_results_exits_2_with_one_line(tmp_path):
    result = CliRunner().invoke(
        main, ["matrix", "render", "--results", str(tmp_path / "none"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "no results directory" in result.output
    assert not (tmp_path / "RESULTS.md").exists()


def test_render_merges_shard_files_and_consolidate_folds_them_into_one_file_per_env(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    rows = load_results([GOLDEN / "input"]).rows
    latest = [r for r in rows if r.env == "optimum-latest"]
    stale = json.loads(json.dumps(latest[0].to_dict()))
    stale["utc"], stale["export"] = "2000-01-01T00:00:00Z", {"ok": False, "error": "stale", "error_type": "X"}
    (results / "optimum-latest.jsonl").write_text(json.dumps(stale) + "\n")  # an older full run
    (results / "optimum-latest.shard-1-of-2.jsonl").write_text(compact_text(latest[:3]))
    (results / "optimum-latest.shard-2-of-2.jsonl").write_text(compact_text(latest[3:]))
    shutil.copy(GOLDEN / "input" / "transformers-latest.jsonl", results)

    result = _render(results, tmp_path / "a")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a" / "RESULTS.md").read_text() == (GOLDEN / "RESULTS.md").read_text()
    assert len(list(results.glob("*.shard-*.jsonl"))) == 2, "render alone leaves the results as they are"

    result = _render(results, tmp_path / "b", "--consolidate")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in results.iterdir()) == ["optimum-latest.jsonl", "transformers-latest.jsonl"]
    assert "removed" in result.output and "optimum-latest.shard-1-of-2.jsonl" in result.output
    merged = read_rows(results / "optimum-latest.jsonl")
    assert sorted(r.case_id for r in merged) == sorted(r.case_id for r in latest)
    assert (tmp_path / "b" / "index.html").read_text() == (GOLDEN / "index.html").read_text()
    assert _render(results, tmp_path / "c").exit_code == 0
    assert (tmp_path / "c" / "RESULTS.md").read_text() == (GOLDEN / "RESULTS.md").read_text()
