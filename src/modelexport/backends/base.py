"""What every exporter backend shares: the protocol and the module wrapper that is traced.

The wrapper gives the traced module a forward() whose parameters are exactly the ONNX input names
(so both exporters name inputs and map dynamic axes by name) and returns the task's outputs as a
tuple in the ONNX output order. The Hugging Face model sits under the attribute ``model``; the
hierarchy stage strips that one level so module paths read as in the user's model.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import onnx
import torch

from ..inputs import IOSpec

if TYPE_CHECKING:  # hierarchy imports this module: no import cycle at run time
    from ..hierarchy import TorchScriptScopes

BackendName = Literal["torchscript", "dynamo"]
WRAPPER_ATTRIBUTE = "model"


# Weights past this are captured through a file (protobuf cannot hold a message past 2 GiB in
# memory as one serialised string); below it the graph never touches the disk before it is tagged.
INLINE_WEIGHT_LIMIT = 1_800_000_000


@dataclass
class Captured:
    """What a backend hands the tag stage.

    ``proto``: the graph. ``scopes``: the module scopes the exporter recorded where they are not
    in the graph itself (TorchScript), else ``None``. ``weights``: initializers of ``proto`` that
    are placeholders (name, shape, type, no data) with their bytes still in these tensors; write
    the model with :func:`modelexport.packaging.save_onnx`, or :func:`modelexport.wire.materialize`
    it first to use ``proto`` on its own. ``patches``: model code the backend replaced with a
    traceable equivalent while capturing (:mod:`modelexport.backends.patches`).
    """

    proto: onnx.ModelProto
    scopes: TorchScriptScopes | None = None
    weights: dict[str, torch.Tensor] = field(default_factory=dict)
    patches: tuple[str, ...] = ()

    def standalone(self) -> onnx.ModelProto:
        """``proto`` with every weight copied in (for tests and tools that need a whole model)."""
        from ..wire import materialize

        materialize(self.proto, self.weights)
        self.weights = {}
        return self.proto


class Backend(Protocol):
    name: BackendName
    default_opset: int

    def capture(
        self,
        module: torch.nn.Module,
        inputs: dict[str, torch.Tensor],
        io: IOSpec,
        opset: int,
        scratch: Path,
    ) -> Captured:
        """Trace ``module`` on ``inputs`` into an in-memory ONNX graph. ``scratch`` is an empty
        directory the backend may use for models too large to capture in memory."""
        ...


def weight_bytes(module: torch.nn.Module) -> int:
    """Bytes of parameters and buffers: what the ONNX initializers will weigh, near enough."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


class ExportWrapper(torch.nn.Module):
    """Calls the model with named inputs and returns the named outputs as a tuple."""

    def __init__(self, model: torch.nn.Module, input_names: list[str], output_names: list[str]) -> None:
        super().__init__()
        self.model = model
        self._input_names = list(input_names)
        self._output_names = list(output_names)
        # Decoders asked for a non-generative task (text-classification on GPT-2) must not build a
        # KV cache: it is not an output here, and a cache object in the trace breaks TorchScript.
        self._extra: dict[str, Any] = (
            {"use_cache": False} if "use_cache" in inspect.signature(model.forward).parameters else {}
        )

    def _run(self, *args: torch.Tensor) -> tuple[Any, ...]:
        named = dict(zip(self._input_names, args, strict=True))
        outputs = self.model(**named, **self._extra, return_dict=True)
        return tuple(outputs[name] for name in self._output_names)


def wrap(model: torch.nn.Module, io: IOSpec) -> ExportWrapper:
    """A wrapper whose forward() signature is exactly ``io.input_names``, in order.

    torch.export binds dynamic shapes by parameter name and the TorchScript exporter names inputs
    by position, so a ``*args`` forward will not do; the signature is generated from validated
    identifiers.
    """
    names = io.input_names
    if not all(n.isidentifier() for n in names):
        raise ValueError(f"input names must be identifiers: {names}")
    params = ", ".join(names)
    namespace: dict[str, Any] = {}
    exec(f"def forward(self, {params}):\n    return self._run({params})\n", namespace)
    cls = type("ExportWrapper", (ExportWrapper,), {"forward": namespace["forward"]})
    return cls(model, names, io.output_names)
