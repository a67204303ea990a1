"""The registry of traceable replacements for model code an exporter cannot trace, applied once by
the pipeline while it captures (:func:`patched`).

Each replacement computes what the original computes wherever the original runs; the verify stage
checks the exported graph against the unpatched model at other shapes, so a replacement that drifted
from the original fails the export instead of passing silently. What the traced code actually ran of
them is recorded (``model_patches`` in ``export_metadata.json``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from ..common import BackendName
from . import cache_layer, cache_len, conv_lengths, eos_pooling, int_scale, masks, moe, packed, repeat, unfold
from .base import Patch, record

_ALL = frozenset({"single", "decoder", "seq2seq"})
_GENERATIVE = frozenset({"decoder", "seq2seq"})

PATCHES: tuple[Patch, ...] = (
    Patch(
        name="traceable-masks",
        replaces="transformers.masking_utils' sdpa and eager mask functions where they use torch.vmap",
        versions="4.53-4.57 (5.x: only with use_vmap=True)",
        # torch.export traces vmap itself for a single forward; the generative files need it too.
        scope={"torchscript": _ALL, "dynamo": _GENERATIVE},
        activate=lambda model, applied: masks.traceable_masks(applied),
    ),
    Patch(
        name="assigning-first-cache-update",
        replaces="transformers.cache_utils.DynamicLayer.update's first concatenation onto a placeholder",
        versions=">= 4.56",
        scope={"torchscript": _GENERATIVE, "dynamo": _GENERATIVE},
        activate=lambda model, applied: cache_layer.assigning_first_update(applied),
    ),
    Patch(
        name="symbolic-cache-len",
        replaces="transformers.cache_utils' len(tensor) emptiness checks in DynamicCache (an int: the batch baked)",
        versions="< 4.56",
        scope={"dynamo": _GENERATIVE},
        activate=cache_len.shape_len,
        applies=cache_len.applies,
    ),
    Patch(
        name="packed-sequences-by-slicing",
        replaces="transformers.masking_utils.find_packed_sequence_indices' torch.diff (a decoder without mask or cache)",
        versions=">= 4.53",
        scope={"torchscript": _ALL},
        activate=lambda model, applied: packed.packed_by_slicing(applied),
    ),
    Patch(
        name="repeat-interleave-by-expand",
        replaces="Tensor.repeat_interleave / torch.repeat_interleave by an integer count along a dimension",
        versions="any (a torch translation bug, pytorch#145100)",
        scope={"torchscript": _ALL},
        activate=lambda model, applied: repeat.repeat_by_expand(applied),
    ),
    Patch(
        name="unfold-by-slicing",
        replaces="Tensor.unfold along a negative dimension (TorchScript puts the windows axis after the ones that follow)",
        versions="any (a torch translation bug)",
        scope={"torchscript": _ALL},
        activate=lambda model, applied: unfold.unfold_by_slicing(applied),
    ),
    Patch(
        name="moonshine-conv-lengths",
        replaces="MoonshinePreTrainedModel._get_feat_extract_output_lengths' int() of the waveform length",
        versions=">= 4.48",
        scope={"torchscript": _ALL, "dynamo": _ALL},
        activate=conv_lengths.traceable_lengths,
        applies=conv_lengths.applies,
    ),
    Patch(
        name="imagegpt-truncated-scale",
        replaces="ImageGPTAttention's torch_float(head size ** 0.5): int() in PyTorch, the exact root when traced",
        versions="4.48-4.57",
        scope={"torchscript": _ALL},
        activate=int_scale.truncated_scale,
        applies=int_scale.applies,
    ),
    Patch(
        name="dense-experts",
        replaces="Mixtral / Qwen2-MoE / Qwen3-MoE / OLMoE / GPT-OSS / DeepSeek-V3 sparse blocks' data-dependent loop over the experts hit; "
        "transformers 5's experts modules (use_experts_implementation: eager loop or grouped_mm's histc)",
        versions="4.x; 5.x",
        scope={"torchscript": _ALL, "dynamo": _ALL},
        activate=moe.dense_experts,
        applies=moe.applies,
    ),
    Patch(
        name="eos-pooling-by-gather",
        replaces="*ForSequenceClassification.forward's data-dependent </s> pooling (BART family)",
        versions="4.x",
        scope={"dynamo": frozenset({"single"})},
        activate=eos_pooling.eos_pooling_by_gather,
        applies=eos_pooling.applies,
    ),
)

__all__ = ["PATCHES", "Patch", "patched", "record"]


@contextlib.contextmanager
def patched(model: torch.nn.Module, backend: BackendName, layout: str) -> Iterator[list[str]]:
    """Every registered patch in scope for ``backend`` and ``layout`` that applies to ``model``, active
    for the block; yields what the traced code ran of them (filled in as it runs)."""
    applied: list[str] = []
    with contextlib.ExitStack() as stack:
        for patch in PATCHES:
            if layout in patch.scope.get(backend, ()) and patch.applies(model):
                stack.enter_context(patch.activate(model, applied))
        yield applied
