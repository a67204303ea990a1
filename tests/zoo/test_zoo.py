"""The offline zoo: every (arch, task) builds, loads back as its head, takes the exporter's inputs and
gives outputs that vary (so a parity check against them means something); its preprocessors are the
model type's own."""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import transformers
from PIL import Image
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from modelexport.errors import UserInputError
from modelexport.heads import head_class as exporter_head_class
from modelexport.inputs import make_inputs
from modelexport.io_spec import build_io_spec
from modelexport.loading import load
from modelexport.tasks import TASKS, infer_task, task_for
from modelexport.wrappers import call_model
from modelexport.zoo import (
    ARCHS,
    ArchSpec,
    build,
    cache_key,
    cached_build,
    head_class,
    list_archs,
    unavailable_reason,
    zoo_list_rows,
    zoo_summary,
)
from modelexport.zoo import cache as zoo_cache
from modelexport.zoo.compat import image_processor_name, tokenizer_name, with_special_tokens
from modelexport.zoo.processors import KINDS
from modelexport.zoo.tokenizers import RECIPES

PAIRS = [(spec.name, task) for spec in list_archs() for task in spec.tasks]
TEXTS = ["Hello world!", "A photo of a cat sitting on a branch by the sea."]
BATCH = 2
LOCAL = {"local_files_only": True}
# Outputs must vary by more than this: 10x the 1e-4 parity tolerance, so a graph that computes
# something else than PyTorch cannot pass by outputs that are ~0 everywhere.
STD_FLOOR = 1e-3
# Tiny means tiny: the largest zoo model (Perceiver's image classifier, whose preprocessor has a
# hard-coded 256-channel convolution) stays under this many parameters.
MAX_PARAMETERS = 1_000_000


@functools.cache
def spec_config(spec: ArchSpec) -> Any:
    """The spec's config without building (no tokenizer ids): enough to tell its layouts apart."""
    return transformers.AutoConfig.for_model(spec.model_type, **copy.deepcopy(dict(spec.config)))


def _text_config(config: Any) -> Any:
    return getattr(config, "text_config", None) or config


def _images(size: int) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    # Non-square and larger than the target so resizing and cropping both happen.
    return [
        Image.fromarray(rng.integers(0, 256, (size * 2, size * 3, 3), dtype=np.uint8)) for _ in range(BATCH)
    ]


def _tokenizer(d: Path) -> Any:
    """The checkpoint's tokenizer as a user loads it (slow-only classes with use_fast=False)."""
    try:
        return transformers.AutoTokenizer.from_pretrained(d, **LOCAL)
    except (AttributeError, ValueError, OSError):
        return transformers.AutoTokenizer.from_pretrained(d, use_fast=False, **LOCAL)


# --- the registry ---------------------------------------------------------------------------------------


def test_zoo_meets_the_breadth_numbers() -> None:
    summary = zoo_summary()
    assert summary.model_types >= 150
    assert summary.registered >= 135
    assert summary.beyond_non_generative >= 15 and summary.beyond_generative >= 8
    assert summary.tasks >= 25 and summary.ort_classes == 20
    assert len(PAIRS) >= 500
    assert {s.modality for s in ARCHS.values()} >= {
        "text",
        "vision",
        "multimodal",
        "audio",
        "text-generation",
    }
    required = {"bert", "roberta", "vit", "resnet", "clip", "gpt2", "llama", "t5", "whisper"}
    required |= {"detr", "dpt", "sam", "siglip", "layoutlmv3", "modernbert", "gemma3", "qwen3", "qwen3_moe"}
    assert required <= set(ARCHS)


