"""Where an export departs from PyTorch: every module's outputs compared, the error each module's
own nodes make on PyTorch's inputs, the first divergent module, Model Explorer node data.

::

    report = diff_export("out/")                      # source and task from export_metadata.json
    report.first_divergent_module                     # "bert.encoder.layer.3.attention.self.query", or None
    first_divergence("out/", "./my-model", "text-classification")   # a plain record for a matrix row
"""

from __future__ import annotations

from .directory import diff_export, first_divergence
from .report import DiffError, DiffReport, ModuleDiff, PartDiff, RunFailure, RunFailureError

__all__ = [
    "DiffError",
    "DiffReport",
    "ModuleDiff",
    "PartDiff",
    "RunFailure",
    "RunFailureError",
    "diff_export",
    "first_divergence",
]
