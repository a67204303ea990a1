"""The origin design's three scenarios, the metadata contract, and a real pretrained checkpoint."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
import transformers

from modelexport import export_with_config, run_export, validate_optimum_compatibility
from modelexport.errors import ModelRunError

REQUIRED = ("model.onnx", "config.json", "tokenizer.json", "tokenizer_config.json", "export_metadata.json")


@pytest.fixture(scope="module")
def bert_export(zoo_dir, tmp_path_factory):
    src = zoo_dir("bert", "text-classification")
    return src, export_with_config(str(src), tmp_path_factory.mktemp("bert") / "out")


def test_export_creates_the_files_optimum_needs(bert_export):
    _, out = bert_export
    for name in REQUIRED:
        assert (out / name).is_file(), name
    assert json.loads((out / "config.json").read_text())["architectures"] == ["BertForSequenceClassification"]


def test_optimum_loads_the_export(bert_export):
    from optimum.onnxruntime import ORTModelForSequenceClassification

    _, out = bert_export
    model = ORTModelForSequenceClassification.from_pretrained(out)
    assert model.input_names == {"input_ids": 0, "attention_mask": 1, "token_type_ids": 2}
    assert validate_optimum_compatibility(out) is True


def test_end_to_end_inference_shapes_and_labels(bert_export):
    from optimum.onnxruntime import ORTModelForSequenceClassification

    src, out = bert_export
    model = ORTModelForSequenceClassification.from_pretrained(out)
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    outputs = model(**tokenizer("Test input", return_tensors="np"))
    config = transformers.AutoConfig.from_pretrained(src)
    assert outputs.logits.shape == (1, config.num_labels)


def test_dynamic_axes_follow_optimum_names(bert_export):
    _, out = bert_export
    graph = onnx.load(str(out / "model.onnx"), load_external_data=False).graph
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in graph.input}
    assert dims == {
        n: ["batch_size", "sequence_length"] for n in ("input_ids", "attention_mask", "token_type_ids")
    }
    assert [o.name for o in graph.output] == ["logits"]
    assert graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch_size"


def test_metadata_records_source_versions_io_and_verification(bert_export):
    src, out = bert_export
    meta = json.loads((out / "export_metadata.json").read_text())
    assert meta["source_model"] == str(src)
    assert (meta["task"], meta["exporter"], meta["opset"], meta["clean_onnx"]) == (
        "text-classification",
        "torchscript",
        17,
        False,
    )
    assert meta["export_timestamp"].endswith("+00:00")
    assert set(meta["versions"]) >= {"modelexport", "torch", "transformers", "onnx", "onnxruntime"}
    assert meta["io"]["inputs"]["input_ids"] == {"0": "batch_size", "1": "sequence_length"}
    assert meta["io"]["outputs"] == {"logits": {"0": "batch_size"}}
    verification = meta["verification"]
    assert verification["ok"] and verification["max_abs_diff"] <= 1e-4
    assert verification["input_shapes"]["input_ids"] == [3, 128], "verified at a shape other than 2 x 16"


def test_the_real_minilm_checkpoint_matches_pytorch_through_optimum(minilm_dir, tmp_path):
    from optimum.onnxruntime import ORTModelForFeatureExtraction

    out = export_with_config(str(minilm_dir), tmp_path / "minilm")
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    sentences = ["This framework generates embeddings for each input sentence.", "A second, shorter one."]
    enc = tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        reference = transformers.AutoModel.from_pretrained(minilm_dir)(**enc).last_hidden_state.numpy()
    got = ORTModelForFeatureExtraction.from_pretrained(out)(**enc).last_hidden_state.numpy()
    assert got.shape == reference.shape == (2, enc["input_ids"].shape[1], 384)
    assert np.abs(got - reference).max() <= 1e-4


def test_auto_exporter_falls_back_to_dynamo_when_torchscript_fails_verification(
    vmap_classifier_dir, tmp_path
):
    """TorchScript bakes the traced batch size into a vmap's graph; auto keeps dynamo's export instead
    and records why TorchScript's was given up."""
    from modelexport import VerifyError

    src = str(vmap_classifier_dir)
    with pytest.raises(VerifyError) as torchscript:
        export_with_config(src, tmp_path / "ts", exporter="torchscript")
    assert not (tmp_path / "ts").exists()
    out = export_with_config(src, tmp_path / "auto")  # exporter="auto" is the default
    meta = json.loads((out / "export_metadata.json").read_text())
    assert (meta["exporter"], meta["verification"]["ok"]) == ("dynamo", True)
    assert meta["exporter_fallback_from"].startswith("verify failed: ")
    assert torchscript.value.message in meta["exporter_fallback_from"]


