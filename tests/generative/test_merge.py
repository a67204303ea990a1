"""Merged decoders: an encoder-decoder with past writes one decoder_model_merged.onnx, as Optimum's
exports do: valid ONNX, both branches verified and tagged, the decoder's weights stored once, and
loaded by ORTModelForSeq2SeqLM without its missing-file warning, generating PyTorch's tokens."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import transformers

from modelexport import run_export
from modelexport.graph import walk
from modelexport.hierarchy import KEY_MODULE, KEY_SOURCE

TASK = "text2text-generation-with-past"
MERGED = "decoder_model_merged.onnx"


@pytest.fixture(scope="module", params=[("t5", "torchscript"), ("bart", "dynamo"), ("marian", "torchscript")])
def exported(request, zoo_dir, tmp_path_factory) -> tuple[Path, Path, dict]:
    name, backend = request.param
    src = zoo_dir(name, TASK)
    out, _ = run_export(
        str(src), tmp_path_factory.mktemp(f"{name}-{backend}") / "out", task=TASK, exporter=backend
    )
    return src, out, json.loads((out / "export_metadata.json").read_text())


def test_the_merged_file_is_valid_onnx_with_optimums_names(exported):
    _, out, meta = exported
    assert meta["onnx_files"] == ["encoder_model.onnx", MERGED]
    assert sorted(p.name for p in out.glob("*.onnx")) == ["decoder_model_merged.onnx", "encoder_model.onnx"]
    model = onnx.load(str(out / MERGED))
    onnx.checker.check_model(model)
    inputs = [v.name for v in model.graph.input]
    assert inputs[-1] == "use_cache_branch" and "encoder_hidden_states" in inputs
    assert any(n.startswith("past_key_values.") and n.endswith(".encoder.key") for n in inputs)
    outputs = [v.name for v in model.graph.output]
    assert (
        outputs[0] == "logits"
        and any(".encoder." in n for n in outputs)
        and any(".decoder." in n for n in outputs)
    )
    assert [n.op_type for n in model.graph.node] == ["If"]


def test_both_branches_are_verified_on_both_input_sets(exported):
    _, _, meta = exported
    checks = {c["check"]: c for c in meta["verification"]["checks"] if c["file"] == MERGED}
    assert set(checks) == {"first", "cached", "first-single", "cached-single"}
    assert all(c["ok"] and c["max_abs_diff"] <= 1e-4 for c in checks.values())
    assert checks["first"]["input_shapes"]["use_cache_branch"] == [1]
    assert checks["first"]["input_shapes"]["past_key_values.0.decoder.key"][2] == 0  # the empty past


def test_every_node_of_both_branches_is_tagged_and_in_hierarchy_json(exported):
    _, out, _ = exported
    model = onnx.load(str(out / MERGED))
    refs = walk(model.graph)
    branches = {r.graph.rsplit("/", 1)[-1] for r in refs if r.graph != "main"}
    assert branches == {"then_branch", "else_branch"}
    for ref in refs:
        tags = {p.key: p.value for p in ref.node.metadata_props}
        assert KEY_MODULE in tags and KEY_SOURCE in tags, (ref.graph, ref.node.op_type)
    per_branch = {
        b: {
            t.value for r in refs if r.graph.endswith(b) for t in r.node.metadata_props if t.key == KEY_MODULE
        }
        for b in branches
    }
    assert all(any("decoder" in m for m in modules) for modules in per_branch.values())
    sidecar = json.loads((out / "decoder_model_merged.hierarchy.json").read_text())
    assert len(sidecar["nodes"]) == len(refs)
    assert {v.get("graph", "main").rsplit("/", 1)[-1] for v in sidecar["nodes"].values()} == {
        "main",
        *branches,
    }


def test_the_decoders_weights_are_stored_once(exported, tmp_path):
    src, out, meta = exported
    separate, _ = run_export(
        str(src), tmp_path / "separate", task=TASK, exporter=meta["exporter"], merge_decoders=False
    )

    def weight_bytes(path: Path) -> int:
        return sum(t.ByteSize() for t in onnx.load(str(path)).graph.initializer)

    first, past = (
        weight_bytes(separate / "decoder_model.onnx"),
        weight_bytes(separate / "decoder_with_past_model.onnx"),
    )
    merged = weight_bytes(out / MERGED)
    assert merged < first + past
    assert merged <= max(first, past) * 1.05  # the few constants the two graphs do not share


def test_optimum_loads_the_merged_decoder_silently_and_generates_pytorchs_tokens(exported, caplog):
    ortm = pytest.importorskip("optimum.onnxruntime", reason="Optimum does not import in this env")
    src, out, _ = exported
    with caplog.at_level(logging.WARNING):
        model = ortm.ORTModelForSeq2SeqLM.from_pretrained(out)
    assert model.decoder.is_merged
    assert not [r for r in caplog.records if "decoder_model_merged" in r.getMessage()]
    tokenizer = transformers.AutoTokenizer.from_pretrained(src)
    inputs = tokenizer(
        ["Hello world! This is", "a longer prompt that the other is padded against"],
        padding=True,
        return_tensors="pt",
    )
    reference = transformers.AutoModelForSeq2SeqLM.from_pretrained(src).eval()
    options = {"do_sample": False, "max_new_tokens": 12, "min_new_tokens": 12}
    with torch.no_grad():
        assert (
            model.generate(**inputs, **options).tolist() == reference.generate(**inputs, **options).tolist()
        )


def test_the_cached_branch_passes_the_cross_attention_cache_through(exported):
    _, out, _ = exported
    session = ort.InferenceSession(str(out / MERGED), providers=["CPUExecutionProvider"])
    feed = {}
    for value in session.get_inputs():
        dims = [d if isinstance(d, int) else 2 for d in value.shape]
        if value.name == "use_cache_branch":
            feed[value.name] = np.array([True])
        elif value.name in ("input_ids",):
            feed[value.name] = np.full((2, 1), 3, dtype=np.int64)
        elif "mask" in value.name:
            feed[value.name] = np.ones((2, 4), dtype=np.int64)
        elif value.name == "encoder_hidden_states":
            feed[value.name] = np.random.default_rng(0).standard_normal((2, 4, dims[2])).astype(np.float32)
        else:  # past: batch 2, 3 decoder positions or 4 encoder positions
            length = 4 if ".encoder." in value.name else 3
            feed[value.name] = (
                np.random.default_rng(1).standard_normal((2, dims[1], length, dims[3])).astype(np.float32)
            )
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(names, feed), strict=True))
    for name in names:
        if ".encoder." in name:
            np.testing.assert_array_equal(outputs[name], feed["past_key_values" + name[len("present") :]])
        elif name.startswith("present."):
            assert outputs[name].shape[2] == 4  # 3 past positions and the new token
