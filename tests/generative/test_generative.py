"""Generative exports: Optimum's ORTModelForCausalLM / ORTModelForSeq2SeqLM load them and generate
exactly PyTorch's greedy tokens; plain ONNX Runtime matches PyTorch at the first step and with a cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import transformers

from modelexport import VerifyError, run_export
from modelexport.generative import cache as compat
from modelexport.generative.generate import compare_generate
from modelexport.generative.layout import (
    DECODER_FILE,
    ENCODER_FILE,
    SEQ2SEQ_DECODER_FILE,
    SEQ2SEQ_DECODER_MERGED_FILE,
    SEQ2SEQ_DECODER_WITH_PAST_FILE,
    decoder_part,
    seq2seq_parts,
)
from modelexport.graph import walk
from modelexport.hierarchy import KEY_MODULE
from modelexport.tasks import infer_task
from modelexport.zoo import list_archs

ZOO_DECODERS = {s.name for s in list_archs() if "text-generation-with-past" in s.tasks}
ZOO_SEQ2SEQ = {s.name for s in list_archs() if "text2text-generation-with-past" in s.tasks}
# One decoder per mechanism (the matrix runs every zoo decoder): learned positions, grouped-query
# rotary, sliding window, soft-capping over hybrid sliding/global layers, ALiBi, parallel attention
# with multi-query, partial rotary, mixture-of-experts routing, multi-query with fused KV.
DECODERS = ["gpt2", "llama", "mistral", "gemma2", "bloom", "falcon", "phi", "qwen3_moe", "gpt_bigcode"]
SEQ2SEQ = ["t5", "bart", "marian"]
SEQ2SEQ_FILES = [ENCODER_FILE, SEQ2SEQ_DECODER_MERGED_FILE]


def _export(src: Path, out: Path, task: str, **kwargs: Any) -> tuple[Path, dict[str, Any]]:
    path, status = run_export(str(src), out, task=task, **kwargs)
    assert status.ok, status.stages
    return path, json.loads((path / "export_metadata.json").read_text())


def _assert_generates_like_pytorch(src: Path, out: Path, task: str, *, use_cache: bool = True) -> None:
    check = compare_generate(src, out, task, use_cache=use_cache)
    assert check.error == ""
    assert len(check.reference[0]) > 16, "16 new tokens after the prompt"
    assert check.onnx == check.reference


def _assert_logits_parity_recorded(meta: dict[str, Any], steps: tuple[str, ...]) -> None:
    verification = meta["verification"]
    assert verification["ok"] is True and verification["atol"] == 1e-4
    for step in steps:
        assert verification["logits_max_abs_diff"][step] <= 1e-4, step


# --- the zoo: every decoder and every encoder-decoder ---------------------------------------------------


def test_the_zoo_has_the_generative_architectures_of_the_issue() -> None:
    assert {"gpt2", "llama", "mistral", "qwen2", "phi", "gpt_neox", "opt", "bloom"} <= ZOO_DECODERS
    assert {"gemma", "gemma3_text", "qwen3", "qwen3_moe", "phi3", "falcon", "gptj", "mpt"} <= ZOO_DECODERS
    assert {"t5", "bart", "marian", "mbart", "pegasus", "mt5", "m2m_100", "longt5"} <= ZOO_SEQ2SEQ
    assert set(DECODERS) <= ZOO_DECODERS and set(SEQ2SEQ) <= ZOO_SEQ2SEQ


@pytest.mark.parametrize("name", DECODERS)
def test_zoo_decoder_generates_exactly_like_pytorch_through_optimum(zoo_dir, tmp_path, name) -> None:
    src = zoo_dir(name, "text-generation-with-past")
    out, meta = _export(src, tmp_path / "out", "text-generation-with-past")
    assert meta["onnx_files"] == [DECODER_FILE] and meta["ort_model_class"] == "ORTModelForCausalLM"
    assert (out / "generation_config.json").is_file()
    _assert_logits_parity_recorded(meta, ("first", "cached"))
    _assert_generates_like_pytorch(src, out, "text-generation-with-past")


@pytest.mark.parametrize("name", SEQ2SEQ)
def test_zoo_encoder_decoder_generates_exactly_like_pytorch_through_optimum(zoo_dir, tmp_path, name) -> None:
    src = zoo_dir(name, "text2text-generation-with-past")
    out, meta = _export(src, tmp_path / "out", "text2text-generation-with-past")
    assert meta["onnx_files"] == SEQ2SEQ_FILES and meta["ort_model_class"] == "ORTModelForSeq2SeqLM"
    assert not (out / "model.onnx").exists()
    _assert_logits_parity_recorded(meta, ("first", "cached"))
    _assert_generates_like_pytorch(src, out, "text2text-generation-with-past")


# --- models a user built, not in the zoo ---------------------------------------------------------------


def _save_with_tokenizer(model: torch.nn.Module, tokenizer_src: Path, out: Path) -> Path:
    model.eval().save_pretrained(out)
    transformers.AutoTokenizer.from_pretrained(tokenizer_src).save_pretrained(out)
    return out


def test_user_built_gptj_generates_exactly_like_pytorch(zoo_dir, tmp_path) -> None:
    """GPT-J (no zoo entry): rotary embeddings on part of each head, parallel attention and MLP."""
    tok_src = zoo_dir("gpt2", "text-generation-with-past")
    tok = transformers.AutoTokenizer.from_pretrained(tok_src)
    config = transformers.GPTJConfig(
        vocab_size=len(tok),
        n_embd=48,
        n_layer=3,
        n_head=6,
        rotary_dim=4,
        n_positions=256,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(1)
    src = _save_with_tokenizer(transformers.GPTJForCausalLM(config), tok_src, tmp_path / "gptj")
    assert infer_task(["GPTJForCausalLM"], "gptj") == "text-generation-with-past"
    out, meta = _export(src, tmp_path / "out", None)
    assert meta["task"] == "text-generation-with-past"
    assert "position_ids" in meta["io"][DECODER_FILE]["inputs"]
    _assert_generates_like_pytorch(src, out, "text-generation-with-past")


def test_user_built_pegasus_generates_exactly_like_pytorch(zoo_dir, tmp_path) -> None:
    """Pegasus (no zoo entry): sinusoidal positions, pre-layer-norm, 3 encoder and 1 decoder layers."""
    tok_src = zoo_dir("bart", "text2text-generation-with-past")
    tok = transformers.AutoTokenizer.from_pretrained(tok_src)
    config = transformers.PegasusConfig(
        vocab_size=len(tok),
        d_model=24,
        encoder_layers=3,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=40,
        decoder_ffn_dim=40,
        max_position_embeddings=256,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.pad_token_id,
        forced_eos_token_id=None,
    )
    torch.manual_seed(2)
    model = transformers.PegasusForConditionalGeneration(config)
    src = _save_with_tokenizer(model, tok_src, tmp_path / "pegasus")
    out, meta = _export(src, tmp_path / "out", None)
    assert meta["task"] == "text2text-generation-with-past"
    _assert_generates_like_pytorch(src, out, "text2text-generation-with-past")


# --- plain ONNX Runtime, steps chained on its own cache ---------------------------------------------------


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(session: ort.InferenceSession, feeds: dict[str, Any]) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    wanted = {i.name for i in session.get_inputs()}
    values = session.run(names, {k: np.asarray(v) for k, v in feeds.items() if k in wanted})
    return dict(zip(names, values, strict=True))


def test_decoder_logits_match_pytorch_at_first_step_and_on_onnx_runtimes_own_cache(zoo_dir, tmp_path) -> None:
    src = zoo_dir("llama", "text-generation-with-past")
    out, _ = _export(src, tmp_path / "out", "text-generation-with-past")
    model = transformers.AutoModelForCausalLM.from_pretrained(src).eval()
    tok = transformers.AutoTokenizer.from_pretrained(src, padding_side="left")
    enc = tok(["a short one", "a longer prompt to pad the other against"], padding=True, return_tensors="pt")
    mask = enc["attention_mask"]
    position_ids = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    session = _session(out / DECODER_FILE)
    sizes = {"batch_size": 2, "past_sequence_length": 0}
    past = {
        i.name: np.zeros([sizes[d] if isinstance(d, str) else d for d in i.shape], np.float32)
        for i in session.get_inputs()
        if i.name.startswith("past_key_values")
    }
    first = _run(session, {**enc, "position_ids": position_ids, **past})
    with torch.no_grad():
        ref = model(**enc, position_ids=position_ids, use_cache=True)
    real = mask.numpy()[:, :, None] == 1  # logits at padded positions are not defined
    assert np.abs(np.where(real, first["logits"] - ref.logits.numpy(), 0)).max() < 1e-4

    next_ids = first["logits"][:, -1:].argmax(-1)
    mask2 = torch.cat([mask, torch.ones(2, 1, dtype=mask.dtype)], dim=1)
    next_positions = mask2.sum(-1, keepdim=True) - 1  # as generation makes them, padding not counted
    own_cache = {
        n.replace("present", "past_key_values"): v for n, v in first.items() if n.startswith("present")
    }
    second = _run(
        session,
        {
            "input_ids": next_ids,
            "attention_mask": mask2,
            "position_ids": next_positions,
            **own_cache,
        },
    )
    with torch.no_grad():
        ref2 = model(
            input_ids=torch.from_numpy(next_ids),
            attention_mask=mask2,
            position_ids=next_positions,
            past_key_values=ref.past_key_values,
            use_cache=True,
        )
    assert np.abs(second["logits"] - ref2.logits.numpy()).max() < 1e-4
    assert second["present.0.key"].shape[2] == mask2.shape[1]


def test_encoder_decoder_logits_match_pytorch_first_step_and_with_cache(zoo_dir, tmp_path) -> None:
    """The two decoders written as separate files (--separate-decoders)."""
    src = zoo_dir("t5", "text2text-generation-with-past")
    out, meta = _export(src, tmp_path / "out", "text2text-generation-with-past", merge_decoders=False)
    assert meta["onnx_files"] == [ENCODER_FILE, SEQ2SEQ_DECODER_FILE, SEQ2SEQ_DECODER_WITH_PAST_FILE]
    model = transformers.AutoModelForSeq2SeqLM.from_pretrained(src).eval()
    tok = transformers.AutoTokenizer.from_pretrained(src)
    enc = tok(["a short one", "a longer input to pad the other against"], padding=True, return_tensors="pt")
    start = torch.full((2, 1), model.config.decoder_start_token_id)
    hidden = _run(_session(out / ENCODER_FILE), enc)["last_hidden_state"]
    common = {"encoder_attention_mask": enc["attention_mask"], "encoder_hidden_states": hidden}
    first = _run(_session(out / SEQ2SEQ_DECODER_FILE), {**common, "input_ids": start})
    with torch.no_grad():
        ref = model(**enc, decoder_input_ids=start, use_cache=True)
    assert np.abs(first["logits"] - ref.logits.numpy()).max() < 1e-4

    next_ids = first["logits"][:, -1:].argmax(-1)
    cache = {n.replace("present", "past_key_values"): v for n, v in first.items() if n.startswith("present")}
    second = _run(_session(out / SEQ2SEQ_DECODER_WITH_PAST_FILE), {**common, "input_ids": next_ids, **cache})
    with torch.no_grad():
        ref2 = model(
            encoder_outputs=(ref.encoder_last_hidden_state,),
            attention_mask=enc["attention_mask"],
            decoder_input_ids=torch.from_numpy(next_ids),
            past_key_values=ref.past_key_values,
            use_cache=True,
        )
    assert np.abs(second["logits"] - ref2.logits.numpy()).max() < 1e-4
    assert sorted(n for n in second if n.startswith("present")) == sorted(
        n for n in first if n.startswith("present") and ".decoder." in n
    )


# --- layout, tags, tasks without past, failure ------------------------------------------------------------


def test_io_names_and_axes_are_optimums() -> None:
    pytest.importorskip("optimum.exporters.onnx.model_configs")
    from optimum.exporters.tasks import TasksManager

    config = transformers.AutoConfig.for_model("llama", num_hidden_layers=2)
    constructor = TasksManager.get_exporter_config_constructor(
        "onnx", task="text-generation-with-past", model_type="llama", library_name="transformers"
    )
    theirs = constructor(config, use_past_in_inputs=True)  # as main_export makes model.onnx
    ours = decoder_part(2, position_ids=True).io
    assert {t.name: dict(t.axes) for t in ours.inputs} == dict(theirs.inputs)
    assert {t.name: dict(t.axes) for t in ours.outputs} == dict(theirs.outputs)


def test_seq2seq_decoders_take_optimums_names_and_axes() -> None:
    pytest.importorskip("optimum.exporters.onnx.model_configs")
    from optimum.exporters.tasks import TasksManager

    config = transformers.AutoConfig.for_model("t5", num_layers=2, num_decoder_layers=2)
    base = TasksManager.get_exporter_config_constructor(
        "onnx", task="text2text-generation-with-past", model_type="t5", library_name="transformers"
    )(config)
    _, first, with_past = seq2seq_parts(2)
    for part, past_in in ((first, False), (with_past, True)):
        theirs = base.with_behavior("decoder", use_past=True, use_past_in_inputs=past_in)
        renamed = theirs.torch_to_onnx_input_map
        assert {t.name: dict(t.axes) for t in part.io.inputs} == {
            renamed.get(k, k): v for k, v in theirs.inputs.items()
        }
        outputs = dict(theirs.outputs)
        if past_in:  # Optimum's fixed-length trick; here the decoder with past takes any number of tokens
            assert outputs["logits"] == {0: "batch_size", 1: "1"}
            outputs["logits"] = {0: "batch_size", 1: "decoder_sequence_length"}
        assert {t.name: dict(t.axes) for t in part.io.outputs} == outputs


def test_seq2seq_files_take_optimums_names() -> None:
    encoder, first, with_past = seq2seq_parts(1)
    assert encoder.io.input_names == ["input_ids", "attention_mask"]
    assert first.io.output_names == [
        "logits",
        "present.0.decoder.key",
        "present.0.decoder.value",
        "present.0.encoder.key",
        "present.0.encoder.value",
    ]
    assert with_past.io.input_names[3:] == [
        "past_key_values.0.decoder.key",
        "past_key_values.0.decoder.value",
        "past_key_values.0.encoder.key",
        "past_key_values.0.encoder.value",
    ]
    assert with_past.io.output_names == ["logits", "present.0.decoder.key", "present.0.decoder.value"]


def _module_paths(path: Path) -> set[str]:
    """The module of every node, a merged decoder's branches included."""
    model = onnx.load(str(path))
    paths = []
    for node in (ref.node for ref in walk(model.graph)):
        tags = {p.key: p.value for p in node.metadata_props}
        assert KEY_MODULE in tags, f"{path.name}: untagged {node.op_type} {node.name}"
        paths.append(tags[KEY_MODULE])
    return set(paths)


