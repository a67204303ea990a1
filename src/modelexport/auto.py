"""``AutoModelForONNX``: the ``ORTModelFor<Task>`` an export directory needs, loaded with it.

The task comes from ``export_metadata.json`` (our exports), else from the files and ``config.json``
(directories Optimum wrote): encoder and decoder files mean an encoder-decoder's generation (of text
from text, speech or an image, as the head and model type say), past key values
among ``model.onnx``'s inputs mean a decoder with a cache, otherwise the head in
``config.architectures`` says (as for an export).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .errors import CompatibilityError, UserInputError, first_line
from .tasks import TaskSpec, get_task, infer_task, task_for

METADATA = "export_metadata.json"


def _read_json(model_dir: Path, name: str) -> dict[str, Any] | None:
    """A JSON file of a local directory, or of a Hub repository (through the Hugging Face cache)."""
    path = model_dir / name
    if not path.is_file() and not model_dir.exists():
        from transformers.utils import cached_file

        try:
            found = cached_file(str(model_dir), name, _raise_exceptions_for_missing_entries=False)
        except OSError:
            found = None
        path = Path(found) if found else path
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserInputError(
            f"'{path}' is not valid JSON: {e}.", hint="restore the file or export again."
        ) from e
    return data if isinstance(data, dict) else None


def _has_past_inputs(onnx_file: Path) -> bool:
    from .graph import read_model

    return any(v.name.startswith("past_key_values.") for v in read_model(onnx_file).graph.input)


def export_task(model_dir: str | Path) -> TaskSpec:
    """The task an export directory was made for (see the module docstring)."""
    model_dir = Path(model_dir)
    meta = _read_json(model_dir, METADATA)
    config = _read_json(model_dir, "config.json")
    if meta and isinstance(meta.get("task"), str):
        return task_for(meta["task"], SimpleNamespace(**(config or {})))
    if config is None:
        raise UserInputError(
            f"'{model_dir}' has neither {METADATA} nor config.json.",
            hint="pass a directory written by modelexport or Optimum (with its config files).",
        )
    if (model_dir / "encoder_model.onnx").is_file():
        cached = (model_dir / "decoder_with_past_model.onnx").is_file() or (
            model_dir / "decoder_model_merged.onnx"
        ).is_file()
        try:
            name = infer_task(config.get("architectures"), config.get("model_type"))
        except UserInputError:
            name = "text2text-generation-with-past"
        if not name.endswith("-with-past"):  # text, speech or vision: the family infer_task names
            name = "text2text-generation-with-past"
        return task_for(name if cached else name.removesuffix("-with-past"), SimpleNamespace(**config))
    task = get_task(infer_task(config.get("architectures"), config.get("model_type")))
    onnx_file = model_dir / "model.onnx"
    if task.layout == "decoder" and onnx_file.is_file() and not _has_past_inputs(onnx_file):
        return get_task("text-generation")
    return task


def ort_class_name(model_dir: str | Path, task: TaskSpec) -> str:
    """The ``ORTModelFor...`` class that loads and runs the export in ``model_dir``: the one its
    ``export_metadata.json`` names, else the task's own when it feeds every input of ``model.onnx``
    and returns the task's output, else ``ORTModelForCustomTasks`` (see TaskSpec.ort_class_for)."""
    model_dir = Path(model_dir)
    meta = _read_json(model_dir, METADATA)
    if meta and isinstance(meta.get("ort_model_class"), str):
        return str(meta["ort_model_class"])
    onnx_file = model_dir / "model.onnx"
    if task.generative or not onnx_file.is_file():
        return task.ort_class
    from .graph import read_model

    graph = read_model(onnx_file).graph
    return task.ort_class_for([v.name for v in graph.input], [v.name for v in graph.output])


def optimum_runtime() -> Any:
    """``optimum.onnxruntime``, or a :class:`CompatibilityError` saying what to install."""
    try:
        import optimum.onnxruntime as ortm

        ortm.ORTModel  # noqa: B018  (the package imports lazily: touch a class to see it load)
    except Exception as e:
        raise CompatibilityError(
            f"optimum.onnxruntime does not import here: {type(e).__name__}: {first_line(e)}",
            hint="install optimum-onnx[onnxruntime] (it needs transformers < 4.58), or run the ONNX files "
            "with onnxruntime directly.",
        ) from e
    return ortm


class AutoModelForONNX:
    """Loads an export directory (or a Hub repository of one) with the ``ORTModelFor<Task>`` class
    its task needs; keyword arguments go to that class's ``from_pretrained`` (``provider``,
    ``session_options``, ``use_cache``, ...). The result works wherever an ORTModel does, in
    ``transformers.pipeline(...)`` too."""

    def __init__(self) -> None:
        raise TypeError("use AutoModelForONNX.from_pretrained(directory)")

    @classmethod
    def from_pretrained(cls, model_dir: str | Path, **kwargs: Any) -> Any:
        from .options import path_argument

        model_dir = Path(path_argument(model_dir, "export directory"))
        task = export_task(model_dir)
        if task.generative and not task.with_past:
            kwargs.setdefault("use_cache", False)  # the files have no KV cache to use
        ortm = optimum_runtime()
        name = ort_class_name(model_dir, task)
        ort_class = getattr(ortm, name, None)
        if ort_class is None:
            raise CompatibilityError(
                f"this optimum.onnxruntime has no {name} (the class for {task.name}).",
                hint="upgrade optimum-onnx.",
            )
        return ort_class.from_pretrained(model_dir, **kwargs)
