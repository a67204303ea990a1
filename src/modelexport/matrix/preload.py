"""Imported once by the matrix's fork server, so every cell forks with the heavy libraries loaded.

Importing must never fail here: a library that does not import in this env (Optimum with
transformers 5, optimum 1.27 with torch 2.13) is recorded by the cell itself when it tries again.

Three more things spare each forked cell work that is the same in every cell:

- The dynamo exporter is warmed (:func:`~modelexport.backends.dynamo.warm_dynamo_exporter`): its
  torchlib registry and what its first export sets up would otherwise be rebuilt by every dynamo
  cell. Torch runs on one thread here, so the server forks with no thread pool started.
- What every cell's row records about its environment (library versions, machine) and the zoo's
  cache key are read once here (about 35 ms a cell otherwise; reading the processor runs a
  subprocess).
- The server's heap is frozen (:func:`gc.freeze`). Otherwise each full garbage collection in a cell
  walks, and writes to, every object the server imported, which also copies those pages into the
  cell (copy-on-write).
"""

from __future__ import annotations

import gc

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
    "modelexport.matrix.cell",
    # The cell's optional records: the tag checks of every export of ours, the diff of a parity failure.
    "modelexport.matrix.tag_checks",
    "modelexport.diagnose",
    "optimum.onnxruntime:ORTModel",
    "optimum.exporters.onnx:main_export",
)

for _name in MODULES:
    probe_import(_name)

try:
    import torch

    torch.set_num_threads(1)
    from modelexport.backends.dynamo import warm_dynamo_exporter

    warm_dynamo_exporter()
except Exception:  # an env where dynamo cannot load or export: its cells record why
    pass

try:
    from modelexport.matrix.environment import machine_info, package_versions
    from modelexport.zoo.cache import cache_key

    machine_info(), package_versions(), cache_key()
except Exception:  # each cell reads them again and records what fails
    pass

gc.collect()
gc.freeze()