def test_every_file_is_tagged_and_encoder_and_decoder_paths_stay_apart(zoo_dir, tmp_path) -> None:
    src = zoo_dir("bart", "text2text-generation-with-past")
    out, meta = _export(src, tmp_path / "out", "text2text-generation-with-past")
    model = transformers.AutoModelForSeq2SeqLM.from_pretrained(src)
    names = {id(m): n for n, m in model.named_modules()}
    encoder, decoder = names[id(model.get_encoder())], names[id(model.get_decoder())]
    enc_paths = _module_paths(out / ENCODER_FILE)
    assert any(p.startswith(encoder + ".") for p in enc_paths)
    assert not any(p.startswith(decoder) for p in enc_paths)
    for file in SEQ2SEQ_FILES[1:]:
        paths = _module_paths(out / file)
        assert any(p.startswith(decoder + ".") for p in paths) and not any(
            p.startswith(encoder) for p in paths
        )
        assert (out / f"{Path(file).stem}.hierarchy.json").is_file()
    per_file = meta["hierarchy"]["files"]
    assert set(per_file) == set(SEQ2SEQ_FILES)
    assert meta["hierarchy"]["nodes_total"] == sum(f["nodes_total"] for f in per_file.values())


def test_tasks_without_past_export_no_cache_and_generate_with_use_cache_false(zoo_dir, tmp_path) -> None:
    src = zoo_dir("qwen2", "text-generation")
    out, meta = _export(src, tmp_path / "dec", "text-generation")
    assert not [n for n in meta["io"][DECODER_FILE]["inputs"] if n.startswith("past_key_values")]
    assert list(meta["io"][DECODER_FILE]["outputs"]) == ["logits"]
    _assert_generates_like_pytorch(src, out, "text-generation", use_cache=False)

    src = zoo_dir("t5", "text2text-generation")
    out, meta = _export(src, tmp_path / "s2s", "text2text-generation")
    assert meta["onnx_files"] == [ENCODER_FILE, SEQ2SEQ_DECODER_FILE]
    _assert_generates_like_pytorch(src, out, "text2text-generation", use_cache=False)


