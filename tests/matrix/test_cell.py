"""One real matrix cell end to end: zoo model, export, every check, through the forked runner."""

from __future__ import annotations

import pytest

from modelexport.matrix.cases import Case
from modelexport.matrix.cell import CellSpec
from modelexport.matrix.isolate import CellRunner


@pytest.fixture(scope="module")
def runner() -> CellRunner:
    return CellRunner(timeout=300)


def _spec(tmp_path, exporter: str = "modelexport", **kwargs) -> CellSpec:
    case = Case("bert", "text-classification", "torchscript", exporter, **kwargs)
    return CellSpec(case, "test", str(tmp_path))


@pytest.fixture(scope="module")
def bert_cell(runner, tmp_path_factory):
    """bert's TorchScript cell, run once: its row and its work directory."""
    work = tmp_path_factory.mktemp("bert-cell")
    return runner.run(_spec(work)), work


@pytest.mark.slow
def test_a_real_cell_exports_once_and_records_every_check(bert_cell):
    row, tmp_path = bert_cell
    assert row.status() == "pass", row.failure()
    assert row.export.ok and row.export.seconds > 0
    assert row.files.ok and row.onnx_bytes == (tmp_path / row.case_id / "model.onnx").stat().st_size
    assert set(row.ort_parity.max_abs_diff) == {"logits"} and row.ort_parity.max_abs_diff["logits"] < 1e-4
    assert (
        row.optimum_load.ok
        and row.optimum_parity.ok
        and (row.optimum_parity.atol, row.optimum_parity.rtol) == (1e-4, 1e-4)
    )
    assert row.hierarchy and row.hierarchy["nodes_total"] > 0
    tags = row.records["tags"]  # the tag checks of our export, on the model as the exporter loads it
    assert tags["ok"] is True and tags["nodes"] == row.hierarchy["nodes_total"] and tags["files"] == 1
    assert tags["sibling_groups"] == 1 and "first_divergence" not in row.records
    assert "tag_survival" not in row.records  # measured only where a run asks for it
    assert row.versions["torch"].startswith("2.13.0") and row.machine["cpu_count"]


@pytest.mark.slow
def test_optimum_exporter_cell_gets_the_same_checks(runner, tmp_path):
    row = runner.run(_spec(tmp_path, "optimum"))
    assert (row.case_id, row.status()) == ("bert-text-classification-optimum", "pass"), row.failure()
    assert row.files.ok and row.hierarchy is None and row.records == {}  # no tags to check
    assert row.optimum_parity.max_abs_diff["logits"] < 1e-4


@pytest.mark.slow
def test_a_difference_beyond_tolerance_is_a_recorded_ort_parity_failure(runner, bert_cell, tmp_path):
    other = bert_cell[1] / bert_cell[0].case_id  # another export of the model, as dynamo's cell gets
    spec = _spec(tmp_path, atol=0.0, rtol=0.0)
    row = runner.run(CellSpec(spec.case, spec.env, spec.workdir, other_export=str(other)))
    assert row.export.ok and row.status() == "fail"
    stage, message = row.failure()
    assert stage == "ort parity" and "'logits' max|Δ|" in message and "> atol 0" in message
    assert row.ort_parity.max_abs_diff["logits"] > 0
    # At atol = rtol = 0 some module's own nodes differ: the row names the first, found by the diff.
    divergence = row.records["first_divergence"]
    assert divergence["module"].startswith("bert.") and divergence["file"] == "model.onnx"
    assert divergence["local_max_abs"] > 0 and row.records["tags"]["ok"] is True
    # Given the other export, the tag checks compare where both put the weight ops (here: the same).
    assert row.records["tags"]["agreement"] == 1.0 and row.records["tags"]["agreement_matched"] >= 15
    assert "agreement" not in bert_cell[0].records["tags"]


@pytest.mark.parametrize("exporter", ["modelexport", "optimum"])
def test_a_model_type_this_transformers_lacks_is_not_run_and_says_why(monkeypatch, tmp_path, exporter):
    """A zoo architecture whose model type the env's transformers does not have (MCTCT on 5.x,
    Arcee on 4.48) cannot be built by any exporter: n/a with the reason, not an export failure."""
    import dataclasses

    import transformers

    from modelexport.matrix.cell import run_cell
    from modelexport.zoo import ARCHS

    monkeypatch.setitem(ARCHS, "bert", dataclasses.replace(ARCHS["bert"], model_type="not-a-model-type"))
    row = run_cell(_spec(tmp_path, exporter))
    assert row.status() == "n/a" and not (tmp_path / row.case_id).exists()
    assert row.export.error == f"transformers {transformers.__version__} has no model type 'not-a-model-type'"


def test_a_model_type_this_transformers_has_is_run():
    from modelexport.matrix.cell import _absent_model_type

    assert _absent_model_type("bert") is None and _absent_model_type("not-in-the-zoo") is None


@pytest.mark.slow
def test_a_cell_asked_for_tag_survival_measures_every_tool_and_leaves_only_its_export(runner, tmp_path):
    case = Case("t5", "text2text-generation-with-past", "torchscript", "modelexport")
    row = runner.run(CellSpec(case, "test", str(tmp_path), tag_survival=True))
    assert row.status() == "pass", row.failure()
    record = row.records["tag_survival"]
    assert set(record) >= {"ort-basic", "ort-extended", "quantize-dynamic", "merge-decoders"}, record
    for tool in ("ort-basic", "ort-extended", "quantize-dynamic", "merge-decoders"):
        nodes, _, after = record[tool]
        assert nodes > 0 and after == nodes, (tool, record[tool])
    assert record["ort-basic"][1] == 0  # ONNX Runtime's rewrite drops the metadata; restore_tags puts it back
    left = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert left == [row.case_id]  # the unmerged export and the tools' files are gone