def test_list_archs_is_sorted_and_rows_match(monkeypatch: pytest.MonkeyPatch) -> None:
    names = [s.name for s in list_archs()]
    assert names == sorted(ARCHS)
    rows = zoo_list_rows()
    assert [r[0] for r in rows] == names
    whisper = next(r for r in rows if r[0] == "whisper")
    assert whisper[2].startswith("feature-extraction,audio-classification,automatic-speech-recognition")
    assert not any(ARCHS[r[0]].pending for r in rows)  # every task Optimum lists is exported
    pending = dataclasses.replace(ARCHS["gpt2"], tasks=("feature-extraction",), pending=("text-generation",))
    monkeypatch.setitem(ARCHS, "gpt2", pending)
    assert (
        next(r for r in zoo_list_rows() if r[0] == "gpt2")[2]
        == "feature-extraction [pending: text-generation]"
    )
    assert next(r for r in rows if r[0] == "ernie")[1] == "text (not in Optimum)"


def test_specs_are_frozen_data_with_disjoint_task_lists() -> None:
    spec = ARCHS["bert"]
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.config["hidden_size"] = 64  # type: ignore[index]
    assert hash(spec) == hash(ARCHS["bert"])
    with pytest.raises(ValueError, match="both exported and pending"):
        ArchSpec("x", "bert", "text", ("fill-mask",), {}, "wordpiece", pending=("fill-mask",))
    with pytest.raises(ValueError, match="lists no task"):
        ArchSpec("x", "bert", "text", (), {}, "wordpiece")


def test_every_preprocessor_kind_is_known() -> None:
    assert {s.preprocessor for s in ARCHS.values()} <= set(KINDS)


def _exportable(model_type: str, task: str) -> bool:
    """Does modelexport's exporter have this task, and does its head resolution find a head?"""
    if task not in TASKS or model_type not in CONFIG_MAPPING:
        return False
    try:
        exporter_head_class(CONFIG_MAPPING[model_type](), TASKS[task])
    except UserInputError:
        return False
    return True


@pytest.mark.parametrize("spec", [s for s in list_archs() if s.optimum], ids=lambda s: s.name)
def test_registered_spec_lists_every_task_optimum_exports_that_has_a_head(spec: ArchSpec) -> None:
    pytest.importorskip("optimum.exporters.onnx.model_configs")
    from optimum.exporters.tasks import TasksManager

    supported = TasksManager.get_supported_tasks_for_model_type(
        spec.model_type, "onnx", library_name="transformers"
    )
    with_head = {t for t in supported if unavailable_reason(spec, t) is None}
    assert set(spec.all_tasks) == with_head
    assert len(spec.all_tasks) == len(set(spec.all_tasks))


@pytest.mark.parametrize("spec", list_archs(), ids=lambda s: s.name)
def test_exported_tasks_are_exportable_and_pending_ones_are_not(spec: ArchSpec) -> None:
    """A task moves from pending to exported when the exporter gains it (the test says when)."""
    generative = {t for t in spec.all_tasks if t in TASKS and not _single_file(spec, t)}
    exported = generative | {t for t in spec.tasks if t not in generative and _exportable(spec.model_type, t)}
    assert exported == set(spec.tasks)
    assert [t for t in spec.pending if t in generative or _exportable(spec.model_type, t)] == []


def test_types_marked_beyond_optimum_are_not_registered_by_it() -> None:
    pytest.importorskip("optimum.exporters.onnx.model_configs")
    from optimum.exporters.tasks import TasksManager

    registered = set(TasksManager._SUPPORTED_MODEL_TYPE)
    beyond = {s.model_type for s in ARCHS.values() if not s.optimum}
    assert beyond and not beyond & registered
    assert {s.model_type for s in ARCHS.values() if s.optimum} <= registered


def test_unknown_arch_and_task_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no zoo architecture 'nope'"):
        build("nope", tmp_path)
    with pytest.raises(UserInputError, match="has no task 'image-classification'"):
        build("bert", tmp_path, "image-classification")
    spec = ArchSpec("x", "bert", "text", ("feature-extraction",), {}, "wordpiece", pending=("fill-mask",))
    with pytest.raises(UserInputError, match="pending"):
        spec.resolve_task("fill-mask")
    assert spec.resolve_task("fill-mask", building=True) == "fill-mask"


