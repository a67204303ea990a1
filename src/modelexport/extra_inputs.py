"""Inputs some architectures take beyond their modality's own (token ids, pixels, waveforms), as data:
their ONNX names, dynamic axes and how a dummy value is made, per model type, as Optimum's ONNX
configs declare them (document boxes and page images, markup xpaths, visual features, glyph ids,
prompt points, masking noise).

Every maker gets the shape of the token ids of the input set being made ((batch, sequence), or
(batch, choices, sequence) for multiple choice; (batch, sequence) of the set's sizes for other
modalities), the model's config and a seeded generator, and returns a tensor valid for the model
(boxes with x0 <= x1, ids within their embedding tables). An input that is one per token
(``per_token``) takes the token ids' axes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .common import Axes

Shape = tuple[int, ...]
Maker = Callable[[Shape, Any, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class ExtraInput:
    name: str
    axes: Axes
    make: Maker
    per_token: bool = False


def _corners(shape: Shape, top: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    corners = torch.randint(0, top + 1, (*shape, 2, 2), generator=gen)
    return corners.min(dim=2).values, corners.max(dim=2).values


def _bbox(shape: Shape, config: Any, gen: torch.Generator) -> torch.Tensor:
    """Word boxes (x0, y0, x1, y1) in [0, max_2d_position_embeddings), x0 <= x1 and y0 <= y1."""
    top = int(getattr(config, "max_2d_position_embeddings", 1024) or 1024) - 1
    low, high = _corners(shape, top, gen)
    return torch.stack([low[..., 0], low[..., 1], high[..., 0], high[..., 1]], dim=-1)


def _unit_bbox(shape: Shape, config: Any, gen: torch.Generator) -> torch.Tensor:
    """Word boxes as fractions of the page (BROS): floats in [0, 1], x0 <= x1 and y0 <= y1."""
    low, high = _corners(shape, 1000, gen)
    return torch.stack([low[..., 0], low[..., 1], high[..., 0], high[..., 1]], dim=-1).float() / 1000


def _page_image(shape: Shape, config: Any, gen: torch.Generator) -> torch.Tensor:
    """LayoutLMv3's page image: its patch grid (visual_bbox) is precomputed for config.input_size."""
    side = int(config.input_size)
    return torch.randn(shape[0], int(getattr(config, "num_channels", 3)), side, side, generator=gen)


def _xpath(limit_attr: str) -> Maker:
    def make(shape: Shape, config: Any, gen: torch.Generator) -> torch.Tensor:
        depth = int(config.max_depth)
        return torch.randint(0, int(getattr(config, limit_attr)), (*shape, depth), generator=gen)

    return make


