"""The export directory a rewrite starts from: its metadata, ONNX files and hierarchy sidecars.

Only directories written by ``modelexport export`` (or by an earlier optimize / quantize) qualify: the
rewrite re-verifies against the PyTorch model named in ``export_metadata.json`` and re-tags from
``hierarchy.json``. Anything else is a one-line :class:`~modelexport.errors.UserInputError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from ..errors import UserInputError
from ..graph import node_keys, walk
from ..hierarchy import HierarchyReport
from ..packaging import METADATA_FILE, sidecar_name

_HINT = "pass a directory written by 'modelexport export' (or by modelexport optimize / quantize)."


@dataclass
class ExportDir:
    """An export directory, read and checked."""

    path: Path
    metadata: dict[str, Any]

    @property
    def onnx_files(self) -> list[str]:
        return list(self.metadata["onnx_files"])

    @property
    def source_model(self) -> str:
        return str(self.metadata["source_model"])

    @property
    def task(self) -> str:
        return str(self.metadata["task"])

    @property
    def clean_onnx(self) -> bool:
        return bool(self.metadata.get("clean_onnx"))

    @property
    def quantized(self) -> bool:
        return "quantization" in self.metadata

    def verified_tolerance(self) -> tuple[float, float]:
        """The atol / rtol the export itself was verified at (the default when not recorded)."""
        verification = self.metadata.get("verification") or {}
        return float(verification.get("atol", 1e-4)), float(verification.get("rtol", 1e-4))

    def sidecar(self, file: str) -> Path:
        return self.path / sidecar_name(file)

    def load_onnx(self, file: str) -> onnx.ModelProto:
        """One ONNX file with its weights (external data included)."""
        path = self.path / file
        try:
            return onnx.load(str(path))
        except Exception as e:
            raise UserInputError(f"cannot read '{path}' as ONNX ({type(e).__name__}).", hint=_HINT) from e

    def report(self, file: str) -> HierarchyReport:
        """The file's hierarchy.json."""
        path = self.sidecar(file)
        try:
            return HierarchyReport.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
            raise UserInputError(
                f"'{path}' is missing or not a hierarchy.json ({type(e).__name__}).", hint=_HINT
            ) from e

    def node_tags(self, file: str, model: onnx.ModelProto) -> tuple[list[str], list[str]]:
        """(module, source) of every node of ``model`` in walk order, from its hierarchy.json (which
        an export written with ``--clean-onnx`` keeps too)."""
        report = self.report(file)
        by_key = {n.key: n for n in report.nodes}
        keys = node_keys(walk(model.graph))
        missing = [k for k in keys if k not in by_key]
        if missing:
            raise UserInputError(
                f"{self.sidecar(file).name} does not map {len(missing)} of the {len(keys)} nodes of "
                f"{file} (first: '{missing[0]}'): the files do not belong together.",
                hint="re-export the model; do not edit model.onnx or hierarchy.json by hand.",
            )
        return [by_key[k].module for k in keys], [by_key[k].source for k in keys]


def read_export(directory: str | Path) -> ExportDir:
    """The export at ``directory``, or a one-line error saying why it is not one."""
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise UserInputError(f"no such export directory: '{path}'.", hint=_HINT)
    meta_path = path / METADATA_FILE
    if not meta_path.is_file():
        raise UserInputError(f"'{path}' has no {METADATA_FILE}: it is not a modelexport export.", hint=_HINT)
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserInputError(f"cannot read '{meta_path}': {type(e).__name__}.", hint=_HINT) from e
    if not isinstance(metadata, dict):
        raise UserInputError(f"'{meta_path}' is not a JSON object.", hint=_HINT)
    for key in ("source_model", "task", "onnx_files"):
        if not metadata.get(key):
            raise UserInputError(f"'{meta_path}' has no '{key}'.", hint=_HINT)
    files = metadata["onnx_files"]
    if not isinstance(files, list) or not all(isinstance(f, str) and "/" not in f for f in files):
        raise UserInputError(f"'{meta_path}' lists no valid onnx_files.", hint=_HINT)
    for file in files:
        if not (path / file).is_file():
            raise UserInputError(f"'{path}' has no {file} though its metadata lists it.", hint=_HINT)
    return ExportDir(path.resolve(), metadata)
