"""Build one zoo checkpoint: tiny config, seeded head model, preprocessors, all saved like a Hub checkpoint."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoConfig, PretrainedConfig, PreTrainedModel
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from ..errors import UserInputError
from ..heads import CUSTOM_HEADS
from ..tasks import TASKS
from .archs import ARCHS
from .processors import Written, write_preprocessors
from .spec import ArchSpec, ZooError

# Auto class per task: the exporter's registry plus the generative tasks it will grow into.
AUTO_CLASSES: dict[str, str] = {
    **{name: spec.auto_class for name, spec in TASKS.items()},
    "text-generation": "AutoModelForCausalLM",
    "text2text-generation": "AutoModelForSeq2SeqLM",
}
# Auto classes of tasks Optimum exports that modelexport's registry does not list (yet), or lists for
# another head family (its automatic-speech-recognition is CTC; Whisper's is an encoder-decoder).
MORE_AUTO_CLASSES: Mapping[str, tuple[str, ...]] = {
    "feature-extraction-with-past": ("AutoModel",),
    "automatic-speech-recognition": ("AutoModelForSpeechSeq2Seq",),
    "automatic-speech-recognition-with-past": ("AutoModelForSpeechSeq2Seq",),
    "image-to-text": ("AutoModelForVision2Seq",),
    "image-to-text-with-past": ("AutoModelForVision2Seq",),
}

# Tasks whose head predicts one of a fixed set of labels (per input, token, frame, pixel or query).
LABELLED_TASKS = frozenset(
    {
        "text-classification",
        "token-classification",
        "image-classification",
        "semantic-segmentation",
        "image-segmentation",
        "object-detection",
        "audio-classification",
        "audio-frame-classification",
        "audio-xvector",
    }
)
LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
SEED = 0


def get_spec(name: str) -> ArchSpec:
    """The spec named ``name``, or a one-line error listing the zoo."""
    try:
        return ARCHS[name]
    except KeyError:
        raise UserInputError(
            f"no zoo architecture '{name}'.", hint=f"use one of: {', '.join(sorted(ARCHS))}."
        ) from None


def auto_class_names(task: str) -> tuple[str, ...]:
    """The auto classes that may carry ``task``'s head, in the order they are tried: the exporter's
    registry's, then the ones only Optimum lists the task with."""
    registered = TASKS[task].auto_classes if task in TASKS else ()
    fallback = () if registered or task in MORE_AUTO_CLASSES else (AUTO_CLASSES.get(task, "AutoModel"),)
    return (*registered, *MORE_AUTO_CLASSES.get(task, ()), *fallback)


def find_head_class(model_type: str, task: str) -> type[PreTrainedModel] | None:
    """The model class that carries ``task``'s head for ``model_type`` (as modelexport.heads resolves
    it: a class named for the type, else the first auto class that maps the config), or None."""
    custom = CUSTOM_HEADS.get((model_type, task))
    if custom is not None and hasattr(transformers, custom):
        return getattr(transformers, custom)
    # The lazy mapping loads a config class in __getitem__ only (dict.get would give None).
    config_cls = CONFIG_MAPPING[model_type] if model_type in CONFIG_MAPPING else None  # noqa: SIM401
    for name in auto_class_names(task):
        auto = getattr(transformers, name, None)
        if auto is None:  # an auto class this transformers does not have (5.x: AutoModelForVision2Seq)
            continue
        try:
            found: Any = auto._model_mapping[config_cls]
        except (KeyError, ValueError):
            continue
        # Some mappings list several heads (e.g. DeiT with and without teacher); the auto class takes the first.
        return found[0] if isinstance(found, tuple) else found
    return None


def head_class(spec: ArchSpec, task: str) -> type[PreTrainedModel]:
    """The model class transformers' auto class for ``task`` picks for this architecture."""
    found = find_head_class(spec.model_type, task)
    if found is None:
        raise ValueError(
            f"transformers {transformers.__version__} has no '{task}' head for '{spec.model_type}'"
        )
    return found


def _sub_config(kwargs: dict[str, Any], path: str) -> dict[str, Any]:
    """The (nested) kwargs dict at dotted ``path``; "" is ``kwargs`` itself."""
    node = kwargs
    for key in filter(None, path.split(".")):
        node = node.setdefault(key, {})
    return node


def make_config(spec: ArchSpec, task: str, written: Written) -> PretrainedConfig:
    """The tiny config: spec kwargs, tokenizer-derived ids (in the sub-configs that take them), labels."""
    kwargs = copy.deepcopy(dict(spec.config))
    targets = spec.token_ids_into or (("text_config",) if "text_config" in kwargs else ("",))
    for path in targets:
        _sub_config(kwargs, path).update(written.config)
    if task in LABELLED_TASKS and spec.num_labels:
        labels = (
            LABELS if spec.num_labels == len(LABELS) else tuple(f"LABEL_{i}" for i in range(spec.num_labels))
        )
        kwargs["id2label"] = dict(enumerate(labels))
        kwargs["label2id"] = {label: i for i, label in enumerate(labels)}
    config = AutoConfig.for_model(spec.model_type, **kwargs)
    config.architectures = [head_class(spec, task).__name__]
    return config


def _seeded_model(spec: ArchSpec, task: str, config: PretrainedConfig, written: Written) -> PreTrainedModel:
    model_cls = head_class(spec, task)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = model_cls(config).eval()
        if spec.batchnorm_init:
            _draw_batchnorm_weights(model, config)
    if written.generation and getattr(model, "generation_config", None) is not None:
        for key, value in written.generation.items():  # update() would drop the keys it does not know
            setattr(model.generation_config, key, value)
        # Else from_pretrained rebuilds the generation config from config.json and drops these settings.
        model.generation_config._from_model_config = False
    return model


def _draw_batchnorm_weights(model: PreTrainedModel, config: PretrainedConfig) -> None:
    """BatchNorm weights left at 1 by the installed transformers drawn as newer versions draw them
    (normal, the config's initializer_range; biases 0), so the tiny model is alike on every version."""
    std = float(getattr(config, "initializer_range", 0.02))
    for module in model.modules():
        if not isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            continue
        weight, bias = module.weight, module.bias
        if isinstance(weight, torch.Tensor) and bool(torch.all(weight == 1)):
            with torch.no_grad():
                weight.normal_(0.0, std)
                if isinstance(bias, torch.Tensor):
                    bias.zero_()


def build(name: str, out_dir: Path, task: str | None = None) -> Path:
    """Write the tiny checkpoint of (``name``, ``task``) into ``out_dir``; ``task`` None is the arch's first.

    Pending tasks build too (their checkpoints are what their exporter will be developed on).
    """
    spec = get_spec(name)
    task = spec.resolve_task(task, building=True)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserInputError(
            f"cannot create '{out_dir}': {e.strerror or e}.", hint="choose a directory you can write to."
        ) from e
    try:
        written = write_preprocessors(spec, task, out_dir)
        config = make_config(spec, task, written)
        model = _seeded_model(spec, task, config, written)
        model.save_pretrained(out_dir, safe_serialization=True)
    except Exception as e:
        raise ZooError(
            f"building zoo model '{name}' for task '{task}' into {out_dir} failed: {type(e).__name__}: {e}",
            hint="fix its ArchSpec in modelexport/zoo/arch_*.py or drop the task.",
        ) from e
    return out_dir
