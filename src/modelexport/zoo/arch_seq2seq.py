"""Encoder-decoders Optimum exports (tiny configs, as data): text-to-text families, speech-to-text and
image-to-text, each with its base model and cache (feature-extraction-with-past)."""

from __future__ import annotations

from .arch_text import GENERATION_TASKS, TEXT2TEXT_TASKS
from .spec import PEGASUS_SPECIALS, T5_SPECIALS, ArchSpec

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
# d_kv x heads == d_model: Optimum's merged decoder sizes its first step's empty past with hidden / heads.
_T5 = {
    "d_model": 32,
    "d_kv": 8,
    "d_ff": 37,
    "num_layers": 2,
    "num_decoder_layers": 2,
    "num_heads": 4,
    "relative_attention_num_buckets": 8,
    "relative_attention_max_distance": 20,
    "decoder_start_token_id": 0,
}
_BERT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "max_position_embeddings": 512,
}
FE_WITH_PAST = ("feature-extraction-with-past",)
_SPEECH_TO_TEXT = ("automatic-speech-recognition", "automatic-speech-recognition-with-past")
_IMAGE_TO_TEXT = ("image-to-text", "image-to-text-with-past")
_FE_TC_QA = ("feature-extraction", "text-classification", "question-answering")

SPECS = (
    ArchSpec(
        "mbart",
        "mbart",
        "text-generation",
        (*_FE_TC_QA, *GENERATION_TASKS, *TEXT2TEXT_TASKS, *FE_WITH_PAST),
        {**_BART, "scale_embedding": True, "decoder_start_token_id": 2},
        "unigram",
        notes="Pre-LN with final layer norms, learned positions offset by 2, scaled embeddings; decoding "
        "starts at </s>. MBartTokenizerFast appends </s> and the source language code.",
    ),
    ArchSpec(
        "pegasus",
        "pegasus",
        "text-generation",
        ("feature-extraction", *GENERATION_TASKS, *TEXT2TEXT_TASKS, *FE_WITH_PAST),
        {**_BART, "scale_embedding": True, "decoder_start_token_id": 0},
        "unigram",
        notes="Sinusoidal positions, pre-LN, scaled embeddings; decoding starts at <pad>. Its forward does "
        "not derive decoder tokens from input_ids, so feature-extraction takes them.",
        special_tokens=PEGASUS_SPECIALS,
    ),
    ArchSpec(
        "blenderbot",
        "blenderbot",
        "text-generation",
        ("feature-extraction", *GENERATION_TASKS, *TEXT2TEXT_TASKS, *FE_WITH_PAST),
        {**_BART, "decoder_start_token_id": 1},
        "blenderbot",
        notes="Pre-LN BART variant without the position offset; BlenderbotTokenizerFast ends every text "
        "with </s> (no <s>).",
    ),
    ArchSpec(
        "blenderbot-small",
        "blenderbot-small",
        "text-generation",
        ("feature-extraction", *GENERATION_TASKS, *TEXT2TEXT_TASKS, *FE_WITH_PAST),
        {**_BART, "decoder_start_token_id": 1},
        "blenderbot-small",
        notes="Post-LN with an embedding layer norm; BlenderbotSmallTokenizer is a lower-cased '@@' BPE.",
    ),
    ArchSpec(
        "bigbird_pegasus",
        "bigbird_pegasus",
        "text-generation",
        (*_FE_TC_QA, *GENERATION_TASKS, *TEXT2TEXT_TASKS, *FE_WITH_PAST),
        {
            **_BART,
            "attention_type": "block_sparse",
            "block_size": 4,
            "num_random_blocks": 1,
            "scale_embedding": True,
            "decoder_start_token_id": 0,
        },
        "unigram",
        notes="Block-sparse encoder attention (blocks of 4, 1 random block): sparse above 28 tokens, so "
        "128-token inputs use it; shorter ones switch the encoder to full attention for good.",
        special_tokens=PEGASUS_SPECIALS,
    ),
    ArchSpec(
        "m2m_100",
        "m2m_100",
        "text-generation",
        ("feature-extraction", *TEXT2TEXT_TASKS, *FE_WITH_PAST),
        {
            **_BART,
            "scale_embedding": True,
            "decoder_start_token_id": 2,
            "encoder_layerdrop": 0.0,
            "decoder_layerdrop": 0.0,
        },
        "sentencepiece",
        notes="Sinusoidal positions from the ids, pre-LN; M2M100Tokenizer (SentencePiece) gives its 100 "
        "language tokens ids beyond len(tokenizer), which the vocabulary covers.",
    ),
    ArchSpec(
        "mt5",
        "mt5",
        "text-generation",
        ("feature-extraction", *TEXT2TEXT_TASKS, *FE_WITH_PAST),
        {**_T5, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False},
        "unigram",
        notes="T5 v1.1 layout: gated-GELU feed-forward, untied LM head, relative position buckets.",
    ),
    ArchSpec(
        "longt5",
        "longt5",
        "text-generation",
        ("feature-extraction", *TEXT2TEXT_TASKS, *FE_WITH_PAST),
        {**_T5, "encoder_attention_type": "transient-global", "local_radius": 4, "global_block_size": 4},
        "unigram",
        notes="Transient-global encoder attention: local radius 4 plus global tokens summarising blocks of 4 "
        "(both smaller than the test inputs).",
        special_tokens=T5_SPECIALS,
    ),
    ArchSpec(
        "encoder-decoder",
        "encoder-decoder",
        "text-generation",
        TEXT2TEXT_TASKS,
        {
            "encoder": {"model_type": "bert", **_BERT},
            "decoder": {"model_type": "bert", **_BERT, "is_decoder": True, "add_cross_attention": True},
            # BERT's ids in the zoo's WordPiece vocabulary: [PAD] 0, [CLS] 2, [SEP] 3.
            "decoder_start_token_id": 2,
            "pad_token_id": 0,
            "eos_token_id": 3,
        },
        "wordpiece",
        tokenizer_type="bert",  # BERT's special tokens ([PAD] for left-padded prompts)
        token_ids_into=("encoder", "decoder"),
        notes="BERT2BERT EncoderDecoderModel: a BERT decoder with cross-attention. Optimum refuses its "
        "with-past export (BERT's Optimum config has no past key values).",
    ),
    # --- speech to text -------------------------------------------------------------------------------
    ArchSpec(
        "whisper",
        "whisper",
        "audio",
        ("feature-extraction", "audio-classification", *_SPEECH_TO_TEXT, *FE_WITH_PAST),
        {
            **_BART,
            "num_mel_bins": 80,
            "max_source_positions": 1500,
            "max_target_positions": 448,
            "classifier_proj_size": 16,
            "begin_suppress_tokens": None,
            "suppress_tokens": None,
        },
        "whisper",
        notes="Log-mel features of exactly 2 x max_source_positions = 3000 frames (the encoder refuses "
        "others): only the batch axis is dynamic. WhisperTokenizerFast with Whisper's special tokens; the "
        "generation config carries its prompt tokens and languages.",
    ),
    ArchSpec(
        "speech_to_text",
        "speech_to_text",
        "audio",
        ("feature-extraction", *_SPEECH_TO_TEXT, *FE_WITH_PAST),
        {
            **_BART,
            "num_conv_layers": 2,
            "conv_kernel_sizes": [5, 5],
            "conv_channels": 32,
            "input_feat_per_channel": 80,
            "input_channels": 1,
            "max_source_positions": 6000,
            "max_target_positions": 512,
            "scale_embedding": True,
            "encoder_layerdrop": 0.0,
            "decoder_layerdrop": 0.0,
        },
        "speech_to_text",
        notes="Two strided GLU convolutions (frames / 4) over 80-bin filter banks, sinusoidal positions. "
        "Speech2TextTokenizer is SentencePiece-only.",
    ),
    ArchSpec(
        "moonshine",
        "moonshine",
        "audio",
        ("feature-extraction", *_SPEECH_TO_TEXT, *FE_WITH_PAST),
        {
            "hidden_size": 32,
            "intermediate_size": 37,
            "encoder_num_hidden_layers": 2,
            "decoder_num_hidden_layers": 2,
            "encoder_num_attention_heads": 4,
            "decoder_num_attention_heads": 4,
            "encoder_num_key_value_heads": 4,
            "decoder_num_key_value_heads": 4,
            "partial_rotary_factor": 0.5,
            "max_position_embeddings": 512,
        },
        "bpe+audio",
        special_tokens={"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
        processor_kwargs={"do_normalize": False, "return_attention_mask": True},
        notes="Raw 16 kHz waveforms through three strided convolutions (kernel 127 / 64, 7 / 3, 3 / 2), "
        "partial rotary (half), SiLU-gated decoder MLP.",
    ),
    # --- image to text --------------------------------------------------------------------------------
    ArchSpec(
        "vision-encoder-decoder",
        "vision-encoder-decoder",
        "multimodal",
        _IMAGE_TO_TEXT,
        {
            "encoder": {
                "model_type": "vit",
                "image_size": 32,
                "patch_size": 8,
                "num_channels": 3,
                "hidden_size": 48,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "intermediate_size": 37,
            },
            "decoder": {
                "model_type": "trocr",
                "d_model": 32,
                "decoder_layers": 2,
                "decoder_attention_heads": 4,
                "decoder_ffn_dim": 37,
                "max_position_embeddings": 512,
                "is_decoder": True,
                "add_cross_attention": True,
                "scale_embedding": True,
                "layernorm_embedding": True,
                "use_learned_position_embeddings": True,
            },
            # RoBERTa's ids in the zoo's BPE vocabulary: <pad> 0, </s> 2 (TrOCR starts decoding at </s>).
            "decoder_start_token_id": 2,
            "pad_token_id": 0,
            "eos_token_id": 2,
        },
        "bpe+image",
        image_size=32,
        tokenizer_type="roberta",
        processor_class="ViTImageProcessor",
        token_ids_into=("decoder",),
        notes="TrOCR layout: ViT encoder (48 wide) + TrOCR decoder (32 wide), so the model adds an "
        "encoder-to-decoder projection. The ViT takes its configured image size only.",
    ),
    ArchSpec(
        "pix2struct",
        "pix2struct",
        "multimodal",
        _IMAGE_TO_TEXT,
        {
            "text_config": {
                "hidden_size": 32,
                "d_kv": 8,
                "d_ff": 37,
                "num_layers": 2,
                "num_heads": 4,
                "relative_attention_num_buckets": 8,
                "relative_attention_max_distance": 20,
            },
            "vision_config": {
                "hidden_size": 32,
                "patch_embed_hidden_size": 48,
                "d_ff": 37,
                "d_kv": 8,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "seq_len": 64,
                "relative_attention_num_buckets": 8,
                "relative_attention_max_distance": 20,
                "initializer_range": 0.02,
            },
        },
        "unigram+image",
        processor_kwargs={"patch_size": {"height": 4, "width": 4}, "max_patches": 64, "is_vqa": False},
        notes="Variable-resolution patches flattened with their row/column ids (64 patches of 4x4, fixed by "
        "the processor); T5-style text decoder. The vision tower's default init (1e-10) is raised to 0.02.",
    ),
)
