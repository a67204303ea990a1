"""What goes into the output directory: ONNX files, configs and preprocessors, JSON records.

Files are written into the staging directory (:mod:`modelexport.staging`), which is swapped into
place once every stage succeeded. Configs and preprocessors are saved with writes confined to it
(:mod:`modelexport.confine`): their file names partly come from the model's own files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import onnx

from .confine import confined_writes
from .errors import PackageError
from .wire import materialize, serialize_chunks

ONNX_FILE = "model.onnx"
METADATA_FILE = "export_metadata.json"
HIERARCHY_FILE = "hierarchy.json"


def sidecar_name(onnx_file: str) -> str:
    """The hierarchy file of an ONNX file: ``hierarchy.json`` for ``model.onnx``,
    ``<stem>.hierarchy.json`` for the files of a generative export."""
    return HIERARCHY_FILE if onnx_file == ONNX_FILE else f"{Path(onnx_file).stem}.{HIERARCHY_FILE}"


# protobuf cannot serialise a single message past 2 GiB; keep weights beside the graph before that.
_EXTERNAL_DATA_THRESHOLD = 1_800_000_000


def save_onnx(model: onnx.ModelProto, path: Path, weights: Mapping[str, Any] | None = None) -> None:
    """Save the graph, with weights in a sidecar file only when protobuf's 2 GiB limit demands it.

    ``weights``: the tensors behind placeholder initializers (see :mod:`modelexport.wire`), written
    straight from their memory.
    """
    if _initializer_bytes(model.graph) > _EXTERNAL_DATA_THRESHOLD:
        materialize(model, weights or {})
        onnx.save_model(
            model,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=f"{path.name}_data",
        )
        return
    with open(path, "wb") as f:
        for chunk in serialize_chunks(model, weights):
            f.write(chunk)


def _initializer_bytes(graph: onnx.GraphProto) -> int:
    """Bytes the initializers hold, from their shapes: reading ``raw_data`` would copy every tensor."""
    total = 0
    for t in graph.initializer:
        size = 1
        for d in t.dims:
            size *= d
        total += size * _element_bytes(t.data_type)
    return total


def _element_bytes(data_type: int) -> int:
    """Bytes per element of a TensorProto.DataType; 8 (the widest) for one onnx cannot map, which
    errs towards external data."""
    try:
        return int(onnx.helper.tensor_dtype_to_np_dtype(data_type).itemsize)
    except (KeyError, ValueError):
        return 8


def save_pretrained_files(
    out: Path, config: Any, generation_config: Any | None, preprocessors: Mapping[str, Any]
) -> list[str]:
    """Save config, generation config and preprocessors into ``out``, confined to it; return the
    kinds saved. A write outside ``out`` raises :class:`~modelexport.errors.UnsafePathError`."""
    saved: list[str] = []
    objects = {"config": config, "generation_config": generation_config, **preprocessors}
    try:
        with confined_writes(out, "the model's configuration and preprocessors"):
            for kind, obj in objects.items():
                if obj is not None:
                    obj.save_pretrained(out)
                    saved.append(kind)
    except (OSError, TypeError, ValueError) as e:
        raise PackageError(f"cannot save the configuration files: {e}.") from e
    return saved


def save_configs(loaded: Any, out: Path) -> list[str]:
    """Save config, generation config and every preprocessor the source ships; return what was saved."""
    saved = save_pretrained_files(out, loaded.config, loaded.generation_config, loaded.preprocessors)
    if not (out / "config.json").is_file():
        raise PackageError("config.json was not written; Optimum cannot load the export without it.")
    return saved


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")


def files_with_sizes(directory: Path) -> list[tuple[str, int]]:
    """Every file under ``directory`` (subdirectories included), as relative paths with sizes."""
    return sorted(
        (p.relative_to(directory).as_posix(), p.stat().st_size) for p in directory.rglob("*") if p.is_file()
    )


def format_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
