"""Imported once by the matrix's fork server, so every cell forks with the heavy libraries loaded.

Importing must never fail here: a library that does not import in this env (Optimum with
transformers 5, optimum 1.27 with torch 2.13) is recorded by the cell itself when it tries again.
Nothing is computed, so no thread pool exists yet when the server forks.
"""

from __future__ import annotations

from .checks import probe_import

MODULES = (
    "numpy",
    "torch",
    "transformers",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "torch.onnx._internal.exporter._core",
    "modelexport.export",
    "modelexport.zoo",
    "modelexport.report.cell",
    "optimum.onnxruntime:ORTModel",
    "optimum.exporters.onnx:main_export",
)

for _name in MODULES:
    probe_import(_name)
