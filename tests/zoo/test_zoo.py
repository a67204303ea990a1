"""The offline zoo: every (arch, task) builds, loads back with its Auto class, preprocesses and runs."""

from __future__ import annotations

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
from modelexport.tasks import TASKS, infer_task
from modelexport.zoo import (
    ARCHS,
    AUTO_CLASSES,
    ArchSpec,
    build,
    cache_key,
    cached_build,
    head_class,
    list_archs,
    zoo_list_rows,
)
from modelexport.zoo import cache as zoo_cache
from modelexport.zoo.compat import image_processor_name, tokenizer_name, with_special_tokens
from modelexport.zoo.processors import KINDS

PAIRS = [(spec.name, task) for spec in list_archs() for task in spec.tasks]
GENERATIVE_TASKS = ("text-generation", "text2text-generation")
TEXTS = ["Hello world!", "A photo of a cat sitting on a branch by the sea."]
BATCH = 2
CHOICES = ("the river flows into the sea.", "the fox jumps over the dog.")
LOCAL = {"local_files_only": True}
# Encoder-decoder heads that derive their decoder inputs from input_ids (BART pools at the last eos).
_ENCODER_INPUT_HEADS = frozenset({"text-classification", "question-answering"})


def _text_config(config: Any) -> Any:
    return getattr(config, "text_config", None) or config


def _images(size: int) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    # Non-square and larger than the target so resizing and cropping both happen.
    return [
        Image.fromarray(rng.integers(0, 256, (size * 2, size * 3, 3), dtype=np.uint8)) for _ in range(BATCH)
    ]


def _waves() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal(n).astype(np.float32) for n in (16000, 12000)]


def _text_inputs(d: Path, task: str) -> dict[str, torch.Tensor]:
    tok = transformers.AutoTokenizer.from_pretrained(d, **LOCAL)
    if task == "multiple-choice":
        enc = tok([TEXTS[1]] * len(CHOICES), list(CHOICES), padding=True, return_tensors="pt")
        return {k: v.unsqueeze(0) for k, v in enc.items()}
    return dict(tok(TEXTS, padding=True, return_tensors="pt"))


def _inputs(spec: ArchSpec, task: str, d: Path) -> dict[str, torch.Tensor]:
    """What the checkpoint's own preprocessors produce for a small batch."""
    kind = KINDS[spec.preprocessor]
    inputs: dict[str, torch.Tensor] = {}
    if kind.tokenizer and kind.image:
        proc = transformers.AutoProcessor.from_pretrained(d, **LOCAL)
        inputs.update(
            proc(text=TEXTS, images=_images(spec.image_size or 32), padding=True, return_tensors="pt")
        )
    elif kind.tokenizer:
        inputs.update(_text_inputs(d, task))
    elif kind.image:
        proc = transformers.AutoImageProcessor.from_pretrained(d, **LOCAL)
        inputs.update(proc(_images(spec.image_size or 32), return_tensors="pt"))
    else:
        proc = transformers.AutoFeatureExtractor.from_pretrained(d, **LOCAL)
        inputs.update(proc(_waves(), sampling_rate=16000, padding=True, return_tensors="pt"))
    return inputs