def _visual(shape: Shape) -> Shape:
    """(batch, visual tokens): half as many regions as text tokens, at least 2."""
    return shape[0], max(2, shape[-1] // 2)


def _visual_embeds(shape: Shape, config: Any, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(*_visual(shape), int(config.visual_embedding_dim), generator=gen)


def _visual_ones(shape: Shape, config: Any, gen: torch.Generator) -> torch.Tensor:
    return torch.ones(*_visual(shape), dtype=torch.long)


def _visual_feats(shape: Shape, config: Any, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(*_visual(shape), int(config.visual_feat_dim), generator=gen)


def _visual_pos(shape: Shape, config: Any, gen: torch.Generator) -> torch.Tensor:
    low, high = _corners(_visual(shape), 1000, gen)
    return torch.cat([low, high], dim=-1).float() / 1000


def _global_attention(shape: Shape, config: Any, gen: torch.Generator) -> torch.Tensor:
    """Longformer's global attention: the first token of every row (its [CLS]), as its heads use."""
    mask = torch.zeros(shape, dtype=torch.long)
    mask[..., 0] = 1
    return mask


def _ids_below(size_attr: str) -> Maker:
    def make(shape: Shape, config: Any, gen: torch.Generator) -> torch.Tensor:
        return torch.randint(0, int(getattr(config, size_attr)), shape, generator=gen)

    return make


def _positions(shape: Shape, config: Any, gen: torch.Generator) -> torch.Tensor:
    """0..sequence-1 on every row (ImageGPT without them adds None to an int when it has no cache)."""
    return torch.arange(shape[-1]).expand(shape).contiguous()


def _patch_count(config: Any) -> int:
    size, patch = config.image_size, config.patch_size
    sides = size if isinstance(size, list | tuple) else (size, size)
    return int((sides[0] // patch) * (sides[1] // patch))


def _masking_noise(shape: Shape, config: Any, gen: torch.Generator) -> torch.Tensor:
    """ViT-MAE's per-patch noise: the patches it keeps are the lowest-noise ones (random otherwise)."""
    return torch.rand(shape[0], _patch_count(config), generator=gen)


def _points(shape: Shape) -> Shape:
    """(batch, one prompt, points): a point per 8 positions of the set's sequence length, at least 1."""
    return shape[0], 1, max(1, shape[-1] // 8)


def _prompt_points(shape: Shape, config: Any, gen: torch.Generator) -> torch.Tensor:
    """SAM's prompt points: (x, y) pixel coordinates within the image."""
    side = float(config.vision_config.image_size)
    return torch.rand(*_points(shape), 2, generator=gen) * side


def _prompt_labels(shape: Shape, config: Any, gen: torch.Generator) -> torch.Tensor:
    """SAM's point labels: 1 (foreground) or 0 (background)."""
    return torch.randint(0, 2, _points(shape), generator=gen)


_TOKENS: Axes = {0: "batch_size", 1: "sequence_length"}
_VISUAL: Axes = {0: "batch_size", 1: "visual_seq_length"}
_POINTS: Axes = {0: "batch_size", 1: "point_batch_size", 2: "nb_points_per_image"}

# model type -> inputs beside its modality's own (token ids and masks, pixels), in Optimum's order.
EXTRAS: Mapping[str, tuple[ExtraInput, ...]] = {
    "layoutlm": (ExtraInput("bbox", _TOKENS, _bbox, per_token=True),),
    "layoutlmv3": (
        ExtraInput("bbox", _TOKENS, _bbox, per_token=True),
        ExtraInput("pixel_values", {0: "batch_size"}, _page_image),
    ),
    "lilt": (ExtraInput("bbox", _TOKENS, _bbox, per_token=True),),
    "bros": (ExtraInput("bbox", _TOKENS, _unit_bbox, per_token=True),),
    "markuplm": (
        ExtraInput("xpath_tags_seq", _TOKENS, _xpath("tag_pad_id"), per_token=True),
        ExtraInput("xpath_subs_seq", _TOKENS, _xpath("subs_pad_id"), per_token=True),
    ),
    "visual_bert": (
        ExtraInput("visual_embeds", {**_VISUAL, 2: "visual_embedding_dim"}, _visual_embeds),
        ExtraInput("visual_token_type_ids", _VISUAL, _visual_ones),
        ExtraInput("visual_attention_mask", _VISUAL, _visual_ones),
    ),
    "lxmert": (
        ExtraInput("visual_feats", _VISUAL, _visual_feats),
        ExtraInput("visual_pos", _VISUAL, _visual_pos),
        ExtraInput("visual_attention_mask", _VISUAL, _visual_ones),
    ),
    "longformer": (ExtraInput("global_attention_mask", _TOKENS, _global_attention, per_token=True),),
    "roc_bert": (
        ExtraInput("input_shape_ids", _TOKENS, _ids_below("shape_vocab_size"), per_token=True),
        ExtraInput(
            "input_pronunciation_ids", _TOKENS, _ids_below("pronunciation_vocab_size"), per_token=True
        ),
    ),
    "vit_mae": (ExtraInput("noise", {0: "batch_size"}, _masking_noise),),
    "imagegpt": (ExtraInput("position_ids", _TOKENS, _positions, per_token=True),),
    "sam": (
        ExtraInput("input_points", _POINTS, _prompt_points),
        ExtraInput("input_labels", _POINTS, _prompt_labels),
    ),
}


def extras_for(model_type: str | None) -> tuple[ExtraInput, ...]:
    """The extra inputs of ``model_type`` (none for most)."""
    return EXTRAS.get(model_type or "", ())