def test_dynamo_decoder_generates_exactly_like_pytorch(zoo_dir, tmp_path) -> None:
    src = zoo_dir("llama", "text-generation-with-past")
    out, meta = _export(src, tmp_path / "out", "text-generation-with-past", exporter="dynamo")
    assert meta["exporter"] == "dynamo"
    _assert_logits_parity_recorded(meta, ("first", "cached"))
    _assert_generates_like_pytorch(src, out, "text-generation-with-past")


def test_drift_beyond_tolerance_raises_verify_error_and_writes_nothing(zoo_dir, tmp_path) -> None:
    src = zoo_dir("gpt2", "text-generation-with-past")
    with pytest.raises(VerifyError, match="on its 'first' inputs"):
        run_export(
            str(src),
            tmp_path / "out",
            task="text-generation-with-past",
            exporter="torchscript",
            atol=0.0,
            rtol=0.0,
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("architectures", "model_type", "task"),
    [
        (["GPT2LMHeadModel"], "gpt2", "text-generation-with-past"),
        (["LlamaForCausalLM"], "llama", "text-generation-with-past"),
        (["T5ForConditionalGeneration"], "t5", "text2text-generation-with-past"),
        (["BartForConditionalGeneration"], "bart", "text2text-generation-with-past"),
        (["MarianMTModel"], "marian", "text2text-generation-with-past"),
        (["GPT2Model"], "gpt2", "feature-extraction"),
        (["WhisperForConditionalGeneration"], "whisper", "automatic-speech-recognition-with-past"),
        (["MoonshineForConditionalGeneration"], "moonshine", "automatic-speech-recognition-with-past"),
        (["VisionEncoderDecoderModel"], "vision-encoder-decoder", "image-to-text-with-past"),
        (["Pix2StructForConditionalGeneration"], "pix2struct", "image-to-text-with-past"),
    ],
)
def test_generative_heads_infer_their_task(architectures, model_type, task) -> None:
    assert infer_task(architectures, model_type) == task


