"""The traceable replacements (modelexport.patches) compute what the originals compute, and the
registry applies each where it is declared to."""

from __future__ import annotations

import contextlib
import inspect

import pytest
import torch
import transformers

from modelexport.patches import PATCHES, patched
from modelexport.patches.masks import _recording, traceable_masks


def traceable(model):
    """The patches a dynamo export of a single-file task applies to ``model``."""
    return patched(model, "dynamo", "single")


SMALL = {
    "vocab_size": 40,
    "d_model": 16,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_attention_heads": 2,
    "decoder_attention_heads": 2,
    "encoder_ffn_dim": 32,
    "decoder_ffn_dim": 32,
    "max_position_embeddings": 64,
    "num_labels": 3,
    "pad_token_id": 1,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "decoder_start_token_id": 2,
}
FAMILIES = {
    "bart": (transformers.BartConfig, {}),
    "mbart": (transformers.MBartConfig, {}),
    "plbart": (transformers.PLBartConfig, {}),
    "mvp": (transformers.MvpConfig, {}),
    "led": (
        transformers.LEDConfig,
        {"max_encoder_position_embeddings": 64, "max_decoder_position_embeddings": 64, "attention_window": 4},
    ),
    "bigbird_pegasus": (transformers.BigBirdPegasusConfig, {"attention_type": "original_full"}),
}
UNTRACEABLE_HEAD = transformers.__version__.startswith("4.")  # transformers 5 fixed the head itself


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_eos_pooling_replacement_matches_the_original_head(family):
    config_class, extra = FAMILIES[family]
    config = config_class(**SMALL, **{k: v for k, v in extra.items() if k != "max_position_embeddings"})
    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_config(config).eval()
    # Two </s> (id 2) in every row, the last one at a different place in each.
    ids = torch.tensor(
        [[0, 9, 2, 11, 12, 2, 1, 1], [0, 13, 14, 2, 15, 16, 17, 2], [0, 2, 20, 21, 2, 1, 1, 1]]
    )
    mask = (ids != 1).long()
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        with traceable(model) as patches:
            actual = model(input_ids=ids, attention_mask=mask, use_cache=False, return_dict=True).logits
    assert patches == (
        [f"{type(model).__name__}.forward: end-of-sequence pooling by gather"] if UNTRACEABLE_HEAD else []
    )
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)
    assert "forward" not in vars(model)


def test_a_forward_set_on_the_instance_before_is_put_back_even_after_an_error():
    config = transformers.BartConfig(**SMALL)
    model = transformers.BartForSequenceClassification(config).eval()

    def hooked(*args, **kwargs):  # what accelerate's hooks do: an instance attribute
        return "hooked"

    model.forward = hooked
    with pytest.raises(RuntimeError, match="inside"), traceable(model):
        raise RuntimeError("inside")
    assert model.forward is hooked