@pytest.mark.parametrize("name", ["gpt2", "llama", "qwen2"])
def test_torchscript_exports_decoder_classifiers_with_traceable_masks(zoo_dir, tmp_path, name):
    """transformers >= 4.53 builds decoders' masks with torch.vmap, which TorchScript cannot trace: its
    export builds them by broadcasting, records that, matches PyTorch, and auto needs no dynamo."""
    src = str(zoo_dir(name, "text-classification"))
    out = export_with_config(src, tmp_path / "out")  # auto
    meta = json.loads((out / "export_metadata.json").read_text())
    assert (meta["exporter"], meta["exporter_fallback_from"], meta["verification"]["ok"]) == (
        "torchscript",
        None,
        True,
    )
    expected = ["transformers masking_utils 'sdpa' mask: built by broadcasting, not torch.vmap"]
    assert meta["model_patches"] == (expected if _builds_masks_with_vmap(src) else [])


def _builds_masks_with_vmap(model_dir: str) -> bool:
    """Whether this transformers builds the model's masks with vmap: its modeling code calls
    ``masking_utils`` (4.53 on, GPT-2 from 4.55), whose functions use vmap unconditionally (< 5)."""
    import inspect
    import sys

    try:
        from transformers import masking_utils
    except ImportError:
        return False
    if "use_vmap" in inspect.signature(masking_utils.sdpa_mask).parameters:
        return False
    config = transformers.AutoConfig.from_pretrained(model_dir)
    model_class = getattr(transformers, config.architectures[0])
    return "create_causal_mask" in inspect.getsource(sys.modules[model_class.__module__])


def test_torchscript_records_no_patch_for_a_model_without_decoder_masks(zoo_dir, tmp_path):
    out = export_with_config(
        str(zoo_dir("bert", "text-classification")), tmp_path / "out", exporter="torchscript"
    )
    assert json.loads((out / "export_metadata.json").read_text())["model_patches"] == []


@pytest.mark.parametrize("backend", ["torchscript", "dynamo"])
@pytest.mark.parametrize("name", ["t5", "marian"])
def test_seq2seq_feature_extraction_takes_decoder_tokens_and_matches_pytorch(
    zoo_dir, tmp_path, name, backend
):
    """T5 and Marian cannot run on encoder tokens alone: the export takes decoder_input_ids too, as
    Optimum's does, and plain ONNX Runtime matches PyTorch at a shape other than the traced one."""
    import onnxruntime as ort

    from modelexport.loading import load

    src = zoo_dir(name, "feature-extraction")
    out, status = run_export(str(src), tmp_path / "out", task="feature-extraction", exporter=backend)
    assert status.verification is not None and status.verification["ok"] is True
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    dims = {i.name: [d if isinstance(d, str) else None for d in i.shape] for i in session.get_inputs()}
    assert dims == {
        "input_ids": ["batch_size", "encoder_sequence_length"],
        "attention_mask": ["batch_size", "encoder_sequence_length"],
        "decoder_input_ids": ["batch_size", "decoder_sequence_length"],
    }
    model = load(str(src), "feature-extraction").model
    gen = torch.Generator().manual_seed(7)
    feed = {
        "input_ids": torch.randint(5, model.config.vocab_size, (2, 9), generator=gen),
        "attention_mask": torch.ones(2, 9, dtype=torch.long),
        "decoder_input_ids": torch.randint(5, model.config.vocab_size, (2, 5), generator=gen),
    }
    with torch.no_grad():
        expected = model(**feed, use_cache=False).last_hidden_state.numpy()
    (actual,) = session.run(["last_hidden_state"], {k: v.numpy() for k, v in feed.items()})
    assert actual.shape == (2, 5, model.config.d_model)
    assert float(np.abs(actual - expected).max()) <= 1e-4


