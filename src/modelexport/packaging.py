"""The output directory: configs and preprocessors, export_metadata.json, atomic placement.

Everything is written into a temporary sibling of the output directory and renamed into place at
the end, so a failed or interrupted export leaves nothing half-written and an existing directory
is only replaced when the user passed ``force``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import onnx

from .errors import PackageError, UserInputError
from .wire import materialize, serialize_chunks

ONNX_FILE = "model.onnx"
METADATA_FILE = "export_metadata.json"
HIERARCHY_FILE = "hierarchy.json"
# protobuf cannot serialise a single message past 2 GiB; keep weights beside the graph before that.
_EXTERNAL_DATA_THRESHOLD = 1_800_000_000


def check_output_dir(output_dir: Path, *, force: bool) -> None:
    """Refuse an existing file or a non-empty directory unless ``force``."""
    if output_dir.exists() and not output_dir.is_dir():
        raise UserInputError(
            f"output '{output_dir}' exists and is a file.", hint="choose a directory path for the export."
        )
    if output_dir.is_dir() and any(output_dir.iterdir()) and not force:
        raise UserInputError(
            f"output directory '{output_dir}' exists and is not empty.",
            hint="choose another path, or pass --force to replace it.",
        )


@contextmanager
def staging_dir(output_dir: Path, *, force: bool) -> Iterator[Path]:
    """Yield a temporary sibling of ``output_dir``; on success rename it into place, else remove it."""
    check_output_dir(output_dir, force=force)
    parent = output_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.tmp-", dir=parent))
    except OSError as e:
        raise PackageError(f"cannot create a directory in '{parent}': {e}.", hint="check permissions.") from e
    try:
        yield staging
        _move_into_place(staging, output_dir, force=force)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(staging: Path, output_dir: Path, *, force: bool) -> None:
    check_output_dir(output_dir, force=force)  # again: something may have appeared meanwhile
    os.chmod(staging, 0o755)
    backup: Path | None = None
    if output_dir.exists():
        backup = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.old-", dir=output_dir.parent))
        backup.rmdir()
        os.replace(output_dir, backup)
    try:
        os.replace(staging, output_dir)
    except OSError as e:
        if backup is not None:
            os.replace(backup, output_dir)
        raise PackageError(f"cannot move the export into '{output_dir}': {e}.") from e
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


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


def save_configs(loaded: Any, out: Path) -> list[str]:
    """Save config, generation config and every preprocessor the source ships; return what was saved."""
    saved: list[str] = []
    try:
        loaded.config.save_pretrained(out)
        saved.append("config")
        if loaded.generation_config is not None:
            loaded.generation_config.save_pretrained(out)
            saved.append("generation_config")
        for kind, obj in loaded.preprocessors.items():
            obj.save_pretrained(out)
            saved.append(kind)
    except (OSError, TypeError, ValueError) as e:
        raise PackageError(f"cannot save the configuration files: {e}.") from e
    if not (out / "config.json").is_file():
        raise PackageError("config.json was not written; Optimum cannot load the export without it.")
    return saved


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")


def files_with_sizes(directory: Path) -> list[tuple[str, int]]:
    return sorted((p.name, p.stat().st_size) for p in directory.iterdir() if p.is_file())


def format_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
