"""Dual (text + image) encoders beyond CLIP: contrastive and open-vocabulary detection models, each
with its own tokenizer family (tiny configs, as data)."""

from __future__ import annotations

from .spec import ArchSpec

_TEXT = {
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 64,
}
_VISION = {
    "image_size": 32,
    "patch_size": 8,
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
}
_ZERO_SHOT = ("feature-extraction", "zero-shot-image-classification")
_OPEN_VOCABULARY = ("feature-extraction", "zero-shot-object-detection")

SPECS = (
    ArchSpec(
        "groupvit",
        "groupvit",
        "multimodal",
        ("feature-extraction",),
        {
            "projection_dim": 16,
            "projection_intermediate_dim": 32,
            "text_config": _TEXT,
            "vision_config": {
                **{k: v for k, v in _VISION.items() if k != "num_hidden_layers"},
                "depths": [1, 1],
                "num_hidden_layers": 2,
                "num_group_tokens": [4, 0],
                "num_output_groups": [4, 2],
            },
        },
        "clip",
        image_size=32,
        notes="Grouping blocks: learnable group tokens gather patches by Gumbel-softmax assignment (hard in "
        "eval), 4 then 2 groups.",
    ),
    ArchSpec(
        "owlvit",
        "owlvit",
        "multimodal",
        _OPEN_VOCABULARY,
        {"projection_dim": 32, "text_config": _TEXT, "vision_config": _VISION},
        "clip",
        image_size=32,
        notes="CLIP towers + per-patch box and class heads; text queries per image = text batch / image batch. "
        "projection_dim must equal the text width for the class head; fixed image size (box bias grid).",
    ),
    ArchSpec(
        "owlv2",
        "owlv2",
        "multimodal",
        _OPEN_VOCABULARY,
        {"projection_dim": 32, "text_config": _TEXT, "vision_config": _VISION},
        "clip",
        image_size=32,
        notes="OWL-ViT v2: adds an objectness head; Owlv2Processor pads images to squares.",
    ),
    ArchSpec(
        "siglip",
        "siglip",
        "multimodal",
        _ZERO_SHOT,
        {"text_config": _TEXT, "vision_config": _VISION},
        "sentencepiece+image",
        image_size=32,
        notes="Sigmoid-loss CLIP: no [CLS] (attention-pooling head), text pooled at the last token. "
        "SiglipTokenizer is SentencePiece-only (spiece.model).",
    ),
    ArchSpec(
        "chinese_clip",
        "chinese_clip",
        "multimodal",
        _ZERO_SHOT,
        {
            "projection_dim": 16,
            "text_config": {**_TEXT, "max_position_embeddings": 512, "type_vocab_size": 2},
            "vision_config": _VISION,
        },
        "wordpiece+image",
        image_size=32,
        # The class's default size names the shortest edge, which its own resize cannot read.
        processor_kwargs={"size": {"height": 32, "width": 32}},
        notes="A BERT text tower (WordPiece, token types) beside a CLIP vision tower.",
    ),
    ArchSpec(
        "metaclip_2",
        "metaclip_2",
        "multimodal",
        (*_ZERO_SHOT, "image-classification"),
        {"projection_dim": 16, "text_config": _TEXT, "vision_config": _VISION},
        "unigram+image",
        image_size=32,
        notes="CLIP architecture with a multilingual XLM-R (SentencePiece) vocabulary; image-classification is "
        "the vision tower with a linear head.",
    ),
)