def test_a_dynamo_capture_failure_names_its_cause_and_the_model_line(t5_classifier_dir, tmp_path):
    """torch.onnx wraps every failure as "step 1/3 failed"; the line says what failed and where."""
    from modelexport.errors import CaptureError

    with pytest.raises(CaptureError) as info:
        run_export(str(t5_classifier_dir), tmp_path / "out", task="text-classification", exporter="dynamo")
    message = info.value.message
    assert "\n" not in message
    assert "step 1/3 of exporting the model to ONNX; caused by GuardOnDataDependentSymNode" in message
    assert "(at transformers/models/t5/modeling_t5.py:" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("backend", ["dynamo", "torchscript"])
def test_bart_classifier_exports_with_dynamo_through_a_traceable_pooling(zoo_dir, tmp_path, backend):
    """BART's head pools at </s> with a data-dependent mask torch.export cannot trace (transformers
    4.x); dynamo traces a replacement that gathers the last </s>, recorded in the metadata, and the
    graph matches the unpatched model. TorchScript traces the original."""
    import onnxruntime as ort

    from modelexport.loading import load
    from modelexport.patches import patched

    src = zoo_dir("bart", "text-classification")
    out, status = run_export(str(src), tmp_path / "out", task="text-classification", exporter=backend)
    assert status.verification is not None and status.verification["ok"] is True
    meta = json.loads((out / "export_metadata.json").read_text())
    model = load(str(src), "text-classification").model
    with patched(model, "dynamo", "single") as patches:
        pass
    expected_patches = patches if backend == "dynamo" else []
    assert meta["model_patches"] == expected_patches
    if transformers.__version__.startswith("4."):
        assert patches == ["BartForSequenceClassification.forward: end-of-sequence pooling by gather"]
    assert "forward" not in vars(model)  # the model is left as it was
    # Two </s> in every row, the last at a different place per row: pooling must take the last.
    ids = torch.tensor([[0, 9, 2, 11, 12, 2, 1, 1], [0, 13, 14, 2, 15, 16, 17, 2]])
    mask = (ids != 1).long()
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask).logits.numpy()
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    (actual,) = session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    assert float(np.abs(actual - expected).max()) <= 1e-4


def _image_dims(path) -> list:
    graph = onnx.load(str(path), load_external_data=False).graph
    dims = next(i for i in graph.input if i.name == "pixel_values").type.tensor_type.shape.dim
    return [d.dim_value or d.dim_param for d in dims]


@pytest.mark.parametrize("backend", ["torchscript", "dynamo"])
def test_a_graph_that_bakes_the_image_size_is_exported_again_with_a_fixed_size(zoo_dir, tmp_path, backend):
    """MobileViT takes larger images in PyTorch, but both backends bake the traced height and width
    into its patch reshapes: the first export fails at the larger size, the second declares the
    processor's size, verifies, loads in Optimum and says why in its metadata."""
    from modelexport.matrix.checks import declares_fixed_image_size, ort_parity, pytorch_reference

    src = zoo_dir("mobilevit", "image-classification")
    out, status = run_export(str(src), tmp_path / "out", exporter=backend)
    assert status.ok and status.exporter == backend
    size = json.loads((src / "preprocessor_config.json").read_text())["crop_size"]
    assert _image_dims(out / "model.onnx") == ["batch_size", "num_channels", size["height"], size["width"]]
    meta = json.loads((out / "export_metadata.json").read_text())
    assert "other shapes" in meta["fixed_image_size"] and "Reshape" in meta["fixed_image_size"]
    assert meta["io"]["inputs"] == {"pixel_values": {"0": "batch_size", "1": "num_channels"}}
    assert {c["check"]: c["ok"] for c in meta["verification"]["checks"]} == {"batch": True, "single": True}
    # The matrix's check feeds what the file declares.
    assert declares_fixed_image_size(out)
    assert ort_parity(
        out, pytorch_reference(src, "image-classification", fixed_image_size=True), 1e-4, 1e-4
    ).ok
    validate_optimum_compatibility(out)


