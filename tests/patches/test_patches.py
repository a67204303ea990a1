"""The traceable replacements (modelexport.patches) compute what the originals compute, and the
registry applies each where it is declared to."""

from __future__ import annotations

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


@pytest.mark.parametrize(
    ("backend", "layout", "expected"),
    [
        ("torchscript", "single", {"traceable-masks", "dense-experts"}),
        ("torchscript", "decoder", {"traceable-masks", "assigning-first-cache-update", "dense-experts"}),
        ("dynamo", "single", {"eos-pooling-by-gather", "dense-experts"}),
        ("dynamo", "seq2seq", {"traceable-masks", "assigning-first-cache-update", "dense-experts"}),
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
