"""modelexport: Hugging Face -> ONNX directories that Optimum loads, with module hierarchy tags."""

from __future__ import annotations

from .auto import AutoModelForONNX
from .diagnose import DiffReport, diff_export, first_divergence
from .errors import (
    CaptureError,
    CompatibilityError,
    LoadError,
    ModelExportError,
    ModelRunError,
    PackageError,
    TagError,
    UserInputError,
    VerifyError,
)
from .export import ExportStatus, export_with_config, run_export
from .legacy import add_config_to_existing_model, export_onnx_with_hierarchy
from .optimize import optimize_export, quantize_export
from .tasks import TASKS, TaskSpec, infer_task
from .validate import OptimumCheck, check_optimum, validate_optimum_compatibility
from .verify import Verification
from .version import __version__

__all__ = [
    "TASKS",
    "AutoModelForONNX",
    "CaptureError",
    "CompatibilityError",
    "DiffReport",
    "ExportStatus",
    "LoadError",
    "ModelExportError",
    "ModelRunError",
    "OptimumCheck",
    "PackageError",
    "TagError",
    "TaskSpec",
    "UserInputError",
    "Verification",
    "VerifyError",
    "__version__",
    "add_config_to_existing_model",
    "check_optimum",
    "diff_export",
    "export_onnx_with_hierarchy",
    "export_with_config",
    "first_divergence",
    "infer_task",
    "optimize_export",
    "quantize_export",
    "run_export",
    "validate_optimum_compatibility",
]
