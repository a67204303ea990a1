"""Vision and image-text models of the zoo (tiny configs, as data)."""

from __future__ import annotations

from .spec import ArchSpec

IMAGE_TASKS = ("feature-extraction", "image-classification")
# Masked image modelling reconstructs the pixels: encoder_stride (the decoder's upsampling) must equal
# the backbone's total stride.
MASKED_IM_TASKS = (*IMAGE_TASKS, "masked-im")

_VIT = {
    "image_size": 32,
    "patch_size": 8,
    "num_channels": 3,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "encoder_stride": 8,
}
_CONVNEXT = {
    "image_size": 32,
    "num_channels": 3,
    "patch_size": 4,
    "num_stages": 2,
    "hidden_sizes": [16, 32],
    "depths": [1, 1],
}
_STAGES2 = {"num_encoder_blocks": 2, "depths": [1, 1], "hidden_sizes": [16, 32], "patch_sizes": [7, 3]}

SPECS = (
    # --- vision ---------------------------------------------------------------------------------------
    ArchSpec("vit", "vit", "vision", MASKED_IM_TASKS, _VIT, "image", image_size=32),
    ArchSpec(
        "deit",
        "deit",
        "vision",
        MASKED_IM_TASKS,
        _VIT,
        "image",
        image_size=32,
        notes="Distillation token; image-classification is DeiTForImageClassification (the auto default).",
    ),
    ArchSpec(
        "beit",
        "beit",
        "vision",
        IMAGE_TASKS,
        {k: v for k, v in _VIT.items() if k != "encoder_stride"}
        | {"use_relative_position_bias": True, "use_mean_pooling": True},
        "image",
        image_size=32,
        notes="Relative position bias per layer, mean pooling.",
    ),
    ArchSpec(
        "dinov2",
        "dinov2",
        "vision",
        IMAGE_TASKS,
        {k: v for k, v in _VIT.items() if k not in ("intermediate_size", "encoder_stride")}
        | {"mlp_ratio": 2},
        "image",
        image_size=32,
        notes="Interpolates position embeddings to the input size; layer scale.",
    ),
    ArchSpec(
        "swin",
        "swin",
        "vision",
        MASKED_IM_TASKS,
        {
            "image_size": 32,
            "patch_size": 2,
            "num_channels": 3,
            "embed_dim": 16,
            "depths": [1, 1],
            "num_heads": [2, 4],
            "window_size": 4,
            "mlp_ratio": 2.0,
            "encoder_stride": 4,
        },
        "image",
        image_size=32,
        notes="16x16 then 8x8 patches: both divisible by the 4x4 window; other image sizes are padded to it.",
    ),
    ArchSpec(
        "resnet",
        "resnet",
        "vision",
        IMAGE_TASKS,
        {"num_channels": 3, "embedding_size": 16, "hidden_sizes": [16, 32], "depths": [1, 1]},
        "image",
        image_size=32,
        notes="Bottleneck blocks; processor is ConvNextImageProcessor, as on the Hub.",
    ),
    ArchSpec(
        "regnet",
        "regnet",
        "vision",
        IMAGE_TASKS,
        {
            "num_channels": 3,
            "embedding_size": 16,
            "hidden_sizes": [16, 32],
            "depths": [1, 1],
            "groups_width": 8,
        },
        "image",
        image_size=32,
    ),
    ArchSpec("convnext", "convnext", "vision", IMAGE_TASKS, _CONVNEXT, "image", image_size=32),
    ArchSpec(
        "convnextv2",
        "convnextv2",
        "vision",
        IMAGE_TASKS,
        _CONVNEXT,
        "image",
        image_size=32,
        notes="GRN layers.",
    ),
    ArchSpec(
        "mobilenet_v2",
        "mobilenet_v2",
        "vision",
        IMAGE_TASKS,
        {
            "num_channels": 3,
            "image_size": 32,
            "depth_multiplier": 0.25,
            "min_depth": 8,
            "finegrained_output": False,
            "initializer_range": 0.3,
        },
        "image",
        image_size=32,
        notes="Depthwise-separable inverted residuals; ReLU6. Weights at 0.3: at 0.02 outputs were ~1e-26.",
    ),
    ArchSpec(
        "efficientnet",
        "efficientnet",
        "vision",
        IMAGE_TASKS,
        {
            "num_channels": 3,
            "image_size": 32,
            "width_coefficient": 1.0,
            "depth_coefficient": 1.0,
            "kernel_sizes": [3, 5],
            "in_channels": [32, 16],
            "out_channels": [16, 24],
            "depthwise_padding": [],
            "strides": [1, 2],
            "num_block_repeats": [1, 2],
            "expand_ratios": [1, 6],
            "hidden_dim": 1280,
            "initializer_range": 0.5,
        },
        "image",
        image_size=32,
        notes="Squeeze-and-excitation; swish. hidden_dim must equal the 1280-channel top conv. Weights at "
        "0.5: at 0.02 outputs were ~1e-20.",
        batchnorm_init=True,
    ),
    ArchSpec(
        "levit",
        "levit",
        "vision",
        IMAGE_TASKS,
        {
            "image_size": 64,
            "num_channels": 3,
            "patch_size": 16,
            "hidden_sizes": [16, 32, 48],
            "num_attention_heads": [1, 2, 3],
            "depths": [1, 1, 1],
            "key_dim": [8, 8, 8],
            "mlp_ratio": [2, 2, 2],
            "attention_ratio": [2, 2, 2],
            "initializer_range": 0.2,
        },
        "image",
        image_size=64,
        notes="Patch size is fixed at 16 by four stride-2 convs; 64 px leaves 4x4 then 2x2 then 1x1 grids; "
        "attention biases are sized for them (fixed image size). image-classification is "
        "LevitForImageClassification (the auto default). Weights at 0.2: at 0.02 outputs were ~1e-9.",
    ),
    ArchSpec(
        "mobilevit",
        "mobilevit",
        "vision",
        (*IMAGE_TASKS, "image-segmentation"),
        {
            "image_size": 64,
            "num_channels": 3,
            "patch_size": 2,
            "hidden_sizes": [16, 24, 32],
            "neck_hidden_sizes": [8, 8, 16, 16, 24, 24, 32],
            "num_attention_heads": 4,
            "aspp_out_channels": 16,
            "atrous_rates": [1, 2, 3],
            "classifier_dropout_prob": 0.0,
            "initializer_range": 0.4,
        },
        "image",
        image_size=64,
        notes="64 px keeps every transformer stage's grid divisible by the 2x2 patch. Optimum exports its "
        "segmentation head (DeepLabV3) as image-segmentation. Weights at 0.4: at 0.02 outputs were exactly 0 "
        "(dead ReLUs).",
        batchnorm_init=True,
    ),
    ArchSpec(
        "segformer",
        "segformer",
        "vision",
        (*IMAGE_TASKS, "semantic-segmentation", "image-segmentation"),
        {
            **_STAGES2,
            "num_channels": 3,
            "strides": [4, 2],
            "sr_ratios": [2, 1],
            "num_attention_heads": [1, 2],
            "mlp_ratios": [2, 2],
            "decoder_hidden_size": 32,
            "initializer_range": 0.1,
        },
        "image",
        image_size=32,
        notes="Two stages instead of four; the segmentation logits are at 1/4 of the input size. Weights "
        "at 0.1: at 0.02 the segmentation logits varied by ~8e-4.",
    ),
    ArchSpec(
        "poolformer",
        "poolformer",
        "vision",
        IMAGE_TASKS,
        {**_STAGES2, "num_channels": 3, "strides": [4, 2], "padding": [2, 1], "mlp_ratio": 2.0},
        "image",
        image_size=32,
    ),
    # --- multimodal -----------------------------------------------------------------------------------
    ArchSpec(
        "clip",
        "clip",
        "multimodal",
        ("zero-shot-image-classification", "feature-extraction", "image-classification"),
        {
            "projection_dim": 16,
            "text_config": {
                "hidden_size": 32,
                "intermediate_size": 37,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "max_position_embeddings": 512,
            },
            "vision_config": {
                "image_size": 32,
                "patch_size": 8,
                "hidden_size": 32,
                "intermediate_size": 37,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
            },
        },
        "clip",
        image_size=32,
        notes="feature-extraction and zero-shot-image-classification are both CLIPModel; "
        "image-classification is CLIPForImageClassification (vision tower + linear head).",
    ),
)
