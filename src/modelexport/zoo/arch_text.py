"""Text encoders and text-generation models of the zoo (tiny configs, as data)."""

from __future__ import annotations

from .spec import LLAMA_SPECIALS, ArchSpec

TEXT_TASKS = (
    "feature-extraction",
    "fill-mask",
    "text-classification",
    "token-classification",
    "question-answering",
    "multiple-choice",
)

# ~32 hidden, 2 layers, 4 heads; 512 positions so the exporter can verify at sequence length 128.
# Weights 10x larger than checkpoints' 0.02: at 0.02 a tiny encoder's [CLS] barely depends on its input
# (multiple-choice logits varied by ~3e-5, below the 1e-4 parity tolerance, so any graph passed).
ENCODER = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "max_position_embeddings": 512,
    "initializer_range": 0.2,
}
# RoBERTa-family positions start after the padding index, hence two extra rows.
ROBERTA = {**ENCODER, "max_position_embeddings": 514, "type_vocab_size": 1}
_DECODER = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}
# Decoder-only and encoder-decoder generation, without and with the KV cache (as Optimum names them).
GENERATION_TASKS = ("text-generation", "text-generation-with-past")
TEXT2TEXT_TASKS = ("text2text-generation", "text2text-generation-with-past")
# Optimum's feature-extraction of a decoder with its KV cache: no layout in modelexport yet.
FE_WITH_PAST = ("feature-extraction-with-past",)
# Llama-family sentencepiece-era special tokens (LlamaTokenizerFast's defaults in transformers 4.x).
# BART-family encoder-decoders: 2 + 2 layers, 4 heads each side.
_BART = {
    "d_model": 32,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 37,
    "decoder_ffn_dim": 37,
    "max_position_embeddings": 512,
}


