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
FLAG = "use_cache_branch"


@dataclass
class OrtGeneration:
    """The tokens ONNX Runtime chose after the prompt, and the logits it chose them from."""

    tokens: list[list[int]] = field(default_factory=list)
    logits: list[np.ndarray] = field(default_factory=list)  # per step: (batch, vocab)


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
        return dict(zip(self.outputs, self.session.run(self.outputs, feed), strict=True))

    def empty_past(self, batch: int, dtype: Any = np.float32) -> Arrays:
        """Past key values of length 0, shaped from the graph (heads and head size are fixed dims)."""
        past = {}
        for name, info in self.inputs.items():
            if name.startswith("past_key_values."):
                dims = [d if isinstance(d, int) else 0 for d in info.shape]
                dims[0] = batch
                past[name] = np.zeros(dims, dtype=dtype)
        return past


def _position_ids(mask: np.ndarray, new: int) -> np.ndarray:
    ids = np.cumsum(mask, axis=-1) - 1
    ids[mask == 0] = 1
    return ids[:, -new:].astype(np.int64)


def _presents_as_past(outputs: Arrays, prefix: str = "present") -> Arrays:
    return {"past_key_values" + k[len(prefix) :]: v for k, v in outputs.items() if k.startswith(prefix + ".")}


def decoder_generate(
    export_dir: Path, input_ids: np.ndarray, attention_mask: np.ndarray, steps: int
) -> OrtGeneration:
    """Greedy decoding of ``steps`` tokens with ``model.onnx`` (left-padded ``input_ids``)."""
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
        logits = outputs["logits"][:, -1, :]
        token = logits.argmax(-1).astype(np.int64)[:, None]
        result.logits.append(logits)
        sequence = np.concatenate([sequence, token], axis=1)
        mask = np.concatenate([mask, np.ones_like(token)], axis=1)
        new = token
        if cached:
            past = _presents_as_past(outputs)
    result.tokens = sequence[:, ids.shape[1] :].tolist()
    return result


def seq2seq_generate(
    export_dir: Path, input_ids: np.ndarray, attention_mask: np.ndarray, start: int, steps: int
) -> OrtGeneration:
    """Greedy decoding of ``steps`` tokens after the decoder start token ``start``."""
    encoder = _Session(export_dir / "encoder_model.onnx")
    merged_file = export_dir / MERGED
    merged = _Session(merged_file) if merged_file.is_file() else None
    first = merged or _Session(export_dir / "decoder_model.onnx")
    with_past_file = export_dir / "decoder_with_past_model.onnx"
    later = merged or (_Session(with_past_file) if with_past_file.is_file() else None)
    enc_feed = {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask.astype(np.int64)}
    hidden = encoder.run({k: v for k, v in enc_feed.items() if k in encoder.inputs})["last_hidden_state"]
    common = {"encoder_attention_mask": enc_feed["attention_mask"], "encoder_hidden_states": hidden}
    result = OrtGeneration()
    sequence = np.full((input_ids.shape[0], 1), start, dtype=np.int64)
    past: Arrays = {}
    for step in range(steps):
        session = first if step == 0 or later is None else later
        new = sequence if later is None else sequence[:, -1:]
        feed = {**common, "input_ids": new, **past}
        if merged is not None:
            feed[FLAG] = np.array([step > 0])
            if step == 0:
                feed.update(merged.empty_past(input_ids.shape[0]))
        outputs = session.run({k: v for k, v in feed.items() if k in session.inputs})
        logits = outputs["logits"][:, -1, :]
        token = logits.argmax(-1).astype(np.int64)[:, None]
        result.logits.append(logits)
        sequence = np.concatenate([sequence, token], axis=1)
        if later is not None:
            presents = _presents_as_past(outputs)
            # The cross-attention cache comes from the first step only; later steps return self-attention.
            past = {**past, **presents} if step else presents
    result.tokens = sequence[:, 1:].tolist()
    return result