# --- every (arch, task) ---------------------------------------------------------------------------------
# Exporting and verifying every pair is the matrix's job (tox envs); here each pair is checked only for
# what the matrix does not check: the head its task resolves to, the task inferred back from it, and
# (single-file tasks) that the seeded model's outputs vary.


def _single_file(spec: ArchSpec, task: str) -> bool:
    """Is (arch, task) one file? By the task's spec for this model (Whisper's speech recognition is
    generative, wav2vec2's is CTC)."""
    return task in TASKS and not task_for(task, spec_config(spec)).generative


SINGLE_FILE_PAIRS = [(n, t) for n, t in PAIRS if _single_file(ARCHS[n], t)]


def _heads_only_elsewhere() -> list[tuple[str, str]]:
    """One (arch, task) per head class that no single-file task of the arch builds: the generative
    and pending heads (causal LM, seq2seq LM, speech and vision seq2seq), each built and loaded once."""
    pairs = []
    for spec in list_archs():
        seen = {head_class(spec, t) for t in spec.tasks if _single_file(spec, t)}
        for task in spec.all_tasks:
            head = head_class(spec, task)
            if head not in seen:
                seen.add(head)
                pairs.append((spec.name, task))
    return pairs


HEAD_PAIRS = _heads_only_elsewhere()


def test_every_pair_resolves_its_head_and_its_task_is_inferred_back() -> None:
    """No build: the head class of each (arch, task), and ``infer_task`` on a checkpoint carrying it
    gives the task back wherever no other task of the arch shares the head."""
    wrong = []
    for spec in list_archs():
        heads = {t: head_class(spec, t) for t in spec.all_tasks}
        for task in spec.tasks:
            if [t for t in spec.tasks if heads[t] is heads[task]] != [task]:
                continue
            try:
                inferred = infer_task([heads[task].__name__], spec.model_type)
            except UserInputError as e:
                inferred = e.one_line()
            if inferred != task:
                wrong.append((spec.name, task, heads[task].__name__, inferred))
    assert wrong == []
    assert len(HEAD_PAIRS) < len(PAIRS) // 3  # the dedup keeps the builds below few per arch


def _check_head(spec: ArchSpec, task: str, d: Path, model: Any = None) -> None:
    config = transformers.AutoConfig.from_pretrained(d, **LOCAL)
    head = head_class(spec, task)
    assert config.model_type == spec.model_type
    assert config.architectures == [head.__name__]
    model = model if model is not None else head.from_pretrained(d, **LOCAL)
    assert type(model) is head
    assert (d / "model.safetensors").is_file() and not (d / "pytorch_model.bin").exists()
    assert sum(p.numel() for p in model.parameters()) < MAX_PARAMETERS


@pytest.mark.parametrize(("name", "task"), SINGLE_FILE_PAIRS, ids=[f"{n}-{t}" for n, t in SINGLE_FILE_PAIRS])
def test_pair_builds_loads_and_its_outputs_vary(zoo_dir: Any, name: str, task: str) -> None:
    """The checkpoint loads as its head and, on the exporter's own export-shaped inputs, gives finite
    outputs that vary (so the matrix's parity checks against them mean something)."""
    spec = ARCHS[name]
    d = zoo_dir(name, task)
    loaded = load(str(d), task)
    _check_head(spec, task, d, loaded.model)
    io = build_io_spec(loaded.model, loaded.task, loaded.tokenizer, loaded.config, loaded.preprocessors)
    assert io.output_names
    feeds = make_inputs(io, loaded.config, loaded.preprocessors, "export")
    with torch.no_grad():
        out = call_model(loaded.model, feeds)
    for output in io.output_names:
        value = out[output].double()
        assert torch.isfinite(value).all(), output
        assert value.std() > STD_FLOOR, (output, float(value.std()))


