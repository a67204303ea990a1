"""Resolve a source (Hub id or local directory), read its config, infer the task, load model and
preprocessors.

The Hub path is the real ``from_pretrained`` path; it cannot be exercised offline, so a Hub id that
cannot be reached gets one clear line instead of a traceback.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import LoadError, UserInputError, causes, first_line
from .tasks import TaskSpec, infer_task, task_for

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """Everything the later stages need from the source."""

    source: str
    is_local: bool
    files_dir: Path | None  # where the model's files are: the directory, or the Hub snapshot
    config: Any
    task: TaskSpec
    model: torch.nn.Module
    preprocessors: dict[str, Any] = field(default_factory=dict)
    # kind -> reason it is absent (kept for export_metadata.json, never silently dropped)
    preprocessor_notes: dict[str, str] = field(default_factory=dict)
    generation_config: Any | None = None

    @property
    def tokenizer(self) -> Any | None:
        return self.preprocessors.get("tokenizer")


def _looks_like_path(source: str) -> bool:
    return (
        source.startswith((".", "/", "~"))
        or "\\" in source
        or source.count("/") > 1
        or Path(source).suffix in {".json", ".onnx", ".bin", ".safetensors"}
    )


def resolve_source(source: str) -> tuple[str, bool]:
    """Return ``(source, is_local)``; a path that is not a model directory is a user error."""
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserInputError(
                f"'{source}' is a file, not a model directory.",
                hint="pass the directory that holds config.json and the weights.",
            )
        if not (path / "config.json").is_file():
            raise UserInputError(
                f"'{source}' has no config.json.",
                hint="pass a directory saved with save_pretrained(), or a Hugging Face Hub id.",
            )
        return str(path.resolve()), True
    if _looks_like_path(source):
        raise UserInputError(
            f"no such directory: '{source}'.", hint="check the path, or pass a Hugging Face Hub id."
        )
    return source, False


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hub's host resolves and accepts a connection (fails fast when offline)."""
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def load_config(
    source: str, is_local: bool, *, trust_remote_code: bool = False, local_files_only: bool = False
) -> Any:
    """Read the model config with clear errors for the usual ways this fails.

    A Hub id is fetched with ``from_pretrained``; when the Hub cannot be reached, only the local
    Hugging Face cache is tried (no retries against a dead network).
    """
    from transformers import AutoConfig

    if is_local:
        try:
            json.loads((Path(source) / "config.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise LoadError(
                f"cannot read {Path(source) / 'config.json'}: {e}.",
                hint="restore a valid config.json (re-save the model with save_pretrained()).",
            ) from e
    try:
        return AutoConfig.from_pretrained(
            source, trust_remote_code=trust_remote_code, local_files_only=local_files_only
        )
    except ValueError as e:
        first = first_line(e) or type(e).__name__
        if "trust_remote_code" in str(e):
            raise LoadError(
                f"'{source}' needs custom code from its repository.",
                hint="review that code, then pass --trust-remote-code.",
            ) from e
        raise LoadError(
            f"unknown or unsupported model type in '{source}': {first}",
            hint="upgrade transformers, or check config.json's model_type.",
        ) from e
    except OSError as e:
        if is_local:
            raise LoadError(f"cannot load the config of '{source}': {e}.") from e
        where = (
            "the Hugging Face Hub is unreachable and it is not in the local cache"
            if local_files_only
            else ("not found on the Hugging Face Hub (a typo, or a private repo)")
        )
        raise LoadError(
            f"cannot load '{source}': {where}.",
            hint="check the id and your network/HF_TOKEN, or pass a local directory saved with "
            "save_pretrained().",
        ) from e


def resolve_task(config: Any, task: str | None) -> TaskSpec:
    """The task the user asked for, else the one ``config.architectures`` implies."""
    name = task or infer_task(getattr(config, "architectures", None), getattr(config, "model_type", None))
    return task_for(name, config)


def _float32_kwarg() -> dict[str, Any]:
    """transformers renamed ``torch_dtype`` to ``dtype`` in 4.56."""
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype" if (major, minor) >= (4, 56) else "torch_dtype": torch.float32}


def load_model(
    source: str,
    config: Any,
    task: TaskSpec,
    *,
    trust_remote_code: bool = False,
    local_files_only: bool = False,
) -> torch.nn.Module:
    """Load the head the task needs with its ``AutoModelFor...`` class, in eval mode, float32."""
    from .heads import head_class

    auto_class = head_class(config, task)
    try:
        with warnings.catch_warnings():
            # torch's weights-only unpickler warns about the protocol of a pickle it then refuses;
            # the refusal is reported below, as one line.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\._weights_only_unpickler")
            model = auto_class.from_pretrained(
                source,
                config=config,
                trust_remote_code=trust_remote_code,
                local_files_only=local_files_only,
                **_float32_kwarg(),
            )
    except ValueError as e:
        raise UserInputError(
            f"task '{task.name}' does not fit a '{getattr(config, 'model_type', '?')}' model: "
            f"{first_line(e)}",
            hint="pass a --task this architecture supports, or omit --task to infer it.",
        ) from e
    except OSError as e:
        if _refused_pickle(e):
            raise LoadError(
                f"'{source}': its pytorch_model.bin holds Python objects besides tensors; it was not loaded "
                "(torch.load with weights_only refused it), so none of its code ran.",
                hint="use a safetensors copy of the model (save_pretrained) from a source you trust.",
            ) from e
        raise LoadError(
            f"cannot load the weights of '{source}': {first_line(e)}",
            hint="check that the directory holds model.safetensors (or pytorch_model.bin).",
        ) from e
    except Exception as e:
        if type(e).__name__ != "SafetensorError":
            raise
        raise LoadError(
            f"'{source}': its model.safetensors is truncated or is not a safetensors file ({first_line(e)}).",
            hint="download or save the model again (save_pretrained).",
        ) from e
    model.eval()
    return model


def _refused_pickle(error: BaseException) -> bool:
    """Whether torch's weights-only unpickler refused a pickle somewhere behind ``error``."""
    return any(
        type(c).__name__ == "UnpicklingError" and "weights only" in str(c).lower() for c in causes(error)
    )


# The files an image processor, feature extractor or multimodal processor is read from. A local
# checkpoint with none of them has none of those three, and trying each Auto class costs a
# tokenizer load apiece (AutoProcessor falls back to loading the tokenizer again).
_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json", "video_preprocessor_config.json")


def load_preprocessors(
    source: str, *, trust_remote_code: bool = False, local_files_only: bool = False
) -> tuple[dict[str, Any], dict[str, str]]:
    """Load whichever preprocessors the checkpoint ships; record why each missing one is missing."""
    import transformers

    loaders: dict[str, Any] = {
        "tokenizer": transformers.AutoTokenizer,
        "image_processor": transformers.AutoImageProcessor,
        "feature_extractor": transformers.AutoFeatureExtractor,
        "processor": transformers.AutoProcessor,
    }
    found: dict[str, Any] = {}
    notes: dict[str, str] = {}
    local = Path(source)
    if local.is_dir() and not any((local / name).is_file() for name in _PROCESSOR_FILES):
        for kind in ("image_processor", "feature_extractor", "processor"):
            notes[kind] = f"not present (no {' / '.join(_PROCESSOR_FILES)})"
            del loaders[kind]
    options = {"trust_remote_code": trust_remote_code, "local_files_only": local_files_only}
    for kind, loader in loaders.items():
        try:
            obj = _load_one(kind, loader, source, options)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            notes[kind] = f"not present ({type(e).__name__})"
            continue
        # AutoProcessor falls back to a bare tokenizer/feature extractor; keep only real processors.
        if kind == "processor" and not isinstance(obj, transformers.ProcessorMixin):
            notes[kind] = "not present (no multimodal processor)"
            continue
        if kind == "feature_extractor" and "image_processor" in found:
            notes[kind] = "covered by the image processor"
            continue
        found[kind] = obj
    return found, notes


def load_tokenizer(source: str | Path, **options: Any) -> Any:
    """``AutoTokenizer`` for ``source``; a slow vocabulary the fast class cannot convert (the zoo's
    BlenderbotSmall) loads as its slow class, as the checkpoint declares it."""
    import transformers

    try:
        return transformers.AutoTokenizer.from_pretrained(source, **options)
    except (AttributeError, ValueError):
        return transformers.AutoTokenizer.from_pretrained(source, use_fast=False, **options)


def _load_one(kind: str, loader: Any, source: str, options: dict[str, Any]) -> Any:
    """One preprocessor (a tokenizer through :func:`load_tokenizer`)."""
    return (
        load_tokenizer(source, **options)
        if kind == "tokenizer"
        else loader.from_pretrained(source, **options)
    )


def load_generation_config(source: str, *, local_files_only: bool = False) -> Any | None:
    from transformers import GenerationConfig

    try:
        return GenerationConfig.from_pretrained(source, local_files_only=local_files_only)
    except OSError:
        return None


def files_dir(resolved: str, is_local: bool) -> Path | None:
    """The directory the model's files are read from: the local directory, or the Hub id's snapshot
    in the Hugging Face cache (once its config is there)."""
    if is_local:
        return Path(resolved)
    from transformers.utils import cached_file

    try:
        found = cached_file(resolved, "config.json", local_files_only=True)
    except (OSError, ValueError):
        return None
    return Path(found).parent if found else None


def resolve(source: str) -> tuple[str, bool, bool]:
    """``(source, is_local, offline)``: offline when a Hub id's host cannot be reached, so that only
    the local Hugging Face cache is tried (no retries against no network)."""
    resolved, is_local = resolve_source(source)
    return resolved, is_local, not is_local and not hub_reachable()


def load(source: str, task: str | None = None, *, trust_remote_code: bool = False) -> LoadedModel:
    """The load stage: source -> config, task, model, preprocessors."""
    resolved, is_local, offline = resolve(source)
    remote = {"trust_remote_code": trust_remote_code, "local_files_only": offline}
    config = load_config(resolved, is_local, **remote)
    spec = resolve_task(config, task)
    model = load_model(resolved, config, spec, **remote)
    preprocessors, notes = load_preprocessors(resolved, **remote)
    return LoadedModel(
        source=source,
        is_local=is_local,
        files_dir=files_dir(resolved, is_local),
        config=config,
        task=spec,
        model=model,
        preprocessors=preprocessors,
        preprocessor_notes=notes,
        generation_config=load_generation_config(resolved, local_files_only=offline),
    )
