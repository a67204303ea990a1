"""Synthetic text inputs are laid out as a tokenizer lays out text."""

from __future__ import annotations

import torch
import transformers

from modelexport.errors import first_line
from modelexport.inputs import _text_tensors

NAMES = ["input_ids", "attention_mask", "token_type_ids"]


def _tensors(config, tokenizer=None, shape=(3, 12)):
    return _text_tensors(NAMES, shape, config, tokenizer, torch.Generator().manual_seed(0))


def test_rows_start_with_the_start_token_end_with_the_end_token_and_pad_after_it():
    config = transformers.BartConfig(vocab_size=50, bos_token_id=0, pad_token_id=1, eos_token_id=2)
    t = _tensors(config)
    ids, mask = t["input_ids"], t["attention_mask"]
    lengths = mask.sum(-1).tolist()
    assert lengths == [12, 12, 6]  # the last row is half padding
    for row, length in zip(ids.tolist(), lengths, strict=True):
        assert row[0] == 0 and row[length - 1] == 2
        assert all(token == 1 for token in row[length:])
        assert not {0, 1, 2} & set(row[1 : length - 1])  # no special token by chance
    # BART's classifier needs the same number of </s> in every row: exactly one here.
    assert (ids == 2).sum(-1).tolist() == [1, 1, 1]


def test_bert_style_ids_come_from_the_tokenizers_cls_and_sep():
    config = transformers.BertConfig(vocab_size=40, pad_token_id=0, type_vocab_size=2)

    class Tokenizer:  # the attributes a fast tokenizer exposes
        cls_token_id, sep_token_id, pad_token_id = 7, 8, 0

    t = _tensors(config, Tokenizer())
    ids, mask, types = t["input_ids"], t["attention_mask"], t["token_type_ids"]
    assert ids[:, 0].tolist() == [7, 7, 7]
    assert [row[int(n) - 1] for row, n in zip(ids.tolist(), mask.sum(-1), strict=True)] == [8, 8, 8]
    assert ids[2, 6:].tolist() == [0] * 6 and mask[2, 6:].tolist() == [0] * 6
    assert types[:, 6:].eq(1).all() and types[:, :6].eq(0).all()


def test_a_model_without_special_tokens_gets_plain_random_ids_and_a_padded_row():
    config = transformers.PretrainedConfig(vocab_size=30)
    t = _tensors(config)
    assert t["input_ids"].min() >= 5 and t["input_ids"].max() < 30
    assert t["attention_mask"].sum(-1).tolist() == [12, 12, 6]


def test_error_lines_lose_terminal_colour_codes():
    message = "\x1b[96mThis is step 1/3\x1b[0m of exporting the model to ONNX.\nTraceback ..."
    assert first_line(RuntimeError(message)) == "This is step 1/3 of exporting the model to ONNX."


# Encoder-decoders asked for feature-extraction: some derive their decoder inputs, some need them fed.


def _loaded(zoo_dir, name: str, task: str = "feature-extraction"):
    from modelexport.loading import load

    return load(str(zoo_dir(name, task)), task)


def test_t5_and_marian_need_decoder_inputs_bart_and_bert_do_not(zoo_dir):
    from modelexport.io_spec import needs_decoder_inputs

    loaded = {n: _loaded(zoo_dir, n) for n in ("t5", "marian", "bart", "bert")}
    needs = {n: needs_decoder_inputs(m.model, m.task) for n, m in loaded.items()}
    assert needs == {"t5": True, "marian": True, "bart": False, "bert": False}


def test_seq2seq_feature_extraction_is_named_as_optimum_names_it(zoo_dir):
    from modelexport.inputs import make_inputs
    from modelexport.io_spec import build_io_spec

    loaded = _loaded(zoo_dir, "t5")
    io = build_io_spec(loaded.model, loaded.task, loaded.tokenizer)
    # optimum.exporters.onnx.main_export(task="feature-extraction") on the same T5 gives these.
    assert io.to_json() == {
        "inputs": {
            "input_ids": {"0": "batch_size", "1": "encoder_sequence_length"},
            "attention_mask": {"0": "batch_size", "1": "encoder_sequence_length"},
            "decoder_input_ids": {"0": "batch_size", "1": "decoder_sequence_length"},
        },
        "outputs": {"last_hidden_state": {"0": "batch_size", "1": "decoder_sequence_length"}},
    }
    args = (io, loaded.config, loaded.preprocessors)
    for phase, lengths in (("export", (16, 12)), ("verify", (128, 40))):
        t = make_inputs(*args, phase)
        assert (t["input_ids"].shape[1], t["decoder_input_ids"].shape[1]) == lengths
        assert t["decoder_input_ids"][:, 0].eq(loaded.config.decoder_start_token_id).all()
    # BART keeps the encoder-only inputs it takes in PyTorch (and in ORTModelForFeatureExtraction).
    bart = _loaded(zoo_dir, "bart")
    assert build_io_spec(bart.model, bart.task, bart.tokenizer).input_names == ["input_ids", "attention_mask"]