@pytest.mark.parametrize(("name", "task"), HEAD_PAIRS, ids=[f"{n}-{t}" for n, t in HEAD_PAIRS])
def test_generative_and_pending_heads_build_and_load(zoo_dir: Any, name: str, task: str) -> None:
    _check_head(ARCHS[name], task, zoo_dir(name, task))


def _as_called(tok: Any, text: str) -> tuple[str | list[str], dict[str, Any]]:
    """``text`` as the tokenizer takes it: words with a box each (LayoutLMv3, LiLT) or an xpath each
    (MarkupLM), else the string."""
    params = inspect.signature(tok.__call__).parameters
    words = text.split()
    if "boxes" in params:
        return words, {"boxes": [[1, 2, 3, 4]] * len(words)}
    if "xpaths" in params:
        return words, {"xpaths": ["/html/body/div/p"] * len(words)}
    return text, {}


_TOKENIZED = [s.name for s in list_archs() if KINDS[s.preprocessor].tokenizer]


@pytest.mark.parametrize("name", _TOKENIZED)
def test_tokenizer_matches_model_and_its_class_layout(zoo_dir: Any, name: str) -> None:
    spec = ARCHS[name]
    kind = KINDS[spec.preprocessor]
    task = next(t for t in spec.all_tasks if t not in kind.features_only)
    d = zoo_dir(name, task)
    config = transformers.AutoConfig.from_pretrained(d, **LOCAL)
    text_config = getattr(config, "decoder", None) or _text_config(config)
    tok = _tokenizer(d)
    expected = tokenizer_name(spec.tokenizer_type or spec.model_type)
    if kind.tokenizer in RECIPES or kind.tokenizer == "sentencepiece":
        assert type(tok).__name__ == expected
        assert tok.model_input_names == getattr(transformers, expected).model_input_names
    assert max(tok.get_vocab().values()) < text_config.vocab_size
    if tok.pad_token_id is not None and getattr(text_config, "pad_token_id", None) is not None:
        assert tok.pad_token_id == text_config.pad_token_id
    for key in ("bos_token_id", "eos_token_id"):
        if getattr(tok, key) is not None and getattr(text_config, key, None) is not None:
            assert getattr(tok, key) == getattr(text_config, key)
    text, kwargs = _as_called(tok, TEXTS[1])
    assert tok(text, **kwargs)["input_ids"] == with_special_tokens(tok, text, **kwargs)
    if kind.tokenizer in RECIPES:  # learnt from the zoo's corpus: every character is in the vocabulary
        plain = tok(text, add_special_tokens=False, **kwargs)["input_ids"]
        assert tok.unk_token_id not in plain
        assert tok.decode(plain).lower().replace(" ", "") == TEXTS[1].lower().replace(" ", "")


_IMAGE = [s.name for s in list_archs() if KINDS[s.preprocessor].image]


@pytest.mark.parametrize("name", _IMAGE)
def test_image_processor_is_the_models_own_at_the_configs_size(zoo_dir: Any, name: str) -> None:
    spec = ARCHS[name]
    d = zoo_dir(name, spec.all_tasks[-1])
    proc = transformers.AutoImageProcessor.from_pretrained(d, **LOCAL)
    assert type(proc).__name__ == (spec.processor_class or image_processor_name(spec.model_type))
    required = [p for p in inspect.signature(proc.preprocess).parameters.values() if p.default is p.empty]
    if spec.image_size is None or "pixel_values" not in proc.model_input_names or len(required) > 1:
        return  # no square pixels to check (Pix2Struct's patches, ImageGPT's ids, ViTPose's person boxes)
    processed = proc(_images(spec.image_size), return_tensors="pt")
    if "pixel_values" not in processed:  # ImageGPT: one colour-cluster id per pixel
        assert tuple(processed["input_ids"].shape) == (BATCH, spec.image_size**2)
        return
    pixels = processed["pixel_values"]
    assert tuple(pixels.shape[:2]) == (BATCH, 3)
    assert max(pixels.shape[2:]) >= spec.image_size


