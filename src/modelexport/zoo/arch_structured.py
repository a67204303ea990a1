"""Models whose inputs carry more than text: document layout (word boxes, page images), web markup
(xpaths), detector features (VisualBERT) and trajectories (Decision Transformer)."""

from __future__ import annotations

from .arch_text import ENCODER, ROBERTA
from .spec import ArchSpec

_LAYOUT_TASKS = ("feature-extraction", "question-answering", "text-classification", "token-classification")

SPECS = (
    ArchSpec(
        "layoutlm",
        "layoutlm",
        "multimodal",
        ("feature-extraction", "fill-mask", "text-classification", "token-classification"),
        {**ENCODER, "max_2d_position_embeddings": 1024},
        "wordpiece",
        notes="Word boxes (bbox: batch x seq x 4, x0 <= x1, y0 <= y1 in 0..1023) add x/y/height/width "
        "position embeddings to the text's.",
    ),
    ArchSpec(
        "lilt",
        "lilt",
        "multimodal",
        _LAYOUT_TASKS,
        {**ROBERTA, "hidden_size": 48, "channel_shrink_ratio": 4, "max_2d_position_embeddings": 1024},
        "bpe",
        notes="Two streams, text and layout (hidden / 4 wide), exchanging attention scores. hidden_size is a "
        "multiple of 6 (six box embeddings) and hidden / 4 of the heads. LayoutLMv3's tokenizer, as checkpoints.",
    ),
    ArchSpec(
        "layoutlmv3",
        "layoutlmv3",
        "multimodal",
        _LAYOUT_TASKS,
        {
            **ROBERTA,
            "coordinate_size": 4,
            "shape_size": 8,
            "input_size": 32,
            "patch_size": 8,
            "has_relative_attention_bias": True,
            "rel_pos_bins": 32,
            "max_rel_pos": 128,
            "has_spatial_attention_bias": True,
            "rel_2d_pos_bins": 64,
            "max_rel_2d_pos": 256,
            "max_2d_position_embeddings": 1024,
        },
        "bpe+image",
        image_size=32,
        processor_kwargs={"apply_ocr": False},
        notes="Text, word boxes and 16 image patches (+ CLS) after the text; 1-D and 2-D relative attention "
        "biases. The page image must be input_size (32) square. LayoutLMv3Processor without OCR.",
    ),
    ArchSpec(
        "markuplm",
        "markuplm",
        "text",
        _LAYOUT_TASKS,
        {
            **ROBERTA,
            "type_vocab_size": 2,
            "max_depth": 6,
            "xpath_unit_hidden_size": 8,
            "tag_pad_id": 15,
            "subs_pad_id": 31,
            "max_xpath_tag_unit_embeddings": 16,
            "max_xpath_subs_unit_embeddings": 32,
        },
        "markuplm",
        notes="Each token's xpath (tags and subscripts, max_depth 6) is embedded beside it; tag_pad_id is "
        "the tokenizer's tag count + 1. Two token types: Optimum's dummy inputs use both.",
    ),
    ArchSpec(
        "visual_bert",
        "visual_bert",
        "multimodal",
        ("feature-extraction",),
        {**ENCODER, "visual_embedding_dim": 16, "type_vocab_size": 2},
        "wordpiece",
        notes="Detector features (visual_embeds, 16-wide) projected and appended after the text tokens.",
    ),
    ArchSpec(
        "decision_transformer",
        "decision_transformer",
        "reinforcement-learning",
        ("feature-extraction", "reinforcement-learning"),
        {
            "state_dim": 5,
            "act_dim": 3,
            "hidden_size": 32,
            "max_ep_len": 200,
            "n_layer": 2,
            "n_head": 4,
            "n_inner": 37,
            "n_positions": 512,
            "action_tanh": True,
        },
        "none",
        notes="A GPT-2 trunk over interleaved (return, state, action) tokens, 3 per step: last_hidden_state "
        "is 3 x sequence_length long. Both tasks load DecisionTransformerModel; no preprocessor.",
    ),
)
