"""Faster exports that keep their tags: ONNX Runtime's optimizer and dynamic int8 quantizer applied
to an export directory, every node re-tagged with its module, verified against PyTorch.

    optimize_export("out/", "out-o2/", level="O2")
    quantize_export("out/", "out-int8/", exclude_modules=["classifier"])
"""

from __future__ import annotations

from .api import optimize_export, quantize_export
from .fusions import LEVELS, Level
from .run import RewriteStatus
from .sensitivity import ModuleError

__all__ = ["LEVELS", "Level", "ModuleError", "RewriteStatus", "optimize_export", "quantize_export"]
