"""Text encoders beyond the BERT core of ``arch_text``: each keeps the mechanism that sets it apart
(rotary or landmark attention, block-sparse or sliding windows, grouped convolutions, decoupled
embeddings, byte inputs), as tiny configs."""

from __future__ import annotations

from .arch_text import ENCODER, ROBERTA, TEXT_TASKS
from .spec import ALBERT_SPECIALS, ArchSpec

# Optimum's dummy token_type_ids draw from {0, 1}: configs it declares them for need two types.
_ROBERTA_TWO_TYPES = {**ROBERTA, "type_vocab_size": 2}
_XLM = {
    "emb_dim": 32,
    "n_layers": 2,
    "n_heads": 4,
    "max_position_embeddings": 512,
    "use_lang_emb": True,
    "sinusoidal_embeddings": False,
    "causal": False,
    "init_std": 0.2,
    "embed_init_std": 0.2,
}
_FOUR_TASKS = ("feature-extraction", "fill-mask", "text-classification", "token-classification")

SPECS = (
    ArchSpec(
        "megatron-bert",
        "megatron-bert",
        "text",
        TEXT_TASKS,
        ENCODER,
        "wordpiece",
        notes="Pre-LayerNorm BERT with a final encoder LayerNorm.",
    ),
    ArchSpec(
        "data2vec-text",
        "data2vec-text",
        "text",
        TEXT_TASKS,
        ROBERTA,
        "bpe",
        notes="RoBERTa layout (positions offset by the padding index); no token_type_ids in Optimum.",
    ),
    ArchSpec(
        "ibert",
        "ibert",
        "text",
        TEXT_TASKS,
        {**ROBERTA, "quant_mode": False},
        "bpe",
        notes="quant_mode=False as checkpoints ship it: the integer-only kernels act as their float ops.",
    ),
    ArchSpec(
        "roformer",
        "roformer",
        "text",
        TEXT_TASKS,
        {**ENCODER, "embedding_size": 16, "rotary_value": True},
        "wordpiece",
        notes="Rotary positions applied to queries, keys and values; factorised 16-wide embeddings. "
        "RoFormerTokenizerFast needs rjieba (a Jieba pre-tokenizer).",
    ),
    ArchSpec(
        "squeezebert",
        "squeezebert",
        "text",
        TEXT_TASKS,
        {
            **ENCODER,
            "embedding_size": 32,
            "intermediate_size": 64,
            "q_groups": 4,
            "k_groups": 4,
            "v_groups": 4,
            "post_attention_groups": 2,
            "intermediate_groups": 4,
            "output_groups": 4,
        },
        "wordpiece",
        notes="Grouped 1x1 convolutions for q/k/v, post-attention, intermediate and output (4/4/4/2/4/4 groups).",
    ),
    ArchSpec(
        "rembert",
        "rembert",
        "text",
        TEXT_TASKS,
        {**ENCODER, "input_embedding_size": 16, "output_embedding_size": 24, "type_vocab_size": 2},
        "unigram",
        notes="Decoupled embeddings: 16-wide inputs projected to 32, an untied 24-wide output embedding.",
    ),
    ArchSpec(
        "splinter",
        "splinter",
        "text",
        ("feature-extraction", "question-answering"),
        ENCODER,
        "splinter",
        notes="The QA head finds the [QUESTION] token (config.question_token_id) by argmax over the ids.",
    ),
    ArchSpec(
        "esm",
        "esm",
        "text",
        _FOUR_TASKS,
        {
            **ENCODER,
            "max_position_embeddings": 1026,
            "position_embedding_type": "rotary",
            "token_dropout": True,
            "emb_layer_norm_before": False,
        },
        "esm",
        notes="ESM-2 layout: rotary attention, token dropout (embeddings rescaled by the mask ratio, even "
        "in eval), no token types. EsmTokenizer: 33 amino-acid tokens.",
    ),
    ArchSpec(
        "xlm",
        "xlm",
        "text",
        TEXT_TASKS,
        {**_XLM, "n_langs": 2},
        "xlm",
        notes="Language embeddings (the langs input is not among Optimum's, so never fed); FFN of 4 x emb_dim. "
        "XLMTokenizer is slow only and needs sacremoses.",
    ),
    ArchSpec(
        "flaubert",
        "flaubert",
        "text",
        TEXT_TASKS,
        {**_XLM, "n_langs": 1, "pre_norm": True, "layerdrop": 0.0},
        "flaubert",
        notes="XLM with pre-LayerNorm; FlaubertTokenizer is slow only and needs sacremoses.",
    ),
    ArchSpec(
        "big_bird",
        "big_bird",
        "text",
        TEXT_TASKS,
        {**ENCODER, "attention_type": "block_sparse", "block_size": 8, "num_random_blocks": 1},
        "unigram",
        notes="Block-sparse attention (blocks of 8, 1 random block): sparse above (5 + 2) x 8 = 56 tokens, so "
        "128-token inputs use it and 16-token ones fall back to full attention (for good: the module "
        "switches itself).",
    ),
    ArchSpec(
        "nystromformer",
        "nystromformer",
        "text",
        TEXT_TASKS,
        {**ENCODER, "segment_means_seq_len": 64, "num_landmarks": 8, "conv_kernel_size": 5},
        "unigram",
        notes="Nystrom landmark attention (8 landmarks over 64-token segments): inputs must be exactly "
        "segment_means_seq_len = 64 tokens, so only the batch axis is dynamic.",
        special_tokens=ALBERT_SPECIALS,
    ),
    ArchSpec(
        "modernbert",
        "modernbert",
        "text",
        _FOUR_TASKS,
        {
            "hidden_size": 32,
            "intermediate_size": 32,
            "num_hidden_layers": 3,
            "num_attention_heads": 4,
            "max_position_embeddings": 512,
            "global_attn_every_n_layers": 2,
            "local_attention": 8,
            "classifier_pooling": "mean",
            "reference_compile": False,
        },
        "bpe",
        special_tokens={
            "pad_token": "[PAD]",
            "unk_token": "[UNK]",
            "cls_token": "[CLS]",
            "sep_token": "[SEP]",
            "mask_token": "[MASK]",
        },
        notes="Layers 0 and 2 global, layer 1 a local window of 8 tokens (shorter than the test inputs); "
        "GeGLU MLP, no biases, mean-pooling classifier.",
    ),
    ArchSpec(
        "longformer",
        "longformer",
        "text",
        TEXT_TASKS,
        {**_ROBERTA_TWO_TYPES, "attention_window": [8, 8]},
        "bpe",
        notes="Sliding windows of 8 (inputs padded to a multiple of 8) plus global attention on the first "
        "token (global_attention_mask). Whether any token is global is read with .item(), so a trace keeps "
        "one branch.",
    ),
    ArchSpec(
        "perceiver",
        "perceiver",
        "multimodal",
        ("fill-mask", "text-classification", "image-classification"),
        {
            "num_latents": 8,
            "d_latents": 32,
            "d_model": 32,
            "num_blocks": 1,
            "num_self_attends_per_block": 2,
            "num_self_attention_heads": 4,
            "num_cross_attention_heads": 1,
            "max_position_embeddings": 512,
            "image_size": 16,
            "self_attention_widening_factor": 1,
            "cross_attention_widening_factor": 1,
            "initializer_range": 0.2,
        },
        "perceiver",
        image_size=16,
        notes="Inputs cross-attend into 8 latents. Text: UTF-8 bytes (PerceiverTokenizer), logits always "
        "max_position_embeddings long. Images: learned 2-D positions for 16x16 pixels (fixed size).",
    ),
)
