"""Which transformers class carries a task's head for a model: the first of the task's auto classes
that maps the model's config, or a class named for the model type where no auto class maps it
(ViTPose's pose head, PatchTST's forecasting head, as Optimum names them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import UserInputError
from .tasks import TaskSpec

# (model type, task) -> class, where no auto class of the task maps the model.
CUSTOM_HEADS: dict[tuple[str, str], str] = {
    ("vitpose", "keypoint-detection"): "VitPoseForPoseEstimation",
    ("patchtst", "time-series-forecasting"): "PatchTSTForPrediction",
    ("patchtsmixer", "time-series-forecasting"): "PatchTSMixerForPrediction",
    ("colpali", "feature-extraction"): "ColPaliForRetrieval",
    ("pix2struct", "image-to-text"): "Pix2StructForConditionalGeneration",
    ("pix2struct", "image-to-text-with-past"): "Pix2StructForConditionalGeneration",
}


def _mapped(auto: Any, config: Any) -> Any | None:
    mapping = getattr(auto, "_model_mapping", None)
    try:
        found = mapping[type(config)] if mapping is not None else None
    except KeyError:
        return None
    return found[0] if isinstance(found, tuple) else found


def head_class(config: Any, task: TaskSpec) -> Any:
    """The class whose ``from_pretrained`` loads ``task``'s head for ``config``'s model type."""
    import transformers

    custom = CUSTOM_HEADS.get((getattr(config, "model_type", ""), task.name))
    if custom is not None and hasattr(transformers, custom):
        return getattr(transformers, custom)
    for name in task.auto_classes:
        auto = getattr(transformers, name, None)
        if auto is not None and _mapped(auto, config) is not None:
            return auto
    raise UserInputError(
        f"task '{task.name}' has no head for a '{getattr(config, 'model_type', '?')}' model in this transformers.",
        hint="pass a --task this architecture supports, or omit --task to infer it.",
    )


def load_head(source: str | Path, task: TaskSpec) -> Any:
    """The PyTorch model of ``task`` at ``source``, in eval mode (for references beside an export)."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(source)
    return head_class(config, task).from_pretrained(source).eval()
