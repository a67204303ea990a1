"""The modules a backend traces: one per ONNX file, each holding the whole Hugging Face model.

Each wrapper's ``forward`` takes exactly the file's inputs, under identifier forms of their ONNX
names (``past_key_values.0.key`` -> ``past_key_values_0_key``; torch.export binds dynamic shapes by
parameter name, the TorchScript exporter names inputs by position), and returns the file's outputs
as a tuple in ONNX order. The model sits under :data:`~modelexport.common.WRAPPER_ATTRIBUTE`, so
module paths stay relative to one root in every file (an encoder file's nodes are tagged
``model.encoder.*``, its decoders' ``model.decoder.*`` / ``lm_head``) and the tags strip that one
level. Past key values are flat tensors in and out; :mod:`.generative.cache` turns them into the
cache object the model takes.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from .common import WRAPPER_ATTRIBUTE, IOSpec, identifier
from .generative import cache

Tensors = tuple[torch.Tensor, ...]
Named = dict[str, torch.Tensor]


class TracedModule(torch.nn.Module):
    """Runs the model on the named inputs of one ONNX file; subclasses say how (:meth:`compute`)."""

    model: Any  # the Hugging Face model

    def __init__(self, model: torch.nn.Module, io: IOSpec) -> None:
        super().__init__()
        setattr(self, WRAPPER_ATTRIBUTE, model)
        self.input_names = io.input_names
        self.output_names = io.output_names
        # torch.onnx.export restores the traced module's mode afterwards, recursively: a wrapper left
        # in training mode would switch the model's dropout on for every later PyTorch run.
        self.train(model.training)

    def run(self, feeds: Named) -> Tensors:
        """The outputs for feeds keyed by ONNX input name (the PyTorch reference). The model gets
        copies: XGLM adds its offset to ``position_ids`` in place, which would change the feeds
        ONNX Runtime is given next."""
        with torch.no_grad():
            return self.compute({n: _copy(feeds[n]) for n in self.input_names})

    def _run(self, *args: torch.Tensor) -> Tensors:
        return self.compute(dict(zip(self.input_names, args, strict=True)))

    def compute(self, named: Named) -> Tensors:
        raise NotImplementedError


def _copy(value: Any) -> Any:
    return value.clone() if isinstance(value, torch.Tensor) else value


def call_model(model: torch.nn.Module, named: Named) -> Any:
    """``model``'s forward on inputs named as ONNX names them: Perceiver takes its token ids or pixels
    as ``inputs``; decoders asked for a non-generative task (text-classification on GPT-2) must not
    build a KV cache (it is not an output, and a cache object in the trace breaks TorchScript)."""
    params = inspect.signature(model.forward).parameters
    kwargs: dict[str, Any] = {}
    for name, value in named.items():
        takes_inputs = name in ("input_ids", "pixel_values") and name not in params and "inputs" in params
        kwargs["inputs" if takes_inputs else name] = value
    if "use_cache" in params:
        kwargs["use_cache"] = False
    if "return_dict" in params:
        kwargs["return_dict"] = True
    return model(**kwargs)


class TaskOutputs(TracedModule):
    """A single-file task: the model's own forward, its task outputs by name."""

    def compute(self, named: Named) -> Tensors:
        outputs = call_model(self.model, named)
        return tuple(outputs[name] for name in self.output_names)


class _CacheStep(TracedModule):
    """A generative file: returns ``present.*`` when its outputs name them."""

    def __init__(self, model: torch.nn.Module, io: IOSpec) -> None:
        super().__init__(model, io)
        self.use_cache = any(n.startswith("present.") for n in self.output_names)

    @staticmethod
    def past(named: Named) -> list[torch.Tensor]:
        return [t for n, t in named.items() if n.startswith("past_key_values.")]


class DecoderStep(_CacheStep):
    """A decoder-only model's ``model.onnx``: logits, or a base model's last hidden state
    (feature-extraction-with-past), and the KV cache, for the new tokens."""

    def compute(self, named: Named) -> Tensors:
        past = self.past(named)
        extra = {"position_ids": named["position_ids"]} if "position_ids" in named else {}
        out = self.model(
            input_ids=named["input_ids"],
            attention_mask=named["attention_mask"],
            past_key_values=cache.decoder_cache(self.model, past) if past else None,
            use_cache=self.use_cache,
            return_dict=True,
            **extra,
        )
        first = out[self.output_names[0]]
        if not self.use_cache:
            return (first,)
        return (first, *cache.flatten_cache(out.past_key_values, self_attention_only=True))


