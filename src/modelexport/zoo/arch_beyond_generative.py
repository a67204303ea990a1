"""Generative model types transformers has and Optimum's exporter does not register (``optimum=False``):
mixture-of-experts and recent decoders, and encoder-decoders (tiny configs, as data). Grouped-query
attention stays off: for types it does not know, ORTModelForCausalLM sizes the empty first-step past
with ``num_attention_heads``."""

from __future__ import annotations

from .arch_text import GENERATION_TASKS, TEXT2TEXT_TASKS
from .spec import GPT2_SPECIALS, LLAMA_SPECIALS, PEGASUS_SPECIALS, T5_SPECIALS, ArchSpec

_DECODER = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 512,
}
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
_FE = ("feature-extraction",)
_FE_TC = ("feature-extraction", "text-classification")
_SLIDING = {"sliding_window": 8, "layer_types": ["sliding_attention", "full_attention"]}


def _generative(
    name: str, tasks: tuple[str, ...], config: dict[str, object], notes: str, **kw: object
) -> ArchSpec:
    return ArchSpec(
        name,
        str(kw.pop("model_type", name)),
        "text-generation",
        tasks,
        config,
        str(kw.pop("preprocessor", "bpe")),
        notes=notes,
        optimum=False,
        **kw,  # type: ignore[arg-type]
    )


SPECS = (
    _generative(
        "mixtral",
        (*_FE_TC, *GENERATION_TASKS),
        {**_DECODER, "num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": 8},
        "Top-2 routing over 4 experts in every layer, sliding window of 8 on every layer.",
        special_tokens=LLAMA_SPECIALS,
    ),
    _generative(
        "qwen2_moe",
        (*_FE_TC, *GENERATION_TASKS),
        {
            **_DECODER,
            "moe_intermediate_size": 16,
            "shared_expert_intermediate_size": 32,
            "num_experts": 4,
            "num_experts_per_tok": 2,
        },
        "Top-2 routing over 4 experts plus a gated shared expert.",
    ),
    _generative(
        "olmoe",
        (*_FE, *GENERATION_TASKS),
        {**_DECODER, "num_experts": 8, "num_experts_per_tok": 2, "clip_qkv": 8.0},
        "Top-2 routing over 8 experts (a dense loop over every expert: no data-dependent skip), q/k/v "
        "clipping, query/key norms.",
    ),
    _generative(
        "granitemoe",
        (*_FE, *GENERATION_TASKS),
        {
            **_DECODER,
            "num_local_experts": 4,
            "num_experts_per_tok": 2,
            "embedding_multiplier": 12.0,
            "logits_scaling": 8.0,
            "residual_multiplier": 0.22,
            "attention_multiplier": 0.0078125,
        },
        "Top-2 routing over 4 experts with per-expert token splits (sizes from .tolist()), muP multipliers.",
        tokenizer_type="gpt2",
    ),
    _generative(
        "starcoder2",
        (*_FE_TC, *GENERATION_TASKS),
        {**_DECODER, "sliding_window": 8, "use_bias": True},
        "Sliding window of 8 on every layer, biases, GELU MLP.",
    ),
    _generative(
        "persimmon",
        (*_FE_TC, *GENERATION_TASKS),
        {k: v for k, v in _DECODER.items() if k != "num_key_value_heads"}
        | {"partial_rotary_factor": 0.5, "qk_layernorm": True},
        "Partial rotary (half), query/key layer norms, squared-ReLU MLP.",
        special_tokens=LLAMA_SPECIALS,
    ),
    _generative(
        "biogpt",
        ("feature-extraction", "text-classification", "token-classification", *GENERATION_TASKS),
        {k: v for k, v in _DECODER.items() if k != "num_key_value_heads"},
        "GPT with learned positions offset by 2 and scaled embeddings. Its own tokenizer needs sacremoses and "
        "Moses rules: the zoo ships GPT-2's.",
        tokenizer_type="gpt2",
    ),
    _generative(
        "xglm",
        (*_FE, *GENERATION_TASKS),
        {"d_model": 32, "num_layers": 2, "attention_heads": 4, "ffn_dim": 64, "max_position_embeddings": 512},
        "Sinusoidal absolute positions (offset 2) computed from position ids; padding-sensitive without them.",
        preprocessor="unigram",
    ),
    _generative(
        "exaone4",
        (
            "feature-extraction",
            "text-classification",
            "token-classification",
            "question-answering",
            *GENERATION_TASKS,
        ),
        {**_DECODER, **_SLIDING},
        "Alternating sliding (8) and full attention, query/key norms, post-norm blocks.",
        special_tokens=GPT2_SPECIALS,
    ),
    _generative(
        "glm4",
        ("feature-extraction", "text-classification", "token-classification", *GENERATION_TASKS),
        {**_DECODER, "head_dim": 8, "partial_rotary_factor": 0.5},
        "Interleaved half rotary, post-attention and post-MLP norms.",
        special_tokens={"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"},
    ),
    _generative(
        "mvp",
        (
            "feature-extraction",
            "text-classification",
            "question-answering",
            *GENERATION_TASKS,
            *TEXT2TEXT_TASKS,
        ),
        {**_BART, "use_prompt": True, "prompt_length": 4, "prompt_mid_dim": 16, "decoder_start_token_id": 2},
        "BART with layer-wise prompts: per-layer key/value prompt tokens from an MLP, prepended in every "
        "self- and cross-attention.",
    ),
    _generative(
        "umt5",
        ("feature-extraction", "text-classification", "question-answering", *TEXT2TEXT_TASKS),
        {
            "d_model": 32,
            "d_kv": 8,
            "d_ff": 37,
            "num_layers": 2,
            "num_decoder_layers": 2,
            "num_heads": 4,
            "relative_attention_num_buckets": 8,
            "relative_attention_max_distance": 20,
            "feed_forward_proj": "gated-gelu",
            "tie_word_embeddings": False,
            "decoder_start_token_id": 0,
        },
        "mT5 with a relative position bias in every layer (not only the first).",
        preprocessor="unigram",
        special_tokens=T5_SPECIALS,
    ),
    _generative(
        "pegasus_x",
        ("feature-extraction", *TEXT2TEXT_TASKS),
        {
            **_BART,
            "num_global_tokens": 4,
            "block_size": 6,
            "stagger_local_blocks": True,
            "decoder_start_token_id": 0,
        },
        "Staggered block-local encoder attention (blocks of 6, inputs padded to them) plus 4 global tokens.",
        preprocessor="unigram",
        special_tokens=PEGASUS_SPECIALS,
    ),
)