def test_a_model_whose_graph_takes_other_image_sizes_keeps_them_dynamic(zoo_dir, tmp_path):
    from modelexport.matrix.checks import declares_fixed_image_size

    out, status = run_export(str(zoo_dir("mobilenet_v2", "image-classification")), tmp_path / "out")
    assert _image_dims(out / "model.onnx") == ["batch_size", "num_channels", "height", "width"]
    assert status.fixed_image_size is None and not declares_fixed_image_size(out)


def test_auto_takes_a_backend_that_exports_every_image_size_before_fixing_one(zoo_dir, tmp_path):
    """BiT: TorchScript bakes the traced image size (its output is 4x4 at 64x64 images, PyTorch's
    8x8); a fixed-size TorchScript file would verify, but dynamo's takes every size, so auto gives
    dynamo's, dynamic, and says why it left TorchScript."""
    out, status = run_export(str(zoo_dir("bit", "feature-extraction")), tmp_path / "out")
    assert status.ok and status.exporter == "dynamo" and status.fixed_image_size is None
    assert _image_dims(out / "model.onnx") == ["batch_size", "num_channels", "height", "width"]
    assert "64×64" in status.fallback_from and "torchscript" in status.fallback_from


def test_auto_fixes_the_image_size_only_when_no_backend_exports_every_size(zoo_dir, tmp_path):
    """MobileNetV2's features drift 3e-4 at 64x64 in both backends' graphs: auto exports with the
    first backend at the processor's fixed size, without falling back (the matrix cell records the
    fixed size, and its auto column stands for this export)."""
    from modelexport.matrix.cell_records import fixed_sizes_record

    src = zoo_dir("mobilenet_v2", "feature-extraction")
    out, status = run_export(str(src), tmp_path / "out")
    assert status.ok and status.exporter == "torchscript" and status.fallback_from is None
    size = json.loads((src / "preprocessor_config.json").read_text())["crop_size"]
    assert _image_dims(out / "model.onnx") == ["batch_size", "num_channels", size["height"], size["width"]]
    assert status.fixed_image_size.startswith("torchscript: ") and "64×64" in status.fixed_image_size
    assert fixed_sizes_record(out) == {"image_size": True}


def test_a_sequence_length_the_models_code_fixes_is_exported_at_that_length(zoo_dir, tmp_path):
    """Funnel's pooling arithmetic fixes the traced sequence length: TorchScript bakes it (the
    export fails verification at another length and auto moves on), torch.export refuses the
    dynamic axis. The dynamo export is made again with the sequence fixed at 16, verified at that
    length (batch 3 and 1), says so in its metadata, and loads in Optimum; diff finds nothing."""
    from modelexport.diagnose import diff_export
    from modelexport.matrix.checks import declared_fixed_axes, ort_parity, pytorch_reference

    src = zoo_dir("funnel", "feature-extraction")
    out, status = run_export(str(src), tmp_path / "out")
    assert status.ok and status.exporter == "dynamo"
    assert "verify failed" in (status.fallback_from or "")  # TorchScript's baked graph, at 3 x 128
    meta = json.loads((out / "export_metadata.json").read_text())
    assert meta["fixed_axes"]["sizes"] == {"sequence_length": 16}
    assert "static shape of 16" in meta["fixed_axes"]["why"] and meta["fixed_axes"]["why"].startswith(
        "dynamo:"
    )
    graph = onnx.load(str(out / "model.onnx"), load_external_data=False).graph
    assert {
        v.name: [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim] for v in graph.input
    } == {
        "input_ids": ["batch_size", 16],
        "attention_mask": ["batch_size", 16],
        "token_type_ids": ["batch_size", 16],
    }
    checked = {c["check"]: c for c in meta["verification"]["checks"]}
    assert all(c["ok"] for c in checked.values())
    assert checked["batch"]["input_shapes"]["input_ids"] == [3, 16]
    assert checked["single"]["input_shapes"]["input_ids"] == [1, 16]
    assert declared_fixed_axes(out) == {"sequence_length": 16}
    reference = pytorch_reference(src, "feature-extraction", fixed_axes=declared_fixed_axes(out))
    assert ort_parity(out, reference, 1e-4, 1e-4).ok
    validate_optimum_compatibility(out)  # the sample is padded to the length the file takes
    assert diff_export(out).first_divergent_module is None


