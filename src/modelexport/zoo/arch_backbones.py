"""Vision backbones beyond ``arch_vision``'s: convolutional-token, hierarchical, spatial-reduction and
post-norm ViTs, self-supervised ViTs, vision towers of dual encoders, and pixel-token GPTs."""

from __future__ import annotations

from .arch_vision import IMAGE_TASKS
from .spec import ArchSpec

_VIT = {
    "image_size": 32,
    "patch_size": 8,
    "num_channels": 3,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
}
_TOWER = {k: v for k, v in _VIT.items() if k != "num_channels"}
# 16 colours in [-1, 1]: ImageGPT's processor maps each pixel to its nearest cluster, an id below 16.
_IMAGEGPT_CLUSTERS = [[r, g, b] for r in (-1.0, 1.0) for g in (-1.0, -0.33, 0.33, 1.0) for b in (-1.0, 1.0)]

SPECS = (
    ArchSpec(
        "cvt",
        "cvt",
        "vision",
        IMAGE_TASKS,
        {
            "num_channels": 3,
            "patch_sizes": [7, 3],
            "patch_stride": [4, 2],
            "patch_padding": [2, 1],
            "embed_dim": [16, 32],
            "num_heads": [1, 2],
            "depth": [1, 2],
            "mlp_ratio": [2.0, 2.0],
            "attention_drop_rate": [0.0, 0.0],
            "drop_rate": [0.0, 0.0],
            "drop_path_rate": [0.0, 0.0],
            "qkv_bias": [True, True],
            "cls_token": [False, True],
            "qkv_projection_method": ["dw_bn", "dw_bn"],
            "kernel_qkv": [3, 3],
            "padding_kv": [1, 1],
            "stride_kv": [2, 2],
            "padding_q": [1, 1],
            "stride_q": [1, 1],
        },
        "image",
        image_size=32,
        notes="Convolutional token embeddings and depthwise-conv q/k/v projections; a [CLS] token in the "
        "last stage only; no position embeddings, so any image size.",
    ),
    ArchSpec(
        "data2vec-vision",
        "data2vec-vision",
        "vision",
        IMAGE_TASKS,
        {**_VIT, "use_relative_position_bias": True, "use_mean_pooling": True},
        "image",
        image_size=32,
        notes="BEiT layout: relative position bias per layer (interpolated to the input), mean pooling.",
    ),
    ArchSpec(
        "mobilenet_v1",
        "mobilenet_v1",
        "vision",
        IMAGE_TASKS,
        {
            "num_channels": 3,
            "image_size": 32,
            "depth_multiplier": 0.25,
            "min_depth": 8,
            "initializer_range": 0.3,
        },
        "image",
        image_size=32,
        notes="Depthwise-separable convolutions with TF 'SAME' padding, ReLU6. Weights at 0.3: at 0.02 the "
        "14 blocks shrink outputs to ~1e-33.",
    ),
    ArchSpec(
        "pvt",
        "pvt",
        "vision",
        IMAGE_TASKS,
        {
            "image_size": 32,
            "num_channels": 3,
            "num_encoder_blocks": 2,
            "depths": [1, 2],
            "sequence_reduction_ratios": [2, 1],
            "hidden_sizes": [16, 32],
            "patch_sizes": [4, 2],
            "strides": [4, 2],
            "num_attention_heads": [1, 2],
            "mlp_ratios": [2, 2],
        },
        "image",
        image_size=32,
        num_labels=0,
        notes="Spatial-reduction attention, position embeddings not interpolated (fixed size). PvtConfig "
        "resets num_labels to 1000 on load, so the classifier keeps 1000 labels.",
    ),
    ArchSpec(
        "vit_msn", "vit_msn", "vision", IMAGE_TASKS, _VIT, "image", image_size=32, notes="Plain ViT (MSN)."
    ),
    ArchSpec(
        "hiera",
        "hiera",
        "vision",
        IMAGE_TASKS,
        {
            "embed_dim": 8,
            "image_size": [32, 32],
            "patch_size": [3, 3],
            "patch_stride": [2, 2],
            "patch_padding": [1, 1],
            "mlp_ratio": 2.0,
            "depths": [1, 1, 2],
            "num_heads": [1, 2, 4],
            "embed_dim_multiplier": 2.0,
            "num_query_pool": 2,
            "query_stride": [2, 2],
            "masked_unit_size": [4, 4],
            "masked_unit_attention": [True, False, False],
        },
        "image",
        image_size=32,
        notes="Hierarchical ViT: mask-unit attention in stage 1, query pooling between stages, tokens "
        "unrolled and rerolled (fixed image size).",
    ),
    ArchSpec(
        "swinv2",
        "swinv2",
        "vision",
        (*IMAGE_TASKS, "masked-im"),
        {
            "image_size": 32,
            "patch_size": 2,
            "num_channels": 3,
            "embed_dim": 16,
            "depths": [1, 2],
            "num_heads": [2, 4],
            "window_size": 4,
            "mlp_ratio": 2.0,
            "encoder_stride": 4,
            "pretrained_window_sizes": [0, 0],
        },
        "image",
        image_size=32,
        notes="Cosine attention with a log-spaced continuous position bias, residual post-norm; pads to the "
        "window, so other image sizes run.",
    ),
    ArchSpec(
        "vit_mae",
        "vit_mae",
        "vision",
        ("feature-extraction",),
        {**_VIT, "mask_ratio": 0.75},
        "image",
        image_size=32,
        notes="Masks 75% of the patches, chosen by random noise drawn inside forward unless given: the "
        "export takes the noise as an input (noise: batch x patches) so it is deterministic.",
    ),
    ArchSpec(
        "clip_vision_model",
        "clip_vision_model",
        "vision",
        ("feature-extraction",),
        _TOWER,
        "image",
        image_size=32,
        processor_class="CLIPImageProcessor",
        notes="CLIP's vision tower alone (image encoders of IP-Adapter and the like): last_hidden_state and "
        "pooler_output.",
    ),
    ArchSpec(
        "siglip_vision_model",
        "siglip_vision_model",
        "vision",
        ("feature-extraction",),
        _TOWER,
        "image",
        image_size=32,
        processor_class="SiglipImageProcessor",
        notes="SigLIP's vision tower alone: no [CLS], attention-pooling head for pooler_output.",
    ),
    ArchSpec(
        "imagegpt",
        "imagegpt",
        "vision",
        IMAGE_TASKS,
        {"vocab_size": 17, "n_positions": 64, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_inner": 37},
        "image",
        image_size=8,
        processor_kwargs={"clusters": _IMAGEGPT_CLUSTERS},
        notes="A GPT-2 over colour-cluster ids of an 8x8 image (64 positions): inputs are token ids; the "
        "image processor maps pixels to 16 clusters (vocabulary 17 with start-of-sequence).",
    ),
    ArchSpec(
        "donut-swin",
        "donut-swin",
        "vision",
        ("feature-extraction",),
        {
            "image_size": 64,
            "patch_size": 4,
            "num_channels": 3,
            "embed_dim": 16,
            "depths": [1, 1],
            "num_heads": [2, 4],
            "window_size": 4,
            "mlp_ratio": 2.0,
        },
        "image",
        image_size=64,
        notes="Donut's Swin encoder: no absolute positions, pads to window multiples (any image size).",
    ),
)
