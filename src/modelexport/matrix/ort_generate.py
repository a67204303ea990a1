"""Greedy generation with plain ONNX Runtime over a generative export's files, written apart from the
exporter (no plan, feeds or verification of it is used), so that the matrix checks an export from
the outside, any exporter's alike.

Decoder-only: ``model.onnx`` with ``past_key_values.*`` in and ``present.*`` out when it has them (a
first step with an empty past), else the whole sequence again at every step; ``position_ids`` from
the attention mask as transformers' generation makes them. Encoder-decoder: ``encoder_model.onnx``,
then ``decoder_model.onnx`` for the first token and ``decoder_with_past_model.onnx`` after it (or
``decoder_model.onnx`` on the whole decoder sequence when there is no decoder with past), or
``decoder_model_merged.onnx`` for both, its ``use_cache_branch`` input saying which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

Arrays = dict[str, np.ndarray]
MERGED = "decoder_model_merged.onnx"
_TYPES = {
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(float)": np.float32,
    "tensor(bool)": np.bool_,
}
FLAG = "use_cache_branch"


@dataclass
class OrtGeneration:
    """The tokens ONNX Runtime chose after the prompt, and the logits it chose them from (or, for a
    base model with a cache, its last hidden state at each step of forced tokens)."""

    tokens: list[list[int]] = field(default_factory=list)
    logits: list[np.ndarray] = field(default_factory=list)  # per step: (batch, vocab) or (batch, hidden)


def _next(
    outputs: Arrays, output: str, forced: np.ndarray | None, step: int
) -> tuple[np.ndarray, np.ndarray]:
    """The last position of ``output`` and the token that follows: its argmax, or ``forced``'s."""
    last = outputs[output][:, -1, :]
    token = forced[:, step : step + 1] if forced is not None else last.argmax(-1)[:, None]
    return last, token.astype(np.int64)


class _Session:
    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name: i for i in self.session.get_inputs()}
        self.outputs = [o.name for o in self.session.get_outputs()]

    def run(self, feed: Arrays) -> Arrays:
        """Run on the inputs the graph declares, each in the type it declares (preprocessors give
        int32 masks, Pix2Struct's a float one; graphs take what their exporter chose)."""
        typed = {
            k: v.astype(_TYPES.get(self.inputs[k].type, v.dtype)) for k, v in feed.items() if k in self.inputs
        }
        return dict(zip(self.outputs, self.session.run(self.outputs, typed), strict=True))

    def empty_past(self, batch: int, dtype: Any = np.float32) -> Arrays:
        """Past key values of length 0, shaped from the graph (heads and head size are fixed dims)."""
        past = {}
        for name, info in self.inputs.items():
            if name.startswith("past_key_values."):
                dims = [d if isinstance(d, int) else 0 for d in info.shape]
                dims[0] = batch
                past[name] = np.zeros(dims, dtype=dtype)
        return past


def empty_past(onnx_file: Path, batch: int) -> Arrays:
    """Past key values of length 0 for every ``past_key_values.*`` input of ``onnx_file``."""
    return _Session(onnx_file).empty_past(batch)


def _position_ids(mask: np.ndarray, new: int) -> np.ndarray:
    ids = np.cumsum(mask, axis=-1) - 1
    ids[mask == 0] = 1
    return ids[:, -new:].astype(np.int64)


def _presents_as_past(outputs: Arrays, prefix: str = "present") -> Arrays:
    return {"past_key_values" + k[len(prefix) :]: v for k, v in outputs.items() if k.startswith(prefix + ".")}


def decoder_generate(
    export_dir: Path,
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    steps: int,
    *,
    output: str = "logits",
    forced: np.ndarray | None = None,
) -> OrtGeneration:
    """Greedy decoding of ``steps`` tokens with ``model.onnx`` (left-padded ``input_ids``); with
    ``forced`` (batch, steps) tokens, those are fed instead (a base model's ``last_hidden_state``)."""
    session = _Session(export_dir / "model.onnx")
    cached = any(n.startswith("past_key_values.") for n in session.inputs)
    result = OrtGeneration()
    ids, mask = input_ids.astype(np.int64), attention_mask.astype(np.int64)
    new, past = ids, session.empty_past(ids.shape[0]) if cached else {}
    sequence = ids
    for _ in range(steps):
        feed: Arrays = {"input_ids": new if cached else sequence, "attention_mask": mask}
        if "position_ids" in session.inputs:
            feed["position_ids"] = _position_ids(mask, feed["input_ids"].shape[1])
        outputs = session.run({**feed, **past})
        logits, token = _next(outputs, output, forced, len(result.logits))
        result.logits.append(logits)
        sequence = np.concatenate([sequence, token], axis=1)
        mask = np.concatenate([mask, np.ones_like(token)], axis=1)
        new = token
        if cached:
            past = _presents_as_past(outputs)
    result.tokens = sequence[:, ids.shape[1] :].tolist()
    return result


def seq2seq_generate(
    export_dir: Path,
    encoder_inputs: Arrays,
    start: int,
    steps: int,
    *,
    output: str = "logits",
    forced: np.ndarray | None = None,
) -> OrtGeneration:
    """Greedy decoding of ``steps`` tokens after the decoder start token ``start``, from what the
    encoder takes (token ids, speech features, a waveform, pixels or flattened patches, and an
    ``attention_mask`` where it has one): each file is fed the inputs it declares. ``output`` and
    ``forced`` as for :func:`decoder_generate`."""
    encoder = _Session(export_dir / "encoder_model.onnx")
    merged_file = export_dir / MERGED
    merged = _Session(merged_file) if merged_file.is_file() else None
    first = merged or _Session(export_dir / "decoder_model.onnx")
    with_past_file = export_dir / "decoder_with_past_model.onnx"
    later = merged or (_Session(with_past_file) if with_past_file.is_file() else None)
    hidden = encoder.run(encoder_inputs)["last_hidden_state"]
    batch = hidden.shape[0]
    common = {"encoder_hidden_states": hidden}
    if "attention_mask" in encoder_inputs:
        common["encoder_attention_mask"] = encoder_inputs["attention_mask"].astype(np.int64)
    result = OrtGeneration()
    sequence = np.full((batch, 1), start, dtype=np.int64)
    past: Arrays = {}
    for step in range(steps):
        session = first if step == 0 or later is None else later
        new = sequence if later is None else sequence[:, -1:]
        # A decoder mask of its own (Pix2Struct) covers the whole decoder sequence, cached or new.
        feed = {**common, "input_ids": new, "attention_mask": np.ones_like(sequence), **past}
        if merged is not None:
            feed[FLAG] = np.array([step > 0])
            if step == 0:
                feed.update(merged.empty_past(batch))
        outputs = session.run(feed)
        logits, token = _next(outputs, output, forced, step)
        result.logits.append(logits)
        sequence = np.concatenate([sequence, token], axis=1)
        if later is not None:
            presents = _presents_as_past(outputs)
            # The cross-attention cache comes from the first step only; later steps return self-attention.
            past = {**past, **presents} if step else presents
    result.tokens = sequence[:, 1:].tolist()
    return result