def _expected_shapes(task: str, config: Any, inputs: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    """Output name -> shape (``-1``: any size) for a task's head, from the inputs and the config."""
    seq = inputs["input_ids"].shape[-1] if "input_ids" in inputs else -1
    vocab = getattr(_text_config(config), "vocab_size", -1)
    return {
        "feature-extraction": {},
        "fill-mask": {"logits": (BATCH, seq, vocab)},
        "text-classification": {"logits": (BATCH, 3)},
        "token-classification": {"logits": (BATCH, seq, 3)},
        "question-answering": {"start_logits": (BATCH, seq), "end_logits": (BATCH, seq)},
        "multiple-choice": {"logits": (1, len(CHOICES))},
        "image-classification": {"logits": (BATCH, 3)},
        "semantic-segmentation": {"logits": (BATCH, 3, -1, -1)},
        "zero-shot-image-classification": {"logits_per_image": (BATCH, len(TEXTS))},
        "audio-classification": {"logits": (BATCH, 3)},
        "automatic-speech-recognition": {"logits": (BATCH, -1, vocab)},
        "text-generation": {"logits": (BATCH, seq, vocab)},
        "text2text-generation": {"logits": (BATCH, 3, vocab)},
        "text-generation-with-past": {"logits": (BATCH, seq, vocab)},
        "text2text-generation-with-past": {"logits": (BATCH, 3, vocab)},
    }[task]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Build each (arch, task) once per module (per xdist worker), fresh, outside any user cache."""
    root = tmp_path_factory.mktemp("zoo")
    done: dict[tuple[str, str], Path] = {}

    def get(name: str, task: str) -> Path:
        if (name, task) not in done:
            done[name, task] = build(name, root / f"{name}-{task}", task)
        return done[name, task]

    return get


# --- the registry ---------------------------------------------------------------------------------------


def test_zoo_is_large_enough_and_covers_every_modality() -> None:
    assert len(ARCHS) >= 22 and len(PAIRS) >= 45
    assert {s.modality for s in ARCHS.values()} >= {
        "text",
        "vision",
        "multimodal",
        "audio",
        "text-generation",
    }
    required = {
        "bert",
        "distilbert",
        "roberta",
        "albert",
        "electra",
        "deberta-v2",
        "xlm-roberta",
        "vit",
        "deit",
    }
    required |= {"resnet", "convnext", "swin", "mobilenet_v2", "clip", "gpt2", "llama"}
    assert required <= set(ARCHS)


def test_list_archs_is_sorted_and_rows_match() -> None:
    names = [s.name for s in list_archs()]
    assert names == sorted(ARCHS)
    assert zoo_list_rows()[0] == (names[0], ARCHS[names[0]].modality, ",".join(ARCHS[names[0]].tasks))
    assert len(zoo_list_rows()) == len(ARCHS)


def test_specs_are_frozen_data() -> None:
    spec = ARCHS["bert"]
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.config["hidden_size"] = 64  # type: ignore[index]
    assert hash(spec) == hash(ARCHS["bert"])


@pytest.mark.parametrize("spec", list_archs(), ids=lambda s: s.name)
def test_spec_tasks_are_what_optimum_exports_and_transformers_has_heads_for(spec: ArchSpec) -> None:
    pytest.importorskip("optimum.exporters.onnx.model_configs")
    from optimum.exporters.tasks import TasksManager

    supported = TasksManager.get_supported_tasks_for_model_type(
        spec.model_type, "onnx", library_name="transformers"
    )
    config_cls = CONFIG_MAPPING[spec.model_type]
    expected = {
        task
        for task in [*TASKS, *GENERATIVE_TASKS]
        if task in supported and config_cls in getattr(transformers, AUTO_CLASSES[task])._model_mapping
    }
    assert set(spec.tasks) == expected
    assert len(spec.tasks) == len(set(spec.tasks))


def test_unknown_arch_and_task_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no zoo architecture 'nope'"):
        build("nope", tmp_path)
    with pytest.raises(UserInputError, match="has no task 'image-classification'"):
        build("bert", tmp_path, "image-classification")


# --- every (arch, task) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "task"), PAIRS, ids=[f"{n}-{t}" for n, t in PAIRS])
def test_pair_builds_loads_preprocesses_and_runs(built: Any, name: str, task: str) -> None:
    spec = ARCHS[name]
    d = built(name, task)
    config = transformers.AutoConfig.from_pretrained(d, **LOCAL)
    head = head_class(spec, task).__name__
    assert config.model_type == spec.model_type
    assert config.architectures == [head]
    if task in TASKS and [t for t in spec.tasks if head_class(spec, t).__name__ == head] == [task]:
        assert infer_task(config.architectures, config.model_type) == task

    model = getattr(transformers, AUTO_CLASSES[task]).from_pretrained(d, **LOCAL).eval()
    assert type(model).__name__ == head
    assert (d / "model.safetensors").is_file() and not (d / "pytorch_model.bin").exists()
    assert sum(p.numel() for p in model.parameters()) < 300_000

    inputs = _inputs(spec, task, d)
    accepted = inspect.signature(model.forward).parameters
    inputs = {k: v for k, v in inputs.items() if k in accepted}
    if config.is_encoder_decoder and task not in _ENCODER_INPUT_HEADS:
        inputs["decoder_input_ids"] = inputs["input_ids"][:, :3]
    with torch.no_grad():
        out = model(**inputs)
    first = out[0]
    assert first.shape[0] == (1 if task == "multiple-choice" else BATCH)
    assert torch.isfinite(first).all()
    for key, shape in _expected_shapes(task, config, inputs).items():
        got = tuple(out[key].shape)
        assert len(got) == len(shape) and all(e in (-1, g) for e, g in zip(shape, got, strict=True)), (
            key,
            got,
        )


@pytest.mark.parametrize("name", [s.name for s in list_archs() if KINDS[s.preprocessor].tokenizer])
def test_tokenizer_matches_model_and_real_layout(built: Any, name: str) -> None:
    spec = ARCHS[name]
    d = built(name, spec.tasks[0])
    config = _text_config(transformers.AutoConfig.from_pretrained(d, **LOCAL))
    tok = transformers.AutoTokenizer.from_pretrained(d, **LOCAL)
    # The fast class, or the slow (SentencePiece) one where transformers has no fast class (Marian).
    fast_name = tokenizer_name(spec.model_type)
    assert type(tok).__name__ == fast_name
    assert json.loads((d / "tokenizer_config.json").read_text())["tokenizer_class"] in {
        fast_name,
        fast_name[:-4],
    }
    assert tok.model_input_names == getattr(transformers, fast_name).model_input_names
    assert len(tok) <= config.vocab_size
    assert tok.pad_token_id is not None and tok.pad_token_id == config.pad_token_id
    for key in ("bos_token_id", "eos_token_id"):
        if getattr(tok, key) is not None:
            assert getattr(tok, key) == getattr(config, key)
    plain = tok(TEXTS[1], add_special_tokens=False)["input_ids"]
    assert tok(TEXTS[1])["input_ids"] == with_special_tokens(tok, TEXTS[1])
    assert tok.unk_token_id not in plain  # the corpus's characters are all in the vocabulary
    assert tok.decode(plain).lower().replace(" ", "") == TEXTS[1].lower().replace(" ", "")


@pytest.mark.parametrize("name", [s.name for s in list_archs() if KINDS[s.preprocessor].image])
def test_image_processor_is_the_models_own_at_the_configs_size(built: Any, name: str) -> None:
    spec = ARCHS[name]
    d = built(name, spec.tasks[0])
    proc = transformers.AutoImageProcessor.from_pretrained(d, **LOCAL)
    assert type(proc).__name__ == image_processor_name(spec.model_type)
    pixels = proc(_images(spec.image_size or 0), return_tensors="pt")["pixel_values"]
    assert tuple(pixels.shape) == (BATCH, 3, spec.image_size, spec.image_size)
    config = transformers.AutoConfig.from_pretrained(d, **LOCAL)
    vision = getattr(config, "vision_config", None) or config
    assert getattr(vision, "image_size", spec.image_size) == spec.image_size
    if KINDS[spec.preprocessor].tokenizer:
        assert type(transformers.AutoProcessor.from_pretrained(d, **LOCAL)).__name__ == "CLIPProcessor"


@pytest.mark.parametrize("name", [s.name for s in list_archs() if KINDS[s.preprocessor].audio])
def test_audio_preprocessors_and_ctc_vocabulary(built: Any, name: str) -> None:
    d = built(name, "automatic-speech-recognition")
    config = transformers.AutoConfig.from_pretrained(d, **LOCAL)
    proc = transformers.AutoProcessor.from_pretrained(d, **LOCAL)
    assert type(proc).__name__ == "Wav2Vec2Processor"
    assert type(proc.tokenizer).__name__ == "Wav2Vec2CTCTokenizer"
    assert len(proc.tokenizer) == config.vocab_size and proc.tokenizer.pad_token_id == config.pad_token_id
    assert (
        proc.tokenizer.decode(proc.tokenizer("HELLO WORLD").input_ids) == "HELO WORLD"
    )  # CTC merges repeats
    feats = transformers.AutoFeatureExtractor.from_pretrained(built(name, "audio-classification"), **LOCAL)
    assert type(feats).__name__ == "Wav2Vec2FeatureExtractor" and feats.sampling_rate == 16000
    assert not (built(name, "audio-classification") / "vocab.json").exists()


# --- determinism and the cache --------------------------------------------------------------------------

_ONE_PER_KIND = sorted({s.preprocessor: (s.name, s.tasks[-1]) for s in list_archs()}.values())


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_builds_are_byte_identical_across_processes(tmp_path: Path) -> None:
    """One architecture per preprocessor kind, built here and in a fresh interpreter (new hash seeds)."""
    script = "import sys, pathlib\nfrom modelexport.zoo import build\n" + "".join(
        f"build({n!r}, pathlib.Path(sys.argv[1]) / '{n}-{t}', {t!r})\n" for n, t in _ONE_PER_KIND
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "b")], check=True, capture_output=True)
    for n, t in _ONE_PER_KIND:
        here = _files(build(n, tmp_path / "a" / f"{n}-{t}", t))
        there = _files(tmp_path / "b" / f"{n}-{t}")
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