BOUND = 40  # tokens the patched BERT below accepts, fewer than the check inputs' 128


@pytest.fixture
def bert_bounded_by_code(monkeypatch):
    """BERT whose embeddings refuse more than BOUND tokens, as CLIP's do, while its config allows
    512: what the config says does not reveal the bound, only the model's code does."""
    from transformers.models.bert import modeling_bert

    original = modeling_bert.BertEmbeddings.forward

    def forward(self, input_ids=None, *args, **kwargs):
        if input_ids is not None and input_ids.shape[1] > BOUND:
            raise ValueError(f"at most {BOUND} tokens, got {input_ids.shape[1]}")
        return original(self, input_ids, *args, **kwargs)

    monkeypatch.setattr(modeling_bert.BertEmbeddings, "forward", forward)


def test_a_sequence_bound_only_the_models_code_knows_keeps_the_checks_within_it(
    zoo_dir, tmp_path, bert_bounded_by_code
):
    """PyTorch refuses the 3 x 128 check inputs, so TorchScript cannot be verified and auto moves
    on; torch.export finds the bound (sequence_length <= 40), the checks are made again at 40 tokens,
    and the metadata records the range and that the checks were limited to it. Diff and the
    matrix's references read it back and stay within it."""
    from modelexport.diagnose import diff_export
    from modelexport.matrix.checks import declared_axis_limits, ort_parity, pytorch_reference

    src = zoo_dir("bert", "feature-extraction")
    with pytest.raises(ModelRunError, match="at most 40 tokens"):
        run_export(str(src), tmp_path / "ts", exporter="torchscript")
    out, status = run_export(str(src), tmp_path / "out")
    assert status.ok and status.exporter == "dynamo"
    assert "PyTorch itself fails" in (status.fallback_from or "")
    meta = json.loads((out / "export_metadata.json").read_text())
    bound = meta["axis_ranges"]["sequence_length"]
    assert (bound["max"], bound["limits_checks"], bound["by"]) == (BOUND, True, "dynamo")
    checked = {c["check"]: c for c in meta["verification"]["checks"]}
    assert all(c["ok"] for c in checked.values())
    assert checked["batch"]["input_shapes"]["input_ids"] == [3, BOUND]
    assert checked["single"]["input_shapes"]["input_ids"] == [1, 7]
    assert meta["fixed_axes"] is None  # still dynamic: any length up to the bound
    assert declared_axis_limits(out) == {"sequence_length": BOUND}
    reference = pytorch_reference(src, "feature-extraction", axis_limits=declared_axis_limits(out))
    assert reference.error is None and ort_parity(out, reference, 1e-4, 1e-4).ok
    assert diff_export(out).first_divergent_module is None


def test_a_bound_within_the_check_inputs_is_recorded_and_changes_nothing(zoo_dir, tmp_path):
    """CLIP's text positions bound the sequence (its config says so too: the checks already stay
    within); the dynamo export records the range, TorchScript's records none."""
    src = zoo_dir("clip", "zero-shot-image-classification")
    out, status = run_export(str(src), tmp_path / "dynamo", exporter="dynamo")
    positions = transformers.AutoConfig.from_pretrained(src).text_config.max_position_embeddings
    assert status.axis_ranges["sequence_length"] == {
        "min": 2, "max": positions, "limits_checks": False, "by": "dynamo"
    }  # fmt: skip
    assert json.loads((out / "export_metadata.json").read_text())["axis_ranges"] == status.axis_ranges
    _, traced = run_export(str(src), tmp_path / "ts", exporter="torchscript")
    assert traced.axis_ranges is None
