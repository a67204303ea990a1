"""The matrix checks on an export directory: files, parity comparison, import probes."""

from __future__ import annotations

import numpy as np
import torch
import transformers

from modelexport.matrix.checks import Reference, check_files, compare, onnx_bytes, probe_import


def test_files_check_names_what_is_missing(tmp_path):
    source, export = tmp_path / "src", tmp_path / "out"
    source.mkdir()
    export.mkdir()
    for name in ("config.json", "tokenizer.json", "vocab.txt"):
        (source / name).write_text("{}")
    for name in ("model.onnx", "config.json"):
        (export / name).write_text("{}")
    assert check_files(export, source, "optimum").missing == ["tokenizer.json"]
    assert check_files(export, source, "modelexport").missing == ["export_metadata.json", "tokenizer.json"]
    (export / "tokenizer.json").write_text("{}")
    (export / "export_metadata.json").write_text("{}")
    assert check_files(export, source, "modelexport").ok


def test_onnx_bytes_counts_external_data(tmp_path):
    assert onnx_bytes(tmp_path) is None
    (tmp_path / "model.onnx").write_bytes(b"x" * 10)
    (tmp_path / "model.onnx_data").write_bytes(b"x" * 5)
    assert onnx_bytes(tmp_path) == 15


def _reference() -> Reference:
    outputs = {"logits": np.array([[1.0, 2.0]], dtype=np.float32), "extra": np.zeros(1)}
    return Reference({}, outputs, ("logits",))


def test_compare_records_max_abs_diff_and_passes_within_tolerance():
    check = compare(_reference(), {"logits": np.array([[1.00001, 2.0]])}, 1e-4, 1e-4)
    assert check.ok and check.error is None
    assert abs(check.max_abs_diff["logits"] - 1e-5) < 1e-7
    assert (check.atol, check.rtol) == (1e-4, 1e-4)


def test_compare_fails_beyond_tolerance_with_the_difference_in_the_error():
    check = compare(_reference(), {"logits": np.array([[1.01, 2.0]])}, 1e-4, 1e-4)
    assert check.ok is False and "max|Δ| 1.00e-02" in check.error


def test_compare_fails_on_a_missing_output_or_a_shape_mismatch():
    assert compare(_reference(), {}, 1e-4, 1e-4).error == "output 'logits' missing"
    check = compare(_reference(), {"logits": np.zeros((2, 2))}, 1e-4, 1e-4)
    assert check.ok is False and "shape [2, 2] != [1, 2]" in check.error


def test_probe_import_reports_why_a_module_or_attribute_does_not_import():
    assert probe_import("json:dumps") is None
    assert probe_import("json:no_such_name").startswith("AttributeError")
    assert probe_import("no_such_module_here").startswith("ModuleNotFoundError")


def test_feed_derives_position_ids_as_pytorch_does_and_names_what_it_cannot_provide():
    import torch

    reference = Reference({"input_ids": torch.zeros((2, 4), dtype=torch.long)}, {}, ("logits",))
    feed, missing = reference.feed(["input_ids", "position_ids", "past_key_values.0.key"])
    assert missing == ["past_key_values.0.key"]
    assert feed["position_ids"].tolist() == [[0, 1, 2, 3], [0, 1, 2, 3]]


def test_bart_reference_offers_the_decoder_tokens_bart_makes_itself_and_bert_none(zoo_dir):
    """Optimum's BART feature-extraction export takes decoder_input_ids; the check feeds the ones
    BART makes from input_ids when none are passed (shifted right), which give PyTorch's outputs."""
    from transformers.models.bart.modeling_bart import shift_tokens_right

    from modelexport.matrix.checks import pytorch_reference

    bart = pytorch_reference(zoo_dir("bart", "feature-extraction"), "feature-extraction")
    feed, missing = bart.feed(["input_ids", "attention_mask", "decoder_input_ids"])
    assert missing == []
    config = transformers.AutoConfig.from_pretrained(zoo_dir("bart", "feature-extraction"))
    expected = shift_tokens_right(
        bart.inputs["input_ids"], config.pad_token_id, config.decoder_start_token_id
    )
    assert torch.equal(feed["decoder_input_ids"], expected)
    bert = pytorch_reference(zoo_dir("bert", "feature-extraction"), "feature-extraction")
    assert bert.feed(["input_ids", "decoder_input_ids"])[1] == ["decoder_input_ids"]


def test_opt_reference_feeds_the_positions_opt_counts_over_its_mask(zoo_dir):
    """Optimum's OPT feature-extraction export takes position_ids; OPT derives them from the mask
    (padding at -1), not 0..n-1, so the check feeds those: the ones that give PyTorch's outputs."""
    from modelexport.matrix.checks import pytorch_reference

    opt = pytorch_reference(zoo_dir("opt", "feature-extraction"), "feature-extraction")
    mask = opt.inputs["attention_mask"]
    assert not bool(mask.all()), "the check inputs are padded"
    feed, missing = opt.feed(["input_ids", "attention_mask", "position_ids"])
    assert missing == []
    assert torch.equal(feed["position_ids"], torch.cumsum(mask, dim=1) * mask - 1)
    bert = pytorch_reference(zoo_dir("bert", "feature-extraction"), "feature-extraction")
    positions = bert.feed(["input_ids", "position_ids"])[0]["position_ids"]
    assert positions.tolist()[0] == list(range(bert.inputs["input_ids"].shape[1]))
    # Found by running the model again, so only for files that take them (ours of OPT do not).
    takes = {"input_ids", "attention_mask", "position_ids"}
    assert (
        "position_ids"
        in pytorch_reference(zoo_dir("opt", "feature-extraction"), "feature-extraction", takes=takes).derived
    )
    lean = pytorch_reference(
        zoo_dir("opt", "feature-extraction"), "feature-extraction", takes=takes - {"position_ids"}
    )
    assert lean.derived == {} and lean.outputs.keys() == opt.outputs.keys()


def test_parity_is_checked_on_both_of_the_exports_input_sets(zoo_dir, tmp_path):
    """The cell checks ONNX Runtime and Optimum's class on the export's two input sets (3 x 128 and
    1 x 7), as the export verifies: a difference on the second alone fails the check, says so, and
    its figure is the largest."""
    from modelexport import run_export
    from modelexport.matrix.checks import input_names, optimum_checks, ort_parity, pytorch_references

    src = zoo_dir("bert", "text-classification")
    out, _ = run_export(str(src), tmp_path / "out", exporter="torchscript")
    batch, single = pytorch_references(src, "text-classification", takes=input_names(out))
    assert (batch.name, single.name) == ("batch", "single")
    assert tuple(batch.inputs["input_ids"].shape) == (3, 128) and tuple(single.inputs["input_ids"].shape) == (
        1,
        7,
    )
    check = ort_parity(out, [batch, single], 1e-4, 1e-4)
    assert check.ok and check.max_abs_diff["logits"] < 1e-4
    single.outputs["logits"] = single.outputs["logits"] + 0.5  # PyTorch's figures, made wrong for one set
    check = ort_parity(out, [batch, single], 1e-4, 1e-4)
    assert check.ok is False and check.error.startswith("single inputs: 'logits' max|Δ| 5.0")
    assert abs(check.max_abs_diff["logits"] - 0.5) < 1e-3
    load, parity = optimum_checks(out, "text-classification", [batch, single])
    assert load.ok and parity.ok is False and parity.error.startswith("single inputs: 'logits'")
