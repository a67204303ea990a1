"""Traceable replacements for model code an exporter cannot trace, applied only while it captures.

Each replacement computes what the original computes wherever the original runs; the verify stage
checks the exported graph against the unpatched model at another shape, so a replacement that drifted
from the original would fail the export, not pass silently. What the traced code actually ran of
them is recorded (``Captured.patches`` -> ``model_patches`` in ``export_metadata.json``).

- **Attention masks built with ``torch.vmap``** (:func:`traceable_masks`). In transformers 4.53 to
  4.57, ``masking_utils`` builds decoders' causal and padding masks with ``torch.vmap``, which the
  TorchScript tracer cannot follow (``RuntimeError: unordered_map::at``); 5.x uses ``vmap`` only when
  asked to. While TorchScript captures, and while the generative pipeline captures with either
  backend, the registered ``sdpa`` and ``eager`` mask functions build the same mask by broadcasting
  wherever the original would use ``vmap``. Non-generative dynamo exports keep the original:
  ``torch.export`` traces ``vmap`` itself.
- **End-of-sequence pooling of encoder-decoder classifiers** (BART, mBART, PLBart, MVP, LED,
  BigBird-Pegasus ``*ForSequenceClassification`` in transformers 4.x). The head checks in Python that
  every row has as many ``</s>`` as the others (``len(torch.unique_consecutive(...)) > 1``) and pools
  with a boolean mask, whose size depends on the data; ``torch.export`` stops at both. Where the
  original runs, every row has the same number of ``</s>`` and it pools at the last one, which is what
  the replacement gathers directly. transformers 5 made the head traceable itself; it is left alone
  there. Dynamo backend (:func:`traceable`); TorchScript traces the original as it is.
"""

from __future__ import annotations

import contextlib
import inspect
import types
from collections.abc import Callable, Iterator
from typing import Any

import torch

# --------------------------------------------------------------------------- attention masks


def _broadcast_mask(
    batch_size: int,
    cache_position: torch.Tensor | None = None,
    kv_length: int = 0,
    kv_offset: int = 0,
    mask_function: Callable[..., torch.Tensor] | None = None,
    attention_mask: torch.Tensor | None = None,
    q_length: int | None = None,
    q_offset: Any = 0,
    **_: Any,
) -> torch.Tensor:
    """``masking_utils.sdpa_mask`` by broadcasting instead of ``vmap``: a boolean ``(B, 1, Q, KV)`` mask.

    Query positions come as ``cache_position`` (4.53 … 4.5x) or as ``q_length``/``q_offset`` (5.x); the
    callers pass keywords. Never returns None (no ``is_causal`` shortcut): the traced graph must keep
    the padding path.
    """
    from transformers.masking_utils import causal_mask_function

    mask_fn: Callable[..., Any] = mask_function or causal_mask_function
    if cache_position is None:
        device = attention_mask.device if attention_mask is not None else None
        # q_length stays whatever the caller computed it as: int() would freeze a traced size.
        cache_position = torch.arange(q_length if q_length is not None else 0, device=device) + q_offset
    device = cache_position.device
    q_idx = cache_position[None, None, :, None]
    kv_idx = torch.arange(kv_length, device=device)[None, None, None, :] + kv_offset
    batch_idx = torch.arange(batch_size, device=device)[:, None, None, None]
    head_idx = torch.zeros(1, 1, 1, 1, dtype=torch.long, device=device)
    mask = mask_fn(batch_idx, head_idx, q_idx, kv_idx)
    if attention_mask is not None:
        padding = attention_mask.to(torch.bool)[:, kv_offset : kv_offset + kv_length]
        mask = mask & padding[:, None, None, :]
    return mask.expand(batch_size, 1, cache_position.shape[0], kv_length)


def _broadcast_eager_mask(*args: Any, dtype: torch.dtype = torch.float32, **kwargs: Any) -> torch.Tensor:
    """``masking_utils.eager_mask``: the boolean mask as an additive float mask."""
    mask = _broadcast_mask(*args, **kwargs)
    return torch.where(
        mask, torch.tensor(0.0, dtype=dtype), torch.tensor(torch.finfo(dtype).min, dtype=dtype)
    )


_MASK_REPLACEMENTS: dict[str, Callable[..., torch.Tensor]] = {
    "sdpa": _broadcast_mask,
    "eager": _broadcast_eager_mask,
}


def record(applied: list[str], note: str) -> None:
    """Add ``note`` to what an export's replacements record, once (``model_patches``)."""
    if note not in applied:
        applied.append(note)


def _takes_use_vmap(function: Callable[..., Any]) -> bool:
    try:
        return "use_vmap" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _recording(name: str, original: Callable[..., Any], applied: list[str]) -> Callable[..., torch.Tensor]:
    """The replacement for one registered mask function: used where the original would build its mask
    with ``vmap`` (4.53 … 4.57 always; 5.x only when asked to), recorded the first time it is."""
    note = f"transformers masking_utils '{name}' mask: built by broadcasting, not torch.vmap"
    optional_vmap = _takes_use_vmap(original)  # 5.x: vmap only with use_vmap=True

    def mask(*args: Any, **kwargs: Any) -> torch.Tensor:
        if optional_vmap and not kwargs.get("use_vmap", False):
            return original(*args, **kwargs)
        record(applied, note)
        return _MASK_REPLACEMENTS[name](*args, **kwargs)

    return mask


@contextlib.contextmanager
def traceable_masks() -> Iterator[list[str]]:
    """While active, transformers' ``sdpa`` and ``eager`` mask functions build their masks by
    broadcasting wherever they would use ``torch.vmap``; yields what the traced code called of the
    replacements. Restored on exit; nothing happens before transformers 4.53, whose masks are
    traceable as they are."""
    applied: list[str] = []
    try:
        from transformers import masking_utils
    except ImportError:
        yield applied
        return
    registry = masking_utils.ALL_MASK_ATTENTION_FUNCTIONS
    # register() writes the global mapping; save that one, not a local override lookups would return.
    mapping = getattr(type(registry), "_global_mapping", None)
    source = mapping if isinstance(mapping, dict) else registry
    originals = {name: source[name] for name in _MASK_REPLACEMENTS if name in source}
    for name, original in originals.items():
        registry.register(name, _recording(name, original, applied))
    try:
        yield applied
    finally:
        for name, fn in originals.items():
            registry.register(name, fn)


# --------------------------------------------------------------------------- end-of-sequence pooling


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


@contextlib.contextmanager
def traceable(model: torch.nn.Module) -> Iterator[list[str]]:
    """While active, ``model`` (the Hugging Face model, not the export wrapper) runs the traceable
    replacements that apply to it; yields what was replaced, for the record."""
    applied: list[str] = []
    prior = vars(model).get("forward", _NO_FORWARD)  # a hook (accelerate) may have set one
    if _has_untraceable_eos_pooling(model):
        model.forward = types.MethodType(_eos_pooled_forward, model)
        applied.append(f"{type(model).__name__}.forward: end-of-sequence pooling by gather")
    try:
        yield applied
    finally:
        if applied:
            if prior is _NO_FORWARD:
                del model.forward
            else:
                model.forward = prior
