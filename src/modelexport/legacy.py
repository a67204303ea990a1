"""The original design's helpers: adding configs to an existing ONNX file, and the config-less export."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

from .errors import UserInputError
from .graph import read_model
from .loading import load_config, load_generation_config, load_preprocessors, resolve
from .packaging import ONNX_FILE, save_pretrained_files


def _check_onnx_file(path: Path) -> None:
    """An existing, readable ONNX model (its graph only; external data is not read)."""
    if path.suffix != ".onnx" or not path.is_file():
        raise UserInputError(f"'{path}' is not an existing .onnx file.", hint="pass the path of model.onnx.")
    read_model(path)


def add_config_to_existing_model(
    onnx_path: str | Path, model_name: str, *, force: bool = False, trust_remote_code: bool = False
) -> list[Path]:
    """Save ``model_name``'s config, generation config and preprocessors beside ``onnx_path``.

    Existing files are never overwritten unless ``force``. Returns the files written.
    """
    onnx_path = Path(onnx_path)
    _check_onnx_file(onnx_path)
    source, is_local, offline = resolve(model_name)
    remote = {"trust_remote_code": trust_remote_code, "local_files_only": offline}
    config = load_config(source, is_local, **remote)
    preprocessors, _ = load_preprocessors(source, **remote)
    generation_config = load_generation_config(source, local_files_only=offline)
    target = onnx_path.parent
    with tempfile.TemporaryDirectory(prefix=".modelexport-config-", dir=target) as tmp:
        staging = Path(tmp)
        save_pretrained_files(staging, config, generation_config, preprocessors)
        new_files = sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file())
        clashes = [p.as_posix() for p in new_files if (target / p).exists()]
        if clashes and not force:
            raise UserInputError(
                f"{', '.join(clashes)} already exist in '{target}'.", hint="pass --force to overwrite them."
            )
        for p in new_files:
            (target / p).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / p, target / p)
    return [target / p for p in new_files]


def export_onnx_with_hierarchy(
    model_name_or_path: str, output_path: str | Path, *, force: bool = False, **kwargs: object
) -> Path:
    """Deprecated: write only the tagged ONNX file, without the configs Optimum needs."""
    warnings.warn(
        "export_onnx_with_hierarchy writes ONNX without config files, so Optimum cannot load it; "
        "use export_with_config instead.",
        DeprecationWarning,
        stacklevel=2,
    )
    from .export import run_export

    output_path = Path(output_path)
    if output_path.exists() and not force:
        raise UserInputError(f"'{output_path}' exists.", hint="choose another path, or pass force=True.")
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".modelexport-", dir=output_path.parent) as tmp:
        run_export(model_name_or_path, Path(tmp) / "out", with_config=False, **kwargs)  # type: ignore[arg-type]
        produced = Path(tmp) / "out" / ONNX_FILE
        os.replace(produced, output_path)
        sidecar = Path(tmp) / "out" / "hierarchy.json"
        if sidecar.exists() and (force or not output_path.with_suffix(".hierarchy.json").exists()):
            shutil.move(str(sidecar), output_path.with_suffix(".hierarchy.json"))
    return output_path