_CTC = [
    s.name
    for s in list_archs()
    if KINDS[s.preprocessor].audio
    and "automatic-speech-recognition" in s.tasks
    and _single_file(s, "automatic-speech-recognition")
]


@pytest.mark.parametrize("name", _CTC)
def test_ctc_checkpoints_carry_a_character_vocabulary(zoo_dir: Any, name: str) -> None:
    d = zoo_dir(name, "automatic-speech-recognition")
    config = transformers.AutoConfig.from_pretrained(d, **LOCAL)
    tok = transformers.AutoTokenizer.from_pretrained(d, **LOCAL)
    assert type(tok).__name__ == "Wav2Vec2CTCTokenizer"
    assert len(tok) == config.vocab_size and tok.pad_token_id == config.pad_token_id
    assert tok.decode(tok("HELLO WORLD").input_ids) == "HELO WORLD"  # CTC merges repeats
    assert transformers.AutoFeatureExtractor.from_pretrained(d, **LOCAL).sampling_rate == 16000
    if "audio-classification" in ARCHS[name].tasks:
        assert not (zoo_dir(name, "audio-classification") / "vocab.json").exists()


def test_whisper_checkpoints_carry_its_prompt_tokens(zoo_dir: Any) -> None:
    d = zoo_dir("whisper", "automatic-speech-recognition-with-past")
    generation = transformers.GenerationConfig.from_pretrained(d, **LOCAL)
    tok = transformers.AutoTokenizer.from_pretrained(d, **LOCAL)
    assert generation.decoder_start_token_id == tok.convert_tokens_to_ids("<|startoftranscript|>")
    assert generation.no_timestamps_token_id == tok.convert_tokens_to_ids("<|notimestamps|>")
    assert generation.lang_to_id == {
        f"<|{x}|>": tok.convert_tokens_to_ids(f"<|{x}|>") for x in ("en", "fr", "de")
    }
    assert type(transformers.AutoProcessor.from_pretrained(d, **LOCAL)).__name__ == "WhisperProcessor"


# --- determinism and the cache --------------------------------------------------------------------------

# Pairs the tests above build anyway, so their cached copies are free to compare against.
_ONE_PER_KIND = sorted(
    {ARCHS[n].preprocessor: (n, t) for n, t in reversed([*SINGLE_FILE_PAIRS, *HEAD_PAIRS])}.values()
)


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_builds_are_byte_identical_across_processes(zoo_dir: Any, tmp_path: Path) -> None:
    """One architecture per preprocessor kind, built in a fresh interpreter (new hash seeds) and
    compared with the cached build another test process made."""
    script = "import sys, pathlib\nfrom modelexport.zoo import build\n" + "".join(
        f"build({n!r}, pathlib.Path(sys.argv[1]) / '{n}-{t}', {t!r})\n" for n, t in _ONE_PER_KIND
    )
    log = tmp_path / "stderr.txt"
    with log.open("wb") as err:  # a file, not a pipe: the child's warnings never block it
        fresh = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stderr=err)
        cached = {(n, t): zoo_dir(n, t) for n, t in _ONE_PER_KIND}
        assert fresh.wait() == 0, log.read_text()[-2000:]
    assert len(_ONE_PER_KIND) == len({s.preprocessor for s in list_archs()})
    for n, t in _ONE_PER_KIND:
        here = _files(cached[n, t])
        there = _files(tmp_path / f"{n}-{t}")
        assert here.keys() == there.keys() and "config.json" in here
        assert [k for k in here if here[k] != there[k]] == [], (n, t)


