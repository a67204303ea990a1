"""Build one zoo checkpoint: tiny config, seeded head model, preprocessors, all saved like a Hub checkpoint."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoConfig, PretrainedConfig, PreTrainedModel
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from ..errors import UserInputError
from ..tasks import TASKS
from .archs import ARCHS
from .processors import write_preprocessors
from .spec import ArchSpec, ZooError

# Auto class per task: the exporter's registry plus the generative tasks it will grow into.
AUTO_CLASSES: dict[str, str] = {
    **{name: spec.auto_class for name, spec in TASKS.items()},
    "text-generation": "AutoModelForCausalLM",
    "text2text-generation": "AutoModelForSeq2SeqLM",
}

# Tasks whose head predicts one of a fixed set of labels (per input, token or pixel).
LABELLED_TASKS = frozenset(
    {
        "text-classification",
        "token-classification",
        "image-classification",
        "semantic-segmentation",
        "audio-classification",
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


def head_class(spec: ArchSpec, task: str) -> type[PreTrainedModel]:
    """The model class transformers' auto class for ``task`` picks for this architecture."""
    auto = getattr(transformers, AUTO_CLASSES[task])
    found: Any = auto._model_mapping[CONFIG_MAPPING[spec.model_type]]
    # Some mappings list several heads (e.g. DeiT with and without teacher); the auto class takes the first.
    return found[0] if isinstance(found, tuple) else found


def make_config(spec: ArchSpec, task: str, token_ids: dict[str, int]) -> PretrainedConfig:
    """The tiny config: spec kwargs, tokenizer-derived ids (in ``text_config`` if there is one), labels."""
    kwargs = copy.deepcopy(dict(spec.config))
    if "text_config" in kwargs:
        kwargs["text_config"].update(token_ids)
    else:
        kwargs.update(token_ids)
    if task in LABELLED_TASKS:
        kwargs["id2label"] = dict(enumerate(LABELS))
        kwargs["label2id"] = {label: i for i, label in enumerate(LABELS)}
    config = AutoConfig.for_model(spec.model_type, **kwargs)
    config.architectures = [head_class(spec, task).__name__]
    return config


def build(name: str, out_dir: Path, task: str | None = None) -> Path:
    """Write the tiny checkpoint of (``name``, ``task``) into ``out_dir``; ``task`` None is the arch's first."""
    spec = get_spec(name)
    task = spec.resolve_task(task)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserInputError(
            f"cannot create '{out_dir}': {e.strerror or e}.", hint="choose a directory you can write to."
        ) from e
    try:
        token_ids = write_preprocessors(spec, task, out_dir)
        config = make_config(spec, task, token_ids)
        model_cls = head_class(spec, task)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            model = model_cls(config).eval()
        model.save_pretrained(out_dir, safe_serialization=True)
    except Exception as e:
        raise ZooError(
            f"building zoo model '{name}' for task '{task}' into {out_dir} failed: {type(e).__name__}: {e}",
            hint="fix its ArchSpec in modelexport/zoo/archs.py or drop the task.",
        ) from e
    return out_dir