class EncoderOutputs(TracedModule):
    """An encoder-decoder's ``encoder_model.onnx``: the encoder's last hidden state, from whatever it
    takes (token ids, speech features, a waveform, pixels, flattened patches, and their mask)."""

    def compute(self, named: Named) -> Tensors:
        out = self.model.get_encoder()(**named, return_dict=True)
        return (out.last_hidden_state,)


class Seq2SeqDecoderStep(_CacheStep):
    """An encoder-decoder's decoder file: logits (and the KV cache) from the encoder's outputs; a
    decoder with past returns the self-attention presents only (the cross ones are its inputs)."""

    def __init__(self, model: torch.nn.Module, io: IOSpec, *, with_past_inputs: bool) -> None:
        super().__init__(model, io)
        self.with_past_inputs = with_past_inputs

    def compute(self, named: Named) -> Tensors:
        from transformers.modeling_outputs import BaseModelOutput

        past = self.past(named)
        extra = {}
        if "encoder_attention_mask" in named:
            extra["attention_mask"] = named["encoder_attention_mask"]
        if "attention_mask" in named:  # Pix2Struct's decoder mask
            extra["decoder_attention_mask"] = named["attention_mask"]
        encoder_outputs = BaseModelOutput(last_hidden_state=named["encoder_hidden_states"])  # type: ignore[arg-type]
        # Moonshine's decoder (transformers 5) reads the encoder's mask, one value per frame, off the
        # encoder's outputs; transformers 4 takes the waveform's mask and samples it itself.
        encoder_outputs.attention_mask = _frames_mask(
            self.model, named.get("encoder_attention_mask"), named["encoder_hidden_states"]
        )
        out = self.model(
            decoder_input_ids=named["input_ids"],
            encoder_outputs=encoder_outputs,
            past_key_values=cache.encoder_decoder_cache(self.model, past) if past else None,
            use_cache=self.use_cache,
            return_dict=True,
            **extra,
        )
        first = out[self.output_names[0]]
        if not self.use_cache:
            return (first,)
        presents = cache.flatten_cache(out.past_key_values)
        if self.with_past_inputs:
            presents = tuple(t for i, t in enumerate(presents) if i % 4 < 2)
        return (first, *presents)


# Moonshine's encoder keeps every 384th sample of the waveform's mask (its three convolutions' strides).
_MOONSHINE_STRIDE = 64 * 3 * 2


def _frames_mask(
    model: torch.nn.Module, mask: torch.Tensor | None, frames: torch.Tensor
) -> torch.Tensor | None:
    """The encoder's attention mask at its output frames, as its outputs carry it (Moonshine's, the
    only encoder-decoder whose decoder reads it there), else None."""
    if mask is None or getattr(getattr(model, "config", None), "model_type", None) != "moonshine":
        return None
    return mask[..., ::_MOONSHINE_STRIDE][..., : frames.shape[1]].int()


def traced(cls: type[TracedModule], model: torch.nn.Module, io: IOSpec, **kwargs: Any) -> TracedModule:
    """An instance of ``cls`` whose ``forward`` parameters are the identifier forms of ``io``'s inputs
    (generated source: a ``*args`` forward cannot be traced with named dynamic shapes)."""
    params = ", ".join(identifier(n) for n in io.input_names)
    namespace: dict[str, Any] = {}
    exec(f"def forward(self, {params}):\n    return self._run({params})\n", namespace)
    subclass = type(cls.__name__, (cls,), {"forward": namespace["forward"], "__module__": cls.__module__})
    return subclass(model, io, **kwargs)


class MergedDecoderStep(torch.nn.Module):
    """The PyTorch side of a merged decoder file: the branch its boolean ``flag`` input picks, the
    decoder with past (whose cross-attention presents are its cross-attention pasts, passed through)
    or the first-step decoder. Not traced: the file is assembled from the two traced ones."""

    def __init__(self, without_past: TracedModule, with_past: TracedModule, io: IOSpec, flag: str) -> None:
        super().__init__()
        self.without_past, self.with_past, self.flag = without_past, with_past, flag
        self.input_names = io.input_names
        self.output_names = io.output_names

    def run(self, feeds: Named) -> Tensors:
        branch = self.with_past if bool(feeds[self.flag].reshape(-1)[0]) else self.without_past
        outputs = dict(zip(branch.output_names, branch.run(feeds), strict=True))
        for name in self.output_names:
            if name not in outputs:  # a cross-attention present of the cached branch
                outputs[name] = feeds["past_key_values" + name[len("present") :]]
        return tuple(outputs[n] for n in self.output_names)
