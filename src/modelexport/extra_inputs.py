"""Inputs some architectures take beyond their modality's own (token ids, pixels, waveforms), as data:
their ONNX names, dynamic axes and how a dummy value is made, per model type, as Optimum's ONNX
configs declare them (document boxes, markup xpaths, visual features, time series, trajectories).

Every maker gets the batch and sequence length of the input set being made, the model's config and
a seeded generator, and returns a tensor valid for the model (boxes with x0 <= x1, ids within their
embedding tables).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .common import Axes

Maker = Callable[[int, int, Any, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class ExtraInput:
    name: str
    axes: Axes
    make: Maker


def _bbox(batch: int, seq: int, config: Any, gen: torch.Generator) -> torch.Tensor:
    """Word boxes (x0, y0, x1, y1) in [0, max_2d_position_embeddings), x0 <= x1 and y0 <= y1."""
    top = int(getattr(config, "max_2d_position_embeddings", 1024) or 1024) - 1
    corners = torch.randint(0, top + 1, (batch, seq, 2, 2), generator=gen)
    low, high = corners.min(dim=2).values, corners.max(dim=2).values
    return torch.stack([low[..., 0], low[..., 1], high[..., 0], high[..., 1]], dim=-1)


def _xpath(limit_attr: str) -> Maker:
    def make(batch: int, seq: int, config: Any, gen: torch.Generator) -> torch.Tensor:
        depth = int(config.max_depth)
        return torch.randint(0, int(getattr(config, limit_attr)), (batch, seq, depth), generator=gen)

    return make


def _visual_embeds(batch: int, seq: int, config: Any, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(batch, max(2, seq // 2), int(config.visual_embedding_dim), generator=gen)


def _visual_ones(batch: int, seq: int, config: Any, gen: torch.Generator) -> torch.Tensor:
    return torch.ones(batch, max(2, seq // 2), dtype=torch.long)


def _visual_types(batch: int, seq: int, config: Any, gen: torch.Generator) -> torch.Tensor:
    return torch.ones(batch, max(2, seq // 2), dtype=torch.long)


def _global_attention(batch: int, seq: int, config: Any, gen: torch.Generator) -> torch.Tensor:
    """Longformer's global attention: the first token of every row (its [CLS]), as its heads use."""
    mask = torch.zeros(batch, seq, dtype=torch.long)
    mask[:, 0] = 1
    return mask


_TOKENS = {0: "batch_size", 1: "sequence_length"}
_BOXES = {0: "batch_size", 1: "sequence_length"}
_XPATH = {0: "batch_size", 1: "sequence_length"}
_VISUAL = {0: "batch_size", 1: "visual_seq_length"}

# model type -> inputs beside input_ids / attention_mask / token_type_ids, in Optimum's order.
TEXT_EXTRAS: Mapping[str, tuple[ExtraInput, ...]] = {
    "layoutlm": (ExtraInput("bbox", _BOXES, _bbox),),
    "layoutlmv3": (ExtraInput("bbox", _BOXES, _bbox),),
    "lilt": (ExtraInput("bbox", _BOXES, _bbox),),
    "bros": (ExtraInput("bbox", _BOXES, _bbox),),
    "markuplm": (
        ExtraInput("xpath_tags_seq", _XPATH, _xpath("tag_pad_id")),
        ExtraInput("xpath_subs_seq", _XPATH, _xpath("subs_pad_id")),
    ),
    "visual_bert": (
        ExtraInput("visual_embeds", {**_VISUAL, 2: "visual_embedding_dim"}, _visual_embeds),
        ExtraInput("visual_token_type_ids", _VISUAL, _visual_types),
        ExtraInput("visual_attention_mask", _VISUAL, _visual_ones),
    ),
    "longformer": (ExtraInput("global_attention_mask", _TOKENS, _global_attention),),
}


def text_extras(model_type: str | None) -> tuple[ExtraInput, ...]:
    return TEXT_EXTRAS.get(model_type or "", ())