class _EncoderDecoder(torch.nn.Module):
    """A stand-in whose forward fails as told: without decoder tokens, or always."""

    def __init__(self, fails: str) -> None:
        super().__init__()
        self.config = transformers.PretrainedConfig(is_encoder_decoder=True, vocab_size=30)
        self.fails = fails

    def forward(self, input_ids, attention_mask=None, decoder_input_ids=None):
        if self.fails == "always":
            raise RuntimeError("shape mismatch in the encoder")
        if decoder_input_ids is None:
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        return input_ids


def test_only_a_model_that_runs_once_given_decoder_tokens_is_said_to_need_them():
    from modelexport.io_spec import needs_decoder_inputs
    from modelexport.tasks import get_task

    task = get_task("feature-extraction")
    assert needs_decoder_inputs(_EncoderDecoder("without-decoder-tokens"), task) is True
    # A model that fails either way is left alone: the reference run reports its real error.
    assert needs_decoder_inputs(_EncoderDecoder("always"), task) is False
    assert needs_decoder_inputs(_EncoderDecoder("without-decoder-tokens"), get_task("fill-mask")) is False


def _io(loaded):
    from modelexport.io_spec import build_io_spec

    return build_io_spec(loaded.model, loaded.task, loaded.tokenizer, loaded.config, loaded.preprocessors)


def test_an_image_size_the_model_does_not_interpolate_to_is_static_and_others_verify_larger(zoo_dir):
    from modelexport.inputs import IMAGE_SIZE_STEP, make_inputs

    vit, swin = _loaded(zoo_dir, "vit"), _loaded(zoo_dir, "swin")
    # ViT's position embeddings are for one size: only batch and channels stay dynamic.
    assert _io(vit).to_json()["inputs"] == {"pixel_values": {"0": "batch_size", "1": "num_channels"}}
    swin_io = _io(swin)
    assert swin_io.to_json()["inputs"]["pixel_values"] == {
        "0": "batch_size",
        "1": "num_channels",
        "2": "height",
        "3": "width",
    }
    for loaded, io, grows in ((vit, _io(vit), 0), (swin, swin_io, IMAGE_SIZE_STEP)):
        export = make_inputs(io, loaded.config, loaded.preprocessors, "export")["pixel_values"]
        verify = make_inputs(io, loaded.config, loaded.preprocessors, "verify")["pixel_values"]
        assert verify.shape[0] != export.shape[0]
        assert tuple(verify.shape[2:]) == (export.shape[2] + grows, export.shape[3] + grows)
        with torch.no_grad():  # the verification size is one the model takes
            loaded.model(pixel_values=verify)


def test_a_sequence_length_the_config_fixes_is_static_and_every_phase_uses_it(zoo_dir):
    from modelexport.inputs import fixed_sequence_length, make_inputs

    loaded = _loaded(zoo_dir, "nystromformer")
    length = fixed_sequence_length(loaded.config)
    assert length == loaded.config.segment_means_seq_len
    io = _io(loaded)
    assert all(t.axes == {0: "batch_size"} for t in io.inputs)
    assert all("sequence_length" not in t.axes.values() for t in io.outputs)
    for phase in ("export", "verify", "single"):
        assert make_inputs(io, loaded.config, loaded.preprocessors, phase)["input_ids"].shape[1] == length
    # As many landmarks as tokens is exact attention: any length works.
    exact = transformers.NystromformerConfig(num_landmarks=64, segment_means_seq_len=64)
    assert fixed_sequence_length(exact) is None and fixed_sequence_length(transformers.BertConfig()) is None


def test_whisper_features_have_its_fixed_frame_count(zoo_dir):
    from modelexport.inputs import fixed_frames, make_inputs

    loaded = _loaded(zoo_dir, "whisper")
    frames = fixed_frames(loaded.config)
    assert frames == 2 * loaded.config.max_source_positions
    io = _io(loaded)
    assert io.to_json()["inputs"]["input_features"] == {"0": "batch_size"}
    for phase in ("export", "verify"):
        features = make_inputs(io, loaded.config, loaded.preprocessors, phase)["input_features"]
        assert tuple(features.shape[1:]) == (loaded.config.num_mel_bins, frames)


def test_an_image_processors_size_as_transformers_5_holds_it_is_read():
    """transformers 5's processors hold ``size`` as a SizeDict (attributes, not a mapping): its height
    and width are the image size, not the config's (ViTPose's fallback made 256 x 256 images for a
    32 x 32 model)."""
    from types import SimpleNamespace

    from modelexport.inputs import _image_size

    size = SimpleNamespace(height=32, width=48, shortest_edge=None, longest_edge=None)
    processor = SimpleNamespace(size=size, crop_size=None)
    assert _image_size(SimpleNamespace(image_size=256), processor) == (32, 48)
    edge = SimpleNamespace(height=None, width=None, shortest_edge=40)
    assert _image_size(SimpleNamespace(image_size=256), SimpleNamespace(size=edge)) == (40, 40)