def test_vision_language_conditional_generation_heads_are_not_text2text() -> None:
    for arch, model_type in (
        ("Blip2ForConditionalGeneration", "blip-2"),
        ("LlavaForConditionalGeneration", "llava"),
    ):
        with pytest.raises(Exception, match="cannot infer"):
            infer_task([arch], model_type)


# --- the cache classes ------------------------------------------------------------------------------------


def test_flat_past_round_trips_through_the_cache_objects() -> None:
    model = torch.nn.Linear(1, 1)  # any module: only its cache support is read
    flat = [torch.randn(2, 3, 4, 5) for _ in range(8)]
    for cache in (compat.decoder_cache(model, flat), compat.encoder_decoder_cache(model, flat)):
        assert all(torch.equal(a, b) for a, b in zip(compat.flatten_cache(cache), flat, strict=True))
    legacy = ((flat[0], flat[1]), (flat[2], flat[3]))
    assert compat.flatten_cache(legacy) == tuple(flat[:4])
    own = compat.flatten_cache(compat.encoder_decoder_cache(model, flat), self_attention_only=True)
    assert all(torch.equal(a, b) for a, b in zip(own, [flat[0], flat[1], flat[4], flat[5]], strict=True))


def test_the_traceable_cache_update_takes_every_calling_convention_transformers_uses() -> None:
    """DynamicLayer.update is called with ``cache_kwargs`` (positionally, <= 5.23) or with
    ``*args, **kwargs`` passed through (5.24); the traced replacement must take both."""
    from modelexport.patches.cache_layer import _assigning_update

    class Layer:
        keys = values = None
        is_initialized = False

    layer = Layer()
    k, v = torch.ones(1, 2, 3, 4), torch.zeros(1, 2, 3, 4)
    _assigning_update(layer, k, v)
    _assigning_update(layer, k, v, {"cache_position": None})
    keys, values = _assigning_update(layer, k, v, kwargs={"cache_position": None})
    assert keys.shape == (1, 2, 9, 4) and values.shape == (1, 2, 9, 4)


