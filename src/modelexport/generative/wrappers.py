"""The modules that are traced: one per ONNX file, each holding the whole Hugging Face model as ``model``.

Holding the whole model (not ``model.get_encoder()``) keeps module paths relative to one root in
every file, so the encoder file's nodes are tagged ``encoder.*`` / ``model.encoder.*`` and the
decoders' ``decoder.*`` / ``lm_head``, distinct as in the PyTorch model. Flat past tensors are wrapped
into the cache object the model takes (:mod:`.compat`) inside ``forward``, so the graph's inputs and
outputs are plain tensors named as Optimum names them.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from ..backends.base import WRAPPER_ATTRIBUTE
from ..inputs import IOSpec, TensorSpec
from . import compat
from .layout import OnnxPart


def identifier(name: str) -> str:
    """``past_key_values.0.key`` -> ``past_key_values_0_key``: a parameter name for the traced forward."""
    return re.sub(r"\W", "_", name)


def traced_io(io: IOSpec) -> IOSpec:
    """``io`` with identifier names: what the backends trace with (dynamo binds shapes by parameter name)."""

    def rename(specs: tuple[TensorSpec, ...]) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(identifier(t.name), t.axes) for t in specs)

    return IOSpec(rename(io.inputs), rename(io.outputs))


class GenerativeWrapper(torch.nn.Module):
    """Runs one part (decoder, encoder, first-step decoder, decoder with past) on flat tensors."""

    model: Any  # the Hugging Face model (registered as a submodule under WRAPPER_ATTRIBUTE)

    def __init__(self, model: torch.nn.Module, part: OnnxPart) -> None:
        super().__init__()
        setattr(self, WRAPPER_ATTRIBUTE, model)
        self.role = part.role
        self.input_names = part.io.input_names
        self.output_names = part.io.output_names
        self.use_cache = any(n.startswith("present.") for n in self.output_names)
        # torch.onnx.export restores the traced module's mode afterwards, recursively: a wrapper left
        # in training mode would switch the model's dropout on for every later PyTorch run.
        self.train(model.training)

    def _run(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        named = dict(zip(self.input_names, args, strict=True))
        past = [t for n, t in named.items() if n.startswith("past_key_values.")]
        if self.role == "decoder":
            return self._decoder(named, past)
        if self.role == "encoder":
            encoder = self.model.get_encoder()
            out = encoder(
                input_ids=named["input_ids"], attention_mask=named["attention_mask"], return_dict=True
            )
            return (out.last_hidden_state,)
        return self._seq2seq_decoder(named, past)

    def _decoder(self, named: dict[str, torch.Tensor], past: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        extra = {"position_ids": named["position_ids"]} if "position_ids" in named else {}
        out = self.model(
            input_ids=named["input_ids"],
            attention_mask=named["attention_mask"],
            past_key_values=compat.decoder_cache(self.model, past) if past else None,
            use_cache=self.use_cache,
            return_dict=True,
            **extra,
        )
        if not self.use_cache:
            return (out.logits,)
        return (out.logits, *compat.flatten_cache(out.past_key_values, self_attention_only=True))

    def _seq2seq_decoder(
        self, named: dict[str, torch.Tensor], past: list[torch.Tensor]
    ) -> tuple[torch.Tensor, ...]:
        from transformers.modeling_outputs import BaseModelOutput

        out = self.model(
            attention_mask=named["encoder_attention_mask"],
            decoder_input_ids=named["input_ids"],
            encoder_outputs=BaseModelOutput(last_hidden_state=named["encoder_hidden_states"]),  # type: ignore[arg-type]
            past_key_values=compat.encoder_decoder_cache(self.model, past) if past else None,
            use_cache=self.use_cache,
            return_dict=True,
        )
        if not self.use_cache:
            return (out.logits,)
        presents = compat.flatten_cache(out.past_key_values)
        if self.role == "decoder_with_past":  # the cross-attention presents are the inputs again
            presents = tuple(t for i, t in enumerate(presents) if i % 4 < 2)
        return (out.logits, *presents)


def wrap_part(model: torch.nn.Module, part: OnnxPart) -> GenerativeWrapper:
    """A wrapper whose forward() parameters are the identifier forms of the part's input names."""
    params = ", ".join(identifier(n) for n in part.io.input_names)
    namespace: dict[str, Any] = {}
    exec(f"def forward(self, {params}):\n    return self._run({params})\n", namespace)
    cls = type("GenerativeWrapper", (GenerativeWrapper,), {"forward": namespace["forward"]})
    return cls(model, part)
