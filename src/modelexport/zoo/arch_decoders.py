"""Decoder-only language models Optimum exports (tiny configs, as data), each with the mechanics that
set it apart switched on: grouped/multi-query attention, sliding windows shorter than the test
inputs, partial or interleaved rotary, ALiBi, parallel blocks, soft-capping, mixture-of-experts.

Grouped-query attention stays off where ORTModelForCausalLM sizes the first step's empty past with
``num_attention_heads`` (it reads ``num_key_value_heads`` only for some model types).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .arch_text import GENERATION_TASKS
from .spec import GPT2_SPECIALS, LLAMA_SPECIALS, ArchSpec

_DECODER = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}
_NO_GQA = {**_DECODER, "num_key_value_heads": 4}
_GPT2_LIKE = {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_inner": 64, "n_positions": 512}
_ENDOFTEXT = {"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
_SLIDING = {"sliding_window": 8, "layer_types": ["sliding_attention", "full_attention"]}
FE_WITH_PAST = ("feature-extraction-with-past",)


def _decoder(
    name: str, tasks: tuple[str, ...], config: Mapping[str, Any], notes: str, **kwargs: Any
) -> ArchSpec:
    """A decoder's spec: its tasks, then the generation tasks and the base model with its cache
    (feature-extraction-with-past)."""
    return ArchSpec(
        name,
        str(kwargs.pop("model_type", name)),
        "text-generation",
        (*tasks, *GENERATION_TASKS, *FE_WITH_PAST),
        config,
        str(kwargs.pop("preprocessor", "bpe")),
        notes=notes,
        **kwargs,
    )


_FE = ("feature-extraction",)
_FE_TC = ("feature-extraction", "text-classification")
_FE_TC_TOK = ("feature-extraction", "text-classification", "token-classification")

SPECS = (
    _decoder(
        "arcee",
        _FE,
        {
            **_DECODER,
            "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 128},
        },
        "Llama layout with a ReLU-squared MLP and YaRN rotary scaling; grouped-query attention.",
        special_tokens=LLAMA_SPECIALS,
    ),
    _decoder(
        "codegen",
        _FE,
        {**_GPT2_LIKE, "n_ctx": 512, "rotary_dim": 4},
        "Fused qkv split in mp_num=4 groups, partial rotary (4 of 8 head dims), parallel attention and MLP.",
    ),
    _decoder(
        "cohere",
        _FE,
        {**_DECODER, "use_qk_norm": True, "logit_scale": 0.25},
        "Interleaved rotary (repeat_interleave), per-head query/key norms, parallel block, scaled logits.",
    ),
    _decoder(
        "deepseek_v3",
        _FE,
        {
            **_NO_GQA,
            "num_hidden_layers": 3,
            "moe_intermediate_size": 16,
            "n_shared_experts": 1,
            "n_routed_experts": 8,
            "num_experts_per_tok": 2,
            "n_group": 4,
            "topk_group": 2,
            "first_k_dense_replace": 1,
            "routed_scaling_factor": 2.5,
            "kv_lora_rank": 16,
            "q_lora_rank": 24,
            "qk_rope_head_dim": 4,
            "qk_nope_head_dim": 8,
            "v_head_dim": 8,
            "rope_scaling": {
                "rope_type": "yarn",
                "factor": 4.0,
                "original_max_position_embeddings": 128,
                "beta_fast": 32,
                "beta_slow": 1,
                "mscale": 1.0,
                "mscale_all_dim": 1.0,
            },
        },
        "Multi-head latent attention (low-rank q and kv, 12-wide keys, 8-wide values), group-limited top-2 "
        "routing over 8 experts plus a shared expert after one dense layer, YaRN.",
        special_tokens=LLAMA_SPECIALS,
    ),
    _decoder(
        "falcon",
        ("feature-extraction", "question-answering", "token-classification"),
        {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "ffn_hidden_size": 64,
            "multi_query": True,
            "parallel_attn": True,
            "new_decoder_architecture": False,
            "alibi": False,
            "bias": False,
            "max_position_embeddings": 512,
        },
        "Falcon-7B layout: multi-query attention, parallel attention and MLP, rotary.",
        special_tokens={"eos_token": "<|endoftext|>"},
    ),
    _decoder(
        "gemma",
        _FE_TC,
        {**_DECODER, "num_key_value_heads": 1, "head_dim": 16},
        "Multi-query attention with head_dim 16 != hidden / heads, GeGLU, embeddings scaled by sqrt(hidden).",
    ),
    _decoder(
        "gemma2",
        _FE_TC,
        {
            **_NO_GQA,
            **_SLIDING,
            "head_dim": 8,
            "attn_logit_softcapping": 0.05,
            "final_logit_softcapping": 0.5,
            "query_pre_attn_scalar": 16,
        },
        "Alternating sliding (8 tokens) and full attention, attention and final logit soft-capping at caps "
        "small enough to act on tiny logits, pre- and post-norms.",
    ),
    _decoder(
        "gemma3_text",
        _FE,
        {
            **_DECODER,
            **_SLIDING,
            "head_dim": 16,
            "query_pre_attn_scalar": 16,
            "rope_theta": 1000000.0,
            "rope_local_base_freq": 10000.0,
            "rope_scaling": {"rope_type": "linear", "factor": 8.0},
        },
        "Sliding (8, local rotary base 1e4) and global (linearly scaled rotary) layers, query/key norms.",
    ),
    _decoder(
        "gemma3",
        _FE_TC,
        {
            "text_config": {
                **_DECODER,
                **_SLIDING,
                "head_dim": 16,
                "query_pre_attn_scalar": 16,
                "rope_theta": 1000000.0,
                "rope_local_base_freq": 10000.0,
                "rope_scaling": {"rope_type": "linear", "factor": 8.0},
            },
            "vision_config": {
                "hidden_size": 32,
                "intermediate_size": 37,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "image_size": 32,
                "patch_size": 8,
            },
            "mm_tokens_per_image": 4,
        },
        "The multimodal Gemma 3 checkpoint layout (SigLIP tower unused by text inputs) over Gemma 3's "
        "text decoder; text-generation is Gemma3ForConditionalGeneration.",
    ),
    _decoder(
        "glm",
        _FE,
        {**_DECODER, "head_dim": 8, "partial_rotary_factor": 0.5, "attention_bias": True},
        "Interleaved half rotary, q/k/v biases, grouped-query attention.",
        special_tokens=_ENDOFTEXT,
    ),
    _decoder(
        "gpt_bigcode",
        _FE_TC_TOK,
        {**_GPT2_LIKE, "multi_query": True},
        "GPT-2 with multi-query attention (one key/value head); learned absolute positions.",
        special_tokens=GPT2_SPECIALS,
    ),
    _decoder(
        "gpt_neo",
        _FE_TC,
        {
            "hidden_size": 32,
            "num_layers": 2,
            "num_heads": 4,
            "intermediate_size": 64,
            "max_position_embeddings": 512,
            "attention_types": [[["global", "local"], 1]],
            "window_size": 8,
        },
        "Alternating global and local (window 8) attention layers, learned absolute positions.",
    ),
    _decoder(
        "gpt_oss",
        _FE,
        {
            **_DECODER,
            **_SLIDING,
            "intermediate_size": 32,
            "head_dim": 8,
            "num_local_experts": 4,
            "num_experts_per_tok": 2,
            "rope_scaling": {
                "rope_type": "yarn",
                "factor": 8.0,
                "beta_fast": 32.0,
                "beta_slow": 1.0,
                "truncate": False,
                "original_max_position_embeddings": 64,
            },
        },
        "Top-2 routing over 4 experts (clamped SwiGLU), attention sinks, alternating sliding (8) and full "
        "attention, YaRN.",
        special_tokens={
            "bos_token": "<|startoftext|>",
            "eos_token": "<|return|>",
            "pad_token": "<|endoftext|>",
        },
    ),
    _decoder(
        "gptj",
        ("feature-extraction", "question-answering", "text-classification"),
        {**_GPT2_LIKE, "rotary_dim": 4},
        "Partial interleaved rotary (4 of 8 head dims), parallel attention and MLP.",
    ),
    _decoder(
        "granite",
        _FE,
        {
            **_DECODER,
            "embedding_multiplier": 12.0,
            "logits_scaling": 8.0,
            "residual_multiplier": 0.22,
            "attention_multiplier": 0.0078125,
        },
        "Llama layout with muP multipliers (embeddings, residuals, attention, logits). Checkpoints ship "
        "GPT-2's tokenizer.",
        tokenizer_type="gpt2",
    ),
    _decoder(
        "helium",
        _FE,
        {**_DECODER, "head_dim": 8},
        "Llama-like with interleaved rotary (repeat_interleave) and grouped-query attention.",
        special_tokens={"pad_token": "<pad>", **LLAMA_SPECIALS},
    ),
    _decoder(
        "mpt",
        _FE_TC_TOK,
        {
            "d_model": 32,
            "n_heads": 4,
            "n_layers": 2,
            "expansion_ratio": 2,
            "max_seq_len": 512,
            "attn_config": {"alibi": True, "alibi_bias_max": 8, "qk_ln": False, "clip_qkv": None},
        },
        "ALiBi position biases (no position ids), no biases in linear layers.",
    ),
    _decoder(
        "nemotron",
        _FE,
        {**_DECODER, "head_dim": 8, "partial_rotary_factor": 0.5},
        "Partial rotary (half), LayerNorm1P, squared-ReLU MLP.",
        special_tokens=LLAMA_SPECIALS,
    ),
    _decoder(
        "olmo",
        _FE,
        {**_NO_GQA, "clip_qkv": 8.0},
        "Non-parametric layer norms, q/k/v clipped at 8.",
    ),
    _decoder(
        "olmo2",
        _FE,
        _NO_GQA,
        "Post-norm blocks with query/key RMS norms.",
        special_tokens=GPT2_SPECIALS,
    ),
    _decoder(
        "phi3",
        _FE_TC,
        {**_NO_GQA, "partial_rotary_factor": 0.75, "sliding_window": 8},
        "Fused qkv and gate/up projections, partial rotary (0.75), sliding window of 8 on every layer.",
        special_tokens=LLAMA_SPECIALS,
    ),
    _decoder(
        "qwen3",
        _FE_TC,
        {**_DECODER, "head_dim": 8},
        "Grouped-query attention with query/key RMS norms; head_dim = hidden / heads (checkpoints: 128).",
    ),
    _decoder(
        "qwen3_moe",
        _FE_TC_TOK,
        {
            **_DECODER,
            "moe_intermediate_size": 16,
            "num_experts": 8,
            "num_experts_per_tok": 2,
            "norm_topk_prob": True,
            "decoder_sparse_step": 1,
        },
        "Top-2 routing over 8 experts in every layer, normalised top-k probabilities, query/key norms.",
    ),
    _decoder(
        "smollm3",
        _FE_TC,
        {**_DECODER, "no_rope_layer_interval": 2},
        "Rotary on every other layer only (NoPE layers), grouped-query attention.",
        special_tokens={
            "bos_token": "<|begin_of_text|>",
            "eos_token": "<|im_end|>",
            "pad_token": "<|finetune_right_pad_id|>",
        },
    ),
    _decoder(
        "stablelm",
        _FE,
        {
            **_DECODER,
            "partial_rotary_factor": 0.25,
            "use_qkv_bias": True,
            "qk_layernorm": False,
            "use_parallel_residual": True,
        },
        "Partial rotary (0.25), q/k/v biases, parallel residual. (qk_layernorm cannot be built from a "
        "config in transformers 4.57.)",
        special_tokens=GPT2_SPECIALS,
    ),
)
