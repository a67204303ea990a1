"""``modelexport matrix render`` through the real command line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from modelexport.cli import main

GOLDEN = Path(__file__).parent / "golden" / "render"


def test_matrix_render_writes_the_published_files(tmp_path):
    result = CliRunner().invoke(
        main, ["matrix", "render", "--results", str(GOLDEN / "input"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "12 cells in 2 environments" in result.output
    for name in ("RESULTS.md", "results.json", "index.html"):
        assert (tmp_path / name).read_text(encoding="utf-8") == (GOLDEN / name).read_text(encoding="utf-8")


def test_matrix_render_without_results_exits_2_with_one_line(tmp_path):
    result = CliRunner().invoke(
        main, ["matrix", "render", "--results", str(tmp_path / "none"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "no results directory" in result.output
    assert not (tmp_path / "RESULTS.md").exists()
