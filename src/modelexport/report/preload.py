"""Imported once by the matrix's fork server, so every cell forks with the heavy libraries loaded.

Importing must never fail here: a library that does not import in this env (Optimum with
transformers 5, optimum 1.27 with torch 2.13) is recorded by the cell itself when it tries again.
The one thing computed is the dynamo exporter's torchlib registry (pure Python, about 1.3 s that
every dynamo cell would otherwise spend); no tensor is created, so no thread pool exists yet when
the server forks.
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
    # What the first torch.export / dynamo export in a process would otherwise import (~1.2 s a cell).
    "torch._dynamo",
    "torch.export._trace",
    "torch._functorch.aot_autograd",
    "torch.fx.experimental.symbolic_shapes",
    "torch._subclasses.fake_tensor",
    "torch._decomp",
    "torch._refs",
    "torch._prims",
    "sympy",
    "torch.onnx._internal.exporter._fx_passes",
    "torch.onnx._internal.exporter._capture_strategies",
    "onnxscript.optimizer",
    "onnxscript.rewriter",
    "onnx_ir.passes.common",
    "modelexport.export",
    "modelexport.zoo",
    "modelexport.report.cell",
    "optimum.onnxruntime:ORTModel",
    "optimum.exporters.onnx:main_export",
)

for _name in MODULES:
    probe_import(_name)

try:
    from modelexport.backends.dynamo import warm_torchlib_registry

    warm_torchlib_registry()
except Exception:  # an env where dynamo cannot load: its cells record why
    pass
