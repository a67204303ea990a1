"""The original design's helpers: adding configs to an existing ONNX file, and the config-less export."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

from .errors import UserInputError
from .loading import load_config, load_generation_config, load_preprocessors, resolve_source
from .packaging import ONNX_FILE


def add_config_to_existing_model(
    onnx_path: str | Path, model_name: str, *, force: bool = False, trust_remote_code: bool = False
) -> list[Path]:
    """Save ``model_name``'s config, generation config and preprocessors beside ``onnx_path``.

    Existing files are never overwritten unless ``force``. Returns the files written.
    """
    onnx_path = Path(onnx_path)
    if onnx_path.suffix != ".onnx" or not onnx_path.is_file():
        raise UserInputError(
            f"'{onnx_path}' is not an existing .onnx file.", hint="pass the path of model.onnx."
        )
    source, is_local = resolve_source(model_name)
    config = load_config(source, is_local, trust_remote_code=trust_remote_code)
    preprocessors, _ = load_preprocessors(source, trust_remote_code=trust_remote_code)
    generation_config = load_generation_config(source)
    target = onnx_path.parent
    with tempfile.TemporaryDirectory(prefix=".modelexport-config-", dir=target) as tmp:
        staging = Path(tmp)
        config.save_pretrained(staging)
        if generation_config is not None:
            generation_config.save_pretrained(staging)
        for obj in preprocessors.values():
            obj.save_pretrained(staging)
        new_files = sorted(p for p in staging.iterdir() if p.is_file())
        clashes = [p.name for p in new_files if (target / p.name).exists()]
        if clashes and not force:
            raise UserInputError(
                f"{', '.join(clashes)} already exist in '{target}'.", hint="pass --force to overwrite them."
            )
        for p in new_files:
            os.replace(p, target / p.name)
    return [target / p.name for p in new_files]


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