SPECS = (
    # --- text encoders --------------------------------------------------------------------------------
    ArchSpec("bert", "bert", "text", TEXT_TASKS, ENCODER, "wordpiece"),
    ArchSpec(
        "distilbert",
        "distilbert",
        "text",
        TEXT_TASKS,
        {
            "dim": 32,
            "n_layers": 2,
            "n_heads": 4,
            "hidden_dim": 37,
            "max_position_embeddings": 512,
            "initializer_range": 0.2,
        },
        "wordpiece",
        notes="No token_type_ids.",
    ),
    ArchSpec(
        "roberta", "roberta", "text", TEXT_TASKS, ROBERTA, "bpe", notes="Byte-level BPE, no token_type_ids."
    ),
    ArchSpec(
        "albert",
        "albert",
        "text",
        TEXT_TASKS,
        {**ENCODER, "embedding_size": 16, "num_hidden_groups": 1},
        "unigram",
        notes="Factorised embeddings, layers share weights.",
    ),
    ArchSpec("electra", "electra", "text", TEXT_TASKS, {**ENCODER, "embedding_size": 16}, "wordpiece"),
    ArchSpec(
        "deberta-v2",
        "deberta-v2",
        "text",
        TEXT_TASKS,
        {
            **ENCODER,
            "type_vocab_size": 0,
            "relative_attention": True,
            "pos_att_type": ["p2c", "c2p"],
            "position_buckets": 64,
            "max_relative_positions": -1,
            "norm_rel_ebd": "layer_norm",
            "share_att_key": True,
            "position_biased_input": False,
        },
        "unigram",
        notes="DeBERTa-v3 layout: disentangled relative attention with log buckets, no token types.",
    ),
    ArchSpec("xlm-roberta", "xlm-roberta", "text", TEXT_TASKS, ROBERTA, "unigram"),
    ArchSpec(
        "mpnet",
        "mpnet",
        "text",
        TEXT_TASKS,
        {**ENCODER, "max_position_embeddings": 514, "relative_attention_num_buckets": 32},
        "wordpiece",
        notes="WordPiece vocabulary with <s>/</s> special tokens; relative position bias.",
    ),
    ArchSpec("camembert", "camembert", "text", TEXT_TASKS, ROBERTA, "unigram"),
    ArchSpec(
        "convbert",
        "convbert",
        "text",
        TEXT_TASKS,
        {**ENCODER, "embedding_size": 32, "head_ratio": 2, "conv_kernel_size": 9, "num_groups": 1},
        "wordpiece",
        notes="Span-based dynamic convolution heads next to self-attention.",
    ),
    ArchSpec(
        "mobilebert",
        "mobilebert",
        "text",
        TEXT_TASKS,
        {
            **ENCODER,
            "embedding_size": 16,
            "intra_bottleneck_size": 16,
            "num_feedforward_networks": 2,
        },
        "wordpiece",
        notes="Bottleneck layers, trigram input embedding, NoNorm.",
    ),
    ArchSpec(
        "deberta",
        "deberta",
        "text",
        TEXT_TASKS[:5],
        {
            **ENCODER,
            "type_vocab_size": 0,
            "relative_attention": True,
            "pos_att_type": ["c2p", "p2c"],
            "max_relative_positions": -1,
            "position_biased_input": False,
        },
        "bpe",
        notes="Optimum has no multiple-choice export for DeBERTa (v1).",
    ),
    # --- text generation ------------------------------------------------------------------------------
    ArchSpec(
        "gpt2",
        "gpt2",
        "text-generation",
        (
            "feature-extraction",
            "text-classification",
            "token-classification",
            *GENERATION_TASKS,
            *FE_WITH_PAST,
        ),
        {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_inner": 64, "n_positions": 512},
        "bpe",
        notes="No pad token of its own: the tokenizer pads with <|endoftext|> (config.pad_token_id too).",
    ),
    ArchSpec(
        "llama",
        "llama",
        "text-generation",
        ("feature-extraction", "text-classification", *GENERATION_TASKS, *FE_WITH_PAST),
        {**_DECODER, "tie_word_embeddings": False},
        "bpe",
        special_tokens=LLAMA_SPECIALS,
        notes="Grouped-query attention (4 query, 2 key/value heads), RoPE, RMSNorm, SwiGLU.",
    ),
    ArchSpec(
        "qwen2",
        "qwen2",
        "text-generation",
        (
            "feature-extraction",
            "text-classification",
            "token-classification",
            *GENERATION_TASKS,
            *FE_WITH_PAST,
        ),
        {**_DECODER, "tie_word_embeddings": True},
        "bpe",
        notes="Grouped-query attention with q/k/v biases; tied embeddings.",
    ),
    ArchSpec(
        "t5",
        "t5",
        "text-generation",
        ("feature-extraction", *TEXT2TEXT_TASKS, *FE_WITH_PAST),
        {
            "decoder_start_token_id": 0,  # the pad token, as in T5 checkpoints
            "d_model": 32,
            "d_kv": 8,
            "d_ff": 37,
            "num_layers": 2,
            "num_decoder_layers": 2,
            "num_heads": 4,
            "relative_attention_num_buckets": 8,
        },
        "unigram",
        notes="Encoder-decoder: feature-extraction is T5Model (needs decoder inputs).",
    ),
    ArchSpec(
        "mistral",
        "mistral",
        "text-generation",
        ("feature-extraction", "text-classification", *GENERATION_TASKS, *FE_WITH_PAST),
        _DECODER,
        "bpe",
        special_tokens=LLAMA_SPECIALS,
        notes="Llama layout with a sliding attention window (4096, longer than any test sequence).",
    ),
    ArchSpec(
        "phi",
        "phi",
        "text-generation",
        ("feature-extraction", "text-classification", *GENERATION_TASKS, *FE_WITH_PAST),
        {k: v for k, v in _DECODER.items() if k != "num_key_value_heads"} | {"partial_rotary_factor": 0.5},
        "bpe",
        notes="Partial rotary embeddings, parallel attention and MLP. No grouped-query attention: "
        "Optimum sizes phi's empty first-step past with num_attention_heads.",
    ),
    ArchSpec(
        "gpt_neox",
        "gpt_neox",
        "text-generation",
        ("feature-extraction", "text-classification", *GENERATION_TASKS, *FE_WITH_PAST),
        {k: v for k, v in _DECODER.items() if k != "num_key_value_heads"} | {"rotary_pct": 0.25},
        "bpe",
        notes="Fused query/key/value projection, partial rotary embeddings, parallel residual.",
    ),
    ArchSpec(
        "opt",
        "opt",
        "text-generation",
        ("feature-extraction", "text-classification", "question-answering", *GENERATION_TASKS, *FE_WITH_PAST),
        {
            "hidden_size": 32,
            "ffn_dim": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 512,
            "word_embed_proj_dim": 32,
        },
        "bpe",
        notes="Learned positions offset by 2, computed from the attention mask.",
    ),
    ArchSpec(
        "bloom",
        "bloom",
        "text-generation",
        (
            "feature-extraction",
            "text-classification",
            "token-classification",
            *GENERATION_TASKS,
            *FE_WITH_PAST,
        ),
        {"hidden_size": 32, "n_layer": 2, "n_head": 4},
        "bpe",
        special_tokens={"pad_token": "<pad>", **LLAMA_SPECIALS},  # BloomTokenizerFast's in 4.x
        notes="ALiBi position biases from the attention mask (no position ids), fused query/key/value.",
    ),
    ArchSpec(
        "bart",
        "bart",
        "text-generation",
        (
            "feature-extraction",
            "text-classification",
            "question-answering",
            *GENERATION_TASKS,
            *TEXT2TEXT_TASKS,
            *FE_WITH_PAST,
        ),
        _BART,
        "bpe",
        notes="Encoder-decoder with learned positions; text-generation is BartForCausalLM (its decoder).",
    ),
    ArchSpec(
        "marian",
        "marian",
        "text-generation",
        ("feature-extraction", *GENERATION_TASKS, *TEXT2TEXT_TASKS, *FE_WITH_PAST),
        {**_BART, "decoder_start_token_id": 0, "share_encoder_decoder_embeddings": True},
        "sentencepiece",
        notes="Translation encoder-decoder with sinusoidal positions; decoding starts at the pad token (id 0) "
        "as in Marian checkpoints. Slow SentencePiece tokenizer (MarianTokenizer): source.spm, vocab.json.",
    ),
)