def test_absolute_positions_beyond_optimums_list_become_an_input(zoo_dir, tmp_path) -> None:
    """XGLM (not exported by Optimum) adds absolute sinusoidal positions it counts from 0 unless
    given ``position_ids``; ``generate`` gives them from the mask, so a left-padded prompt needs them
    as an input. Rotary models outside that list (Gemma) do not: a shift of every position changes
    nothing."""
    from modelexport.generative.plan import takes_position_ids
    from modelexport.matrix.generative_checks import ort_generation
    from modelexport.tasks import get_task

    task = get_task("text-generation-with-past")
    src = zoo_dir("xglm", task.name)
    out, meta = _export(src, tmp_path / "xglm", task.name)
    assert "position_ids" in meta["io"][DECODER_FILE]["inputs"]
    check = ort_generation(out, src, task, 1e-4, 1e-4)
    assert check.ok, check.error  # left-padded prompts at batch 2, PyTorch's tokens
    gemma = transformers.AutoModelForCausalLM.from_pretrained(str(zoo_dir("gemma", task.name)))
    assert not takes_position_ids(gemma)


def test_check_prompts_pad_with_eos_where_the_tokenizer_has_no_padding_token(zoo_dir, tmp_path):
    """transformers 5 loads some tokenizers without a padding token: the check's batch of two
    prompts is then left-padded with the end-of-sequence token, under the mask."""
    import shutil

    import transformers

    from modelexport.generative.generate import PROMPTS, prompt_inputs
    from modelexport.tasks import get_task

    source = tmp_path / "gpt2"
    shutil.copytree(zoo_dir("gpt2", "text-generation"), source)
    tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    tokenizer.pad_token = None
    tokenizer.save_pretrained(source)
    assert transformers.AutoTokenizer.from_pretrained(source).pad_token is None
    inputs = prompt_inputs(source, get_task("text-generation"), PROMPTS)
    mask, ids = inputs["attention_mask"], inputs["input_ids"]
    assert ids.shape[0] == 2 and not bool(mask[0].all()) and bool(mask[1].all())
    assert set(ids[0][mask[0] == 0].tolist()) == {tokenizer.eos_token_id}


