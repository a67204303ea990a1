"""Tag survival, measured: each tool users run next, for real, on real exports; the counts a matrix
row records; what RESULTS.md makes of them."""

from __future__ import annotations

import pytest

from modelexport.hierarchy.survival import FILE_TOOLS, MERGED, measure, summary
from modelexport.render.markdown import render_markdown
from modelexport.render.records import survival_summary
from modelexport.render.results import Results
from modelexport.render.schema import TAG_SURVIVAL, ExportOutcome, ParityCheck, Row
from modelexport.render.survival import tally


def _row(model: str, backend: str, record: dict[str, object] | None) -> Row:
    """A passing text-classification cell of env ``e`` with that tag-survival record."""
    row = Row(
        f"{model}-text-classification-{backend}", "e", model, "text-classification", backend,
        "modelexport", ExportOutcome(ok=True),
        ort_parity=ParityCheck(ok=True, max_abs_diff={"logits": 1e-7}),
    )  # fmt: skip
    if record is not None:
        row.records[TAG_SURVIVAL] = record
    return row


@pytest.mark.slow
def test_every_file_tool_is_measured_and_restore_tags_every_node(zoo_export, tmp_path):
    export = zoo_export("bert", "text-classification", "torchscript")
    measured = measure(export.path, "bert", tmp_path / "work")
    assert list(measured["merge-decoders"]) == []  # no decoders to merge
    for tool in FILE_TOOLS:
        record = measured[tool]["model.onnx"]
        assert "error" not in record, (tool, record)
        assert record["tagged_after"] == record["nodes"] > 0 and record["after"] == 1.0
    # ONNX Runtime rewrites TorchScript's graph and drops every node's metadata as it does;
    # the quantizer keeps the tags of the nodes it leaves alone.
    assert measured["ort-basic"]["model.onnx"]["tagged_before"] == 0
    assert (
        0
        < measured["quantize-dynamic"]["model.onnx"]["tagged_before"]
        < measured["quantize-dynamic"]["model.onnx"]["nodes"]
    )
    assert list((tmp_path / "work").iterdir()) == []  # the tools' files are gone
    counts = summary(measured)
    assert set(counts) == set(FILE_TOOLS)
    assert counts["ort-basic"] == [
        measured["ort-basic"]["model.onnx"]["nodes"],
        0,
        measured["ort-basic"]["model.onnx"]["nodes"],
    ]


@pytest.mark.slow
def test_optimums_merge_of_our_two_decoders_is_measured(zoo_export, tmp_path):
    merged = zoo_export("t5", "text2text-generation-with-past", "torchscript")
    separate = zoo_export("t5", "text2text-generation-with-past", "torchscript", merge_decoders=False)
    assert (merged.path / MERGED).is_file()
    measured = measure(merged.path, "t5", tmp_path / "work", separate.path)
    record = measured["merge-decoders"][MERGED]
    assert record["tagged_after"] == record["nodes"] and record["tagged_before"] >= 0.99 * record["nodes"]
    assert set(measured["ort-basic"]) == {"encoder_model.onnx", "decoder_model_merged.onnx"}
    assert summary(measured)["merge-decoders"][0] == record["nodes"]


def test_a_tool_that_fails_is_its_error_and_the_others_still_count():
    measured = {
        "ort-basic": {"a.onnx": {"nodes": 10, "tagged_before": 0, "tagged_after": 10}},
        "transformers-optimizer": {
            "a.onnx": {"nodes": 4, "tagged_before": 4, "tagged_after": 4},
            "b.onnx": {"error": "KeyError: 'x'"},
        },
        "merge-decoders": {},
    }
    counts = summary(measured)
    assert counts == {"ort-basic": [10, 0, 10], "transformers-optimizer": "KeyError: 'x'"}
    assert survival_summary(counts) == "ort-basic 0% → 100%, transformers-optimizer failed (KeyError: 'x')"


def test_results_md_sums_the_records_node_weighted_per_env_and_backend():
    rows = [
        _row("bert", "torchscript", {"ort-basic": [100, 0, 100], "quantize-dynamic": [200, 150, 200]}),
        _row("gpt2", "torchscript", {"ort-basic": [300, 0, 300], "quantize-dynamic": "IndexError: y"}),
        _row("gpt2", "dynamo", {"ort-basic": [50, 25, 50]}),
    ]
    tallies = tally(rows)
    ts = tallies[("e", "torchscript")]
    assert ts.exports == 2 and ts.tools["ort-basic"].text() == "0% → 100% (2)"
    assert ts.tools["quantize-dynamic"].text() == "75% → 100% (1, 1 failed)"
    assert tallies[("e", "dynamo")].tools["ort-basic"].text() == "50% → 100% (1)"
    text = render_markdown(Results(rows))
    assert "## Tag survival" in text
    assert "| e | torchscript | 2 | 0% → 100% (2) | n/a | n/a | 75% → 100% (1, 1 failed) | n/a |" in text
    assert (
        "- `e` · torchscript · quantize-dynamic failed on 1: IndexError: y — gpt2 text-classification" in text
    )


def test_without_records_results_md_has_no_survival_section():
    row = _row("bert", "torchscript", None)
    assert TAG_SURVIVAL not in row.records and "## Tag survival" not in render_markdown(Results([row]))


def test_a_tools_errors_that_differ_only_in_names_and_numbers_are_one_cause():
    rows = [
        _row(
            "t5",
            "torchscript",
            {"transformers-optimizer": "KeyError: 'first_step::/model/decoder/Mul_output_0'"},
        ),
        _row(
            "bart",
            "torchscript",
            {"transformers-optimizer": "KeyError: 'first_step::/model/Cast_5_output_0'"},
        ),
        _row("swin", "dynamo", {"merge-decoders": "RuntimeError: Graph is not a DAG: len(graph.node)=461"}),
    ]
    text = render_markdown(Results(rows))
    assert (
        "transformers-optimizer failed on 2: KeyError: '…' (first: KeyError: "
        "'first_step::/model/Cast_5_output_0') — bart text-classification, t5 text-classification" in text
    )
    assert "merge-decoders failed on 1: RuntimeError: Graph is not a DAG: len(graph.node)=N (first: " in text
    assert "| e | dynamo | 1 | n/a | n/a | n/a | n/a | failed (1) |" in text