def test_t5s_head_is_not_replaced():
    """T5's head makes its decoder tokens before calling its base: the replacement would not do."""
    config = transformers.T5Config(vocab_size=40, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    model = transformers.T5ForSequenceClassification(config).eval()
    with traceable(model) as patches:
        assert patches == []


def _masking_utils():
    return pytest.importorskip(
        "transformers.masking_utils", reason="transformers < 4.53 builds masks without vmap"
    )


@pytest.mark.parametrize("name", ["sdpa", "eager"])
@pytest.mark.parametrize("kv_offset", [0, 3])
@pytest.mark.parametrize("window", [None, 2])
def test_traceable_masks_build_the_masks_transformers_builds(name, kv_offset, window):
    """Causal (or sliding-window) and padding masks, with and without a cache before the queries:
    equal to what the originals build with vmap."""
    masking_utils = _masking_utils()
    registry = masking_utils.ALL_MASK_ATTENTION_FUNCTIONS
    original = registry[name]
    batch, queries = 3, 4
    kv_length = kv_offset + queries
    padding = torch.ones(batch, kv_length, dtype=torch.long)
    padding[1, :2] = 0  # left padding in one row
    padding[2, -1] = 0
    parameters = inspect.signature(original).parameters
    arguments = {"batch_size": batch, "kv_length": kv_length, "attention_mask": padding.bool()}
    if "cache_position" in parameters:  # 4.53 ... 4.57
        arguments["cache_position"] = torch.arange(kv_offset, kv_offset + queries)
    else:  # 5.x
        arguments.update(q_length=queries, q_offset=kv_offset)
    if "use_vmap" in parameters:  # 5.x builds with vmap only when asked to
        arguments["use_vmap"] = True
    if name == "sdpa":
        arguments["allow_is_causal_skip"] = False
    if window is not None:
        arguments["mask_function"] = masking_utils.sliding_window_causal_mask_function(window)
    expected = original(**arguments)
    applied: list[str] = []
    with traceable_masks(applied):
        assert registry[name] is not original
        actual = registry[name](**arguments)
    assert registry[name] is original  # restored
    assert applied == [f"transformers masking_utils '{name}' mask: built by broadcasting, not torch.vmap"]
    assert actual.dtype == expected.dtype
    torch.testing.assert_close(actual, expected.expand_as(actual), rtol=0, atol=0)


def test_a_mask_function_that_can_do_without_vmap_is_left_alone_unless_asked():
    """transformers 5.x: ``use_vmap=False`` (the default) calls the original, unrecorded."""
    _masking_utils()  # the replacement builds with its causal_mask_function
    calls = []

    def original(batch_size, q_length, kv_length, use_vmap=False, **kwargs):
        calls.append(use_vmap)
        return "original"

    applied: list[str] = []
    mask = _recording("sdpa", original, applied)
    assert mask(batch_size=2, q_length=3, kv_length=3) == "original"
    assert (calls, applied) == ([False], [])
    built = mask(batch_size=2, q_length=3, kv_length=3, use_vmap=True)
    assert calls == [False] and len(applied) == 1
    assert built.shape == (2, 1, 3, 3) and built[0, 0].tolist() == [
        [True, False, False],
        [True, True, False],
        [True, True, True],
    ]


def test_traceable_masks_record_nothing_the_model_did_not_call():
    applied: list[str] = []
    with traceable_masks(applied):
        pass
    assert applied == []


_TS_ANY_LAYOUT = {
    "traceable-masks",
    "packed-sequences-by-slicing",
    "repeat-interleave-by-expand",
    "unfold-by-slicing",
    "moonshine-conv-lengths",
    "imagegpt-truncated-scale",
}


@pytest.mark.parametrize(
    ("backend", "layout", "expected"),
    [
        ("torchscript", "single", {*_TS_ANY_LAYOUT, "dense-experts"}),
        ("torchscript", "decoder", {*_TS_ANY_LAYOUT, "assigning-first-cache-update", "dense-experts"}),
        ("dynamo", "single", {"eos-pooling-by-gather", "moonshine-conv-lengths", "dense-experts"}),
        (
            "dynamo",
            "seq2seq",
            {
                "traceable-masks",
                "assigning-first-cache-update",
                "symbolic-cache-len",
                "moonshine-conv-lengths",
                "dense-experts",
            },
        ),
    ],
)
def test_the_registry_declares_where_each_patch_is_used(backend, layout, expected):
    assert {p.name for p in PATCHES if layout in p.scope.get(backend, ())} == expected


def test_patched_applies_each_patch_in_scope_once_and_restores_everything():
    """A BART classifier under dynamo: only the pooling replacement applies (the model qualifies);
    the mask functions and the cache layer are left alone, and everything is restored on exit."""
    from transformers import cache_utils

    config = transformers.BartConfig(**SMALL)
    model = transformers.BartForSequenceClassification(config).eval()
    layer = getattr(cache_utils, "DynamicLayer", None)
    update = layer.update if layer is not None else None
    with patched(model, "dynamo", "single") as applied:
        assert ("forward" in vars(model)) is UNTRACEABLE_HEAD
        assert layer is None or layer.update is update
    assert "forward" not in vars(model)
    assert applied == (
        ["BartForSequenceClassification.forward: end-of-sequence pooling by gather"]
        if UNTRACEABLE_HEAD
        else []
    )


@pytest.mark.parametrize(
    "positions",
    [[[0, 1, 2, 0, 1, 2, 3, 0]], [[0, 1, 2, 3, 4, 5]] * 3, [[5, 6, 7, 1, 2], [0, 2, 3, 4, 9]], [[3]]],
)
def test_packed_sequences_by_slicing_finds_what_torch_diff_finds(positions):
    from transformers.masking_utils import find_packed_sequence_indices

    from modelexport.patches.packed import packed_by_slicing

    position_ids = torch.tensor(positions)
    expected = find_packed_sequence_indices(position_ids)
    applied: list[str] = []
    with packed_by_slicing(applied):
        from transformers import masking_utils

        got = masking_utils.find_packed_sequence_indices(position_ids)
    assert torch.equal(got, expected)
    assert applied and "torch.diff" in applied[0]
    assert masking_utils.find_packed_sequence_indices is find_packed_sequence_indices


@pytest.mark.parametrize("dim", [0, 1, 2, 3, -1, -2])
def test_repeat_interleave_by_expand_gives_the_originals_values(dim):
    from modelexport.patches.repeat import repeat_by_expand

    x = torch.randn(2, 3, 4, 5)
    expected = x.repeat_interleave(3, dim=dim)
    applied: list[str] = []
    with repeat_by_expand(applied):
        method, function = x.repeat_interleave(3, dim=dim), torch.repeat_interleave(x, 3, dim=dim)
        counts = x.repeat_interleave(torch.tensor([1, 2]), dim=0)  # a tensor of counts: the original
    assert torch.equal(method, expected) and torch.equal(function, expected)
    assert torch.equal(counts, torch.cat([x[:1], x[1:], x[1:]]))
    assert applied == ["repeat_interleave by an integer count: unsqueeze, expand, flatten"]
    assert torch.Tensor.repeat_interleave(x, 2, dim=0).shape == (4, 3, 4, 5)


@pytest.mark.parametrize("length", [895, 1000, 16000, 16383, 16384, 30001])
def test_moonshine_conv_lengths_equal_the_originals(length):
    from transformers.models.moonshine.modeling_moonshine import MoonshinePreTrainedModel

    from modelexport.patches.conv_lengths import _output_lengths

    original = MoonshinePreTrainedModel._get_feat_extract_output_lengths(None, length)  # type: ignore[arg-type]
    assert _output_lengths(None, length) == original
    assert int(_output_lengths(None, torch.tensor(length))) == original


@pytest.mark.parametrize(
    ("shape", "dim", "size", "step"),
    [
        (
            (2, 32, 3),
            -2,
            8,
            4,
        ),  # PatchTST's patching: [batch, time, channels] -> [batch, patches, channels, 8]
        ((2, 32, 3), -2, 8, 8),
        ((2, 33, 3), -2, 8, 5),  # a remainder shorter than a window is dropped
        ((2, 12, 6), -1, 4, 2),
        ((4, 5, 6), -3, 2, 3),  # windows with gaps between them
        ((2, 7, 3), -2, 7, 1),  # one window as long as the dimension
        ((9,), -1, 3, 1),
        ((2, 3, 10, 4), 2, 4, 2),  # a positive dimension: the original
        ((2, 12, 6), 0, 1, 1),
    ],
)
def test_unfold_by_slicing_gives_the_originals_values(shape, dim, size, step):
    from modelexport.patches.unfold import NOTE, unfold_by_slicing

    x = torch.randn(*shape)
    expected = x.unfold(dim, size, step)
    applied: list[str] = []
    with unfold_by_slicing(applied):
        got = x.unfold(dimension=dim, size=size, step=step)
        positional = torch.Tensor.unfold(x, dim, size, step)
    assert got.shape == expected.shape
    assert torch.equal(got, expected) and torch.equal(positional, expected)
    assert applied == ([NOTE] if dim < 0 else [])


@pytest.mark.parametrize(("dim", "size", "step"), [(-2, 13, 1), (-2, 4, 0), (-4, 2, 1)])
def test_unfold_by_slicing_leaves_what_the_original_rejects_to_the_original(dim, size, step):
    from modelexport.patches.unfold import unfold_by_slicing

    original = torch.Tensor.unfold
    x = torch.randn(2, 12, 6)
    with pytest.raises((RuntimeError, IndexError)) as unpatched:
        x.unfold(dim, size, step)
    applied: list[str] = []
    with unfold_by_slicing(applied), pytest.raises(type(unpatched.value)) as patched_error:
        x.unfold(dim, size, step)
    assert str(patched_error.value) == str(unpatched.value)
    assert applied == [] and torch.Tensor.unfold is original


def test_a_negative_dimension_unfold_exported_by_torchscript_runs_in_onnx_runtime(tmp_path):
    """Unpatched, TorchScript's translation puts the 8 windows after the 3 channels; patched, ONNX
    Runtime gives PyTorch's values in PyTorch's layout."""
    import onnxruntime

    from modelexport.patches.unfold import unfold_by_slicing

    class Patching(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.unfold(dimension=-2, size=4, step=4) * 2.0

    x = torch.randn(2, 32, 3)
    expected = Patching()(x)
    for name, patch in (("plain", contextlib.nullcontext()), ("patched", unfold_by_slicing([]))):
        with patch:
            torch.onnx.export(Patching(), (x,), tmp_path / f"{name}.onnx", dynamo=False, opset_version=17)
    runs = {}
    for name in ("plain", "patched"):
        session = onnxruntime.InferenceSession(str(tmp_path / f"{name}.onnx"))
        runs[name] = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert expected.shape == (2, 8, 3, 4) and runs["plain"].shape == (2, 3, 8, 4)
    assert torch.equal(torch.from_numpy(runs["patched"]), expected)


@pytest.mark.parametrize("name", ["patchtst", "patchtsmixer"])
def test_patch_time_series_forecasters_export_with_torchscript_and_verify(zoo_dir, tmp_path, name):
    import json

    from modelexport import run_export
    from modelexport.patches.unfold import NOTE

    task = "time-series-forecasting"
    out, _ = run_export(str(zoo_dir(name, task)), tmp_path / "out", task=task, exporter="torchscript")
    meta = json.loads((out / "export_metadata.json").read_text())
    assert meta["verification"]["ok"] and meta["model_patches"] == [NOTE]


_WITHOUT_MASKING_UTILS = """
import sys
import transformers
from modelexport.patches import patched
config = transformers.BartConfig(vocab_size=40, d_model=16, encoder_layers=1, decoder_layers=1,
    encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32)
model = transformers.BartForSequenceClassification(config).eval()
sys.modules["transformers.masking_utils"] = None  # `import` raises ImportError
vars(transformers).pop("masking_utils", None)
try:
    from transformers import masking_utils
    sys.exit("masking_utils still imports")
except ImportError:
    pass
for backend in ("torchscript", "dynamo"):
    for layout in ("single", "decoder", "seq2seq"):
        with patched(model, backend, layout) as applied:
            pass
        assert not any("masking_utils" in note for note in applied), (backend, layout, applied)
print("ok")
"""


def test_every_patch_is_a_no_op_on_a_transformers_without_masking_utils():
    """transformers before 4.53 has no ``masking_utils`` (the matrix's transformers-oldest env runs
    4.48): entering every patch of every scope must not fail there. An import of it outside a guard
    made every TorchScript export on 4.48 fail at capture. In a fresh interpreter: after some exports
    in the same process (PatchTST's), ``from transformers import masking_utils`` still succeeds."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _WITHOUT_MASKING_UTILS], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]


def test_imagegpt_exported_with_torchscript_scales_attention_as_pytorch_does(zoo_dir, tmp_path):
    """transformers 4.x's ImageGPT divides attention scores by int(head size ** 0.5) in PyTorch and by
    the exact root under the tracer: 1.8e-3 off on the zoo model (head size 8: 2 against 2.83),
    which failed verification. With the patch the file matches PyTorch at another length."""
    import json

    import numpy as np
    import onnxruntime as ort

    from modelexport import run_export
    from modelexport.patches.int_scale import NOTE, _truncates

    src = zoo_dir("imagegpt", "feature-extraction")
    out, _ = run_export(str(src), tmp_path / "out", task="feature-extraction", exporter="torchscript")
    meta = json.loads((out / "export_metadata.json").read_text())
    assert meta["model_patches"] == ([NOTE] if _truncates() else [])
    model = transformers.ImageGPTModel.from_pretrained(src).eval()
    ids = torch.arange(3, 3 + 2 * 11).reshape(2, 11) % model.config.vocab_size
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "token_type_ids": torch.zeros_like(ids),
        "position_ids": torch.arange(11).expand(2, 11),
    }
    got = session.run(None, {i.name: feeds[i.name].numpy() for i in session.get_inputs()})[0]
    with torch.no_grad():
        expected = model(**feeds).last_hidden_state.numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_symbolic_cache_len_keeps_the_batch_dynamic_under_torch_export():
    """transformers <= 4.55's DynamicCache tests ``len(self.key_cache[i]) == 0``; ``len()`` returns an
    int, so torch.export's non-strict mode bakes the batch size (and the exporter falls back to strict
    mode, losing the module names). Code running with ``transformers.cache_utils``' globals, as that
    check does, keeps the batch symbolic under the patch, and gives ``len``'s value either way."""
    import types

    from transformers import cache_utils

    from modelexport.patches.cache_len import NOTE, shape_len

    source = compile("def rows(x):\n    return x.new_zeros(len(x), 1) + (len(x) == 0)", "cache_utils", "exec")
    namespace = vars(cache_utils)
    rows = types.FunctionType(source.co_consts[0], namespace)

    class Rows(torch.nn.Module):
        def forward(self, x):
            return rows(x) + x.sum(-1, keepdim=True)

    x = torch.ones(2, 3)
    batch = {"x": {0: torch.export.Dim("batch", min=1)}}
    with pytest.raises(Exception, match="batch"):
        torch.export.export(Rows(), (x,), dynamic_shapes=batch, strict=False)
    applied: list[str] = []
    with shape_len(None, applied):
        program = torch.export.export(Rows(), (x,), dynamic_shapes=batch, strict=False)
        assert rows(torch.ones(4, 3)).shape == (4, 1)
    assert applied == [NOTE] and "len" not in vars(cache_utils)
    assert program.module()(torch.ones(5, 3)).shape == (5, 1)