def test_seeding_leaves_the_callers_rng_alone(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build("bert", tmp_path)
    assert torch.equal(torch.rand(3), expected)


def test_cached_build_builds_once_and_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELEXPORT_ZOO_CACHE", str(tmp_path))
    calls: list[tuple[str, str | None]] = []

    def counting_build(name: str, out_dir: Path, task: str | None = None) -> Path:
        calls.append((name, task))
        return build(name, out_dir, task)

    monkeypatch.setattr(zoo_cache, "build", counting_build)
    first = cached_build("vit")
    mtime = (first / "model.safetensors").stat().st_mtime_ns
    second = cached_build("vit", "feature-extraction")
    assert first == second == tmp_path / cache_key() / "vit-feature-extraction"
    assert calls == [("vit", "feature-extraction")]
    assert (second / "model.safetensors").stat().st_mtime_ns == mtime
    assert sorted(p.name for p in (tmp_path / cache_key()).iterdir()) == ["vit-feature-extraction"]


def test_cached_build_discards_its_copy_when_another_process_won(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELEXPORT_ZOO_CACHE", str(tmp_path))
    target = tmp_path / cache_key() / "resnet-image-classification"

    def racing_build(name: str, out_dir: Path, task: str | None = None) -> Path:
        build(name, target, task)  # the other worker renames its copy into place first
        (target / "winner").write_text("x")
        return build(name, out_dir, task)

    monkeypatch.setattr(zoo_cache, "build", racing_build)
    assert cached_build("resnet", "image-classification") == target
    assert (target / "winner").exists()
    assert sorted(p.name for p in target.parent.iterdir()) == ["resnet-image-classification"]


def test_cache_key_tracks_the_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    key = cache_key()
    assert len(key) == 16 and key == cache_key()
    cache_key.cache_clear()
    monkeypatch.setattr(zoo_cache, "LIBRARIES", (*zoo_cache.LIBRARIES, "numpy"))
    try:
        assert cache_key() != key
    finally:
        cache_key.cache_clear()


def test_config_json_records_the_spec(zoo_dir: Any) -> None:
    saved = json.loads((zoo_dir("vit", "masked-im") / "config.json").read_text())
    assert saved["encoder_stride"] == 8 and saved["architectures"] == ["ViTForMaskedImageModeling"]


def test_batchnorm_weights_left_at_one_are_drawn_and_drawn_ones_are_kept():
    """transformers 4.48 leaves MobileViT's BatchNorm weights at 1 (newer versions draw them with the
    initializer range): the zoo draws them there, so its model is alike on every version."""
    import torch

    from modelexport.zoo.build import _draw_batchnorm_weights

    class Config:
        initializer_range = 0.4

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.BatchNorm2d(8))
    with torch.no_grad():
        model[2].weight.normal_(0.0, 0.4)
    kept = model[2].weight.clone()
    torch.manual_seed(0)
    _draw_batchnorm_weights(model, Config())
    assert not (model[1].weight == 1).any() and 0.2 < float(model[1].weight.std()) < 0.8
    assert torch.equal(model[2].weight, kept)


def test_the_zoo_mobilevit_keeps_its_activations_small(zoo_dir):
    """With convolutions at 0.4 and BatchNorm at 1 (4.48's init), the zoo MobileViT's features reached
    1e5 and float32 rounding alone exceeded the matrix's 1e-4 tolerance."""
    import torch
    import transformers

    model = transformers.AutoModel.from_pretrained(zoo_dir("mobilevit", "feature-extraction")).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        out = model(pixel_values=torch.randn(2, 3, 64, 64)).last_hidden_state
    assert 0.01 < float(out.abs().max()) < 100


def test_an_auto_class_this_transformers_lacks_is_skipped_not_the_end_of_the_search(monkeypatch):
    """transformers 5 has no AutoModelForVision2Seq: the head is found in the next auto class
    (AutoModelForImageTextToText there), not reported missing."""
    import importlib

    import transformers

    build = importlib.import_module("modelexport.zoo.build")  # the package exports a build() too
    names = ("AutoModelForNotInThisTransformers", "AutoModelForSequenceClassification")
    monkeypatch.setattr(build, "auto_class_names", lambda task: names)
    assert build.find_head_class("bert", "text-classification") is transformers.BertForSequenceClassification
