"""End-of-sequence pooling of encoder-decoder classifiers, by gathering instead of masking.

BART, mBART, PLBart, MVP, LED and BigBird-Pegasus ``*ForSequenceClassification`` in transformers 4.x
check in Python that every row has as many ``</s>`` as the others
(``len(torch.unique_consecutive(...)) > 1``) and pool with a boolean mask whose size depends on the
data; ``torch.export`` stops at both. Where the original runs, every row has the same number of
``</s>`` and it pools at the last one, which is what the replacement gathers directly. transformers 5
made the head traceable itself; it is left alone there.
"""

from __future__ import annotations

import contextlib
import inspect
import types
from collections.abc import Iterator
from typing import Any

import torch

from .base import record

# The construct torch.export cannot trace, as transformers 4.x writes it.
_UNTRACEABLE_EOS_CHECK = "len(torch.unique_consecutive("
# Heads whose base model makes its own decoder tokens from ``input_ids`` (T5's head shifts them
# itself before calling its base, so calling the base alone would not do).
_EOS_POOLING_FAMILIES = frozenset({"bart", "mbart", "plbart", "mvp", "led", "bigbird_pegasus"})
_NO_FORWARD = object()
# What the ExportWrapper passes besides the inputs; anything else the replacement cannot honour.
_WRAPPER_KEYWORDS = frozenset({"use_cache", "return_dict"})


def _base(model: torch.nn.Module) -> Any:
    """The encoder-decoder under the head: ``model.model``, ``model.led``, ... (``base_model_prefix``)."""
    return getattr(model, getattr(model, "base_model_prefix", "") or "model", None)


def _has_untraceable_eos_pooling(model: torch.nn.Module) -> bool:
    config = getattr(model, "config", None)
    if getattr(config, "model_type", None) not in _EOS_POOLING_FAMILIES:
        return False
    if not isinstance(getattr(model, "classification_head", None), torch.nn.Module):
        return False
    if not isinstance(_base(model), torch.nn.Module):
        return False
    try:
        source = inspect.getsource(type(model).forward)
    except (OSError, TypeError):
        return False
    return _UNTRACEABLE_EOS_CHECK in source


def _eos_pooled_forward(
    self: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any
) -> Any:
    """The classifier's forward with the last ``</s>`` of each row gathered, not masked out."""
    from transformers.modeling_outputs import Seq2SeqSequenceClassifierOutput

    unexpected = sorted(k for k, v in kwargs.items() if v is not None and k not in _WRAPPER_KEYWORDS)
    if unexpected:
        raise TypeError(f"the traceable {type(self).__name__}.forward does not take {unexpected}")
    outputs = _base(self)(input_ids, attention_mask=attention_mask, use_cache=False, return_dict=True)
    hidden = outputs[0]
    is_eos = input_ids.eq(self.config.eos_token_id).to(hidden.device)
    positions = torch.arange(input_ids.shape[-1], device=hidden.device)
    last_eos = (is_eos.to(torch.long) * positions).argmax(dim=-1)
    pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last_eos]
    return Seq2SeqSequenceClassifierOutput(logits=self.classification_head(pooled))


def applies(model: torch.nn.Module) -> bool:
    """A classifier of one of the families whose forward has the untraceable check (transformers 4.x)."""
    return _has_untraceable_eos_pooling(model)


@contextlib.contextmanager
def eos_pooling_by_gather(model: torch.nn.Module, applied: list[str]) -> Iterator[None]:
    """While active, ``model`` (the Hugging Face model, not the export wrapper) pools by gather."""
    prior = vars(model).get("forward", _NO_FORWARD)  # a hook (accelerate) may have set one
    model.forward = types.MethodType(_eos_pooled_forward, model)
    record(applied, f"{type(model).__name__}.forward: end-of-sequence pooling by gather")
    try:
        yield
    finally:
        if prior is _NO_FORWARD:
            del model.forward
        else:
            model.forward = prior