def _gpt2_without_special_tokens(zoo_dir, tmp_path):
    """The zoo GPT-2 with a tokenizer that has no special tokens at all, as transformers 5's generic
    class loads some zoo tokenizers."""
    import shutil

    import transformers

    source = tmp_path / "gpt2"
    shutil.copytree(zoo_dir("gpt2", "text-generation"), source)
    tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    tokenizer.pad_token = tokenizer.eos_token = tokenizer.bos_token = tokenizer.unk_token = None
    tokenizer.save_pretrained(source)
    return source, tokenizer


def test_check_prompts_pad_with_the_configs_id_where_the_tokenizer_has_no_special_tokens(zoo_dir, tmp_path):
    """transformers 5 loads some zoo tokenizers with no special tokens at all (no padding, no
    end-of-sequence): the prompts are then padded with the config's padding id, under the mask."""
    import transformers

    from modelexport.generative.generate import PROMPTS, prompt_inputs
    from modelexport.tasks import get_task

    source, _ = _gpt2_without_special_tokens(zoo_dir, tmp_path)
    reloaded = transformers.AutoTokenizer.from_pretrained(source)
    assert reloaded.pad_token is None and reloaded.eos_token is None
    config = transformers.AutoConfig.from_pretrained(source)
    pad = config.pad_token_id if config.pad_token_id is not None else config.eos_token_id
    inputs = prompt_inputs(source, get_task("text-generation"), PROMPTS)
    mask = inputs["attention_mask"]
    assert mask.shape[0] == len(PROMPTS) and (mask == 0).any()  # a padded batch
    assert (inputs["input_ids"][mask == 0] == pad).all()
    assert (mask[:, -1] == 1).all()  # left padding


def test_check_prompts_pad_with_id_0_where_the_configs_ids_are_outside_the_vocabulary(zoo_dir, tmp_path):
    """GPT-BigCode's default end-of-sequence id (50256) lies outside the zoo's 406-token vocabulary:
    with no special tokens in the tokenizer either, the prompts are padded with id 0."""
    import transformers

    from modelexport.generative.generate import PROMPTS, prompt_inputs
    from modelexport.tasks import get_task

    source, tokenizer = _gpt2_without_special_tokens(zoo_dir, tmp_path)
    config = transformers.AutoConfig.from_pretrained(source)
    config.pad_token_id, config.eos_token_id = None, len(tokenizer) + 50_000
    config.save_pretrained(source)
    inputs = prompt_inputs(source, get_task("text-generation"), PROMPTS)
    mask = inputs["attention_mask"]
    assert (mask == 0).any() and (inputs["input_ids"][mask == 0] == 0).all()


def test_vocab_size_falls_back_to_the_model_where_its_decoder_does_not_say():
    """transformers 4.48's M2M100Decoder raises NotImplementedError from get_input_embeddings (the
    model's own works): every M2M100 export with a cache failed as 'PyTorch itself fails'."""
    import torch

    from modelexport.generative.feeds import vocab_size

    class Decoder(torch.nn.Module):
        def get_input_embeddings(self):
            raise NotImplementedError

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.decoder, self.shared = Decoder(), torch.nn.Embedding(17, 4)

        def get_decoder(self):
            return self.decoder

        def get_input_embeddings(self):
            return self.shared

    assert vocab_size(Model()) == 17
