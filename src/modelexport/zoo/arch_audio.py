"""Speech, text-to-speech and time-series models of the zoo (tiny configs, as data)."""

from __future__ import annotations

from .spec import ArchSpec

AUDIO_TASKS = ("feature-extraction", "audio-classification", "automatic-speech-recognition")
# The wav2vec2 heads that label every frame, and the speaker-embedding (x-vector) head.
FRAME_TASKS = ("audio-frame-classification", "audio-xvector")

# Weights at 0.2: at 0.02 the x-vector logits were ~3e-9 and classification logits ~5e-4.
_AUDIO = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "conv_dim": [32, 32, 32],
    "conv_stride": [4, 4, 4],
    "conv_kernel": [8, 8, 8],
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
    "classifier_proj_size": 16,
    "initializer_range": 0.2,
}
# The x-vector head's TDNN stack (checkpoints: 512-1500 channels).
_XVECTOR = {
    "tdnn_dim": [16, 16, 16, 16, 32],
    "tdnn_kernel": [5, 3, 3, 1, 1],
    "tdnn_dilation": [1, 2, 3, 1, 1],
    "xvector_output_dim": 16,
}
# Pre-training quantiser sizes (not built by the heads, kept tiny anyway).
_CODEVECTORS = {
    "num_codevectors_per_group": 8,
    "num_codevector_groups": 2,
    "codevector_dim": 16,
    "proj_codevector_dim": 16,
}
_LAYER_NORM = {"feat_extract_norm": "layer", "do_stable_layer_norm": True}
_TIME_SERIES = ("feature-extraction", "time-series-forecasting")

SPECS = (
    # --- speech encoders (raw waveforms) ---------------------------------------------------------------
    ArchSpec(
        "wav2vec2",
        "wav2vec2",
        "audio",
        (*AUDIO_TASKS, *FRAME_TASKS),
        {**_AUDIO, **_XVECTOR, "feat_extract_norm": "group"},
        "audio",
        notes="Base layout: group-norm feature encoder, no attention mask from the feature extractor.",
    ),
    ArchSpec("hubert", "hubert", "audio", AUDIO_TASKS, {**_AUDIO, "feat_extract_norm": "group"}, "audio"),
    ArchSpec(
        "wavlm",
        "wavlm",
        "audio",
        (*AUDIO_TASKS, *FRAME_TASKS),
        {**_AUDIO, **_XVECTOR, **_LAYER_NORM, "num_buckets": 32},
        "audio",
        notes="Large layout: layer-norm feature encoder, pre-LN transformer, attention masks; gated "
        "relative position bias.",
    ),
    ArchSpec(
        "data2vec-audio",
        "data2vec-audio",
        "audio",
        (*AUDIO_TASKS, *FRAME_TASKS),
        {k: v for k, v in _AUDIO.items() if k != "num_conv_pos_embedding_groups"}
        | _XVECTOR
        | {"num_conv_pos_embeddings": 3},
        "audio",
        notes="Layer-norm feature encoder; a stack of small positional convolutions.",
    ),
    ArchSpec(
        "sew",
        "sew",
        "audio",
        AUDIO_TASKS,
        {**_AUDIO, "squeeze_factor": 2, "feat_extract_norm": "group"},
        "audio",
        notes="Squeezed wav2vec2: the transformer runs at half the frame rate (pooling, then upsampling).",
    ),
    ArchSpec(
        "sew-d",
        "sew-d",
        "audio",
        AUDIO_TASKS,
        {
            **_AUDIO,
            "squeeze_factor": 2,
            "feat_extract_norm": "group",
            "max_position_embeddings": 64,
            "position_buckets": 8,
            "share_att_key": True,
            "relative_attention": True,
            "pos_att_type": ["p2c", "c2p"],
            "norm_rel_ebd": "layer_norm",
        },
        "audio",
        notes="SEW with DeBERTa's disentangled relative attention (log buckets).",
    ),
    ArchSpec(
        "unispeech",
        "unispeech",
        "audio",
        AUDIO_TASKS,
        {**_AUDIO, **_LAYER_NORM, **_CODEVECTORS},
        "audio",
        notes="wav2vec2 large layout (layer-norm feature encoder, pre-LN) trained with phonetic CTC.",
    ),
    ArchSpec(
        "unispeech-sat",
        "unispeech-sat",
        "audio",
        (*AUDIO_TASKS, *FRAME_TASKS),
        {**_AUDIO, **_XVECTOR, **_CODEVECTORS, "feat_extract_norm": "group", "num_clusters": 8},
        "audio",
        notes="Speaker-aware UniSpeech: frame classification (diarization) and x-vector heads.",
    ),
    ArchSpec(
        "wav2vec2-conformer",
        "wav2vec2-conformer",
        "audio",
        (*AUDIO_TASKS, *FRAME_TASKS),
        {
            **_AUDIO,
            **_XVECTOR,
            **_CODEVECTORS,
            **_LAYER_NORM,
            "position_embeddings_type": "relative",
            "max_source_positions": 512,
            "conv_depthwise_kernel_size": 7,
        },
        "audio",
        notes="Conformer blocks (depthwise convolution module between feed-forward halves) with relative "
        "position embeddings.",
    ),
    # --- speech encoders (spectrograms) -----------------------------------------------------------------
    ArchSpec(
        "audio-spectrogram-transformer",
        "audio-spectrogram-transformer",
        "audio",
        ("feature-extraction", "audio-classification"),
        {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 37,
            "patch_size": 16,
            "frequency_stride": 8,
            "time_stride": 8,
            "max_length": 48,
            "num_mel_bins": 32,
            "initializer_range": 0.2,
        },
        "audio",
        processor_kwargs={"num_mel_bins": 32, "max_length": 48},
        notes="ViT over a fixed (max_length 48 x 32 mel bins) spectrogram in overlapping 16x16 patches: only "
        "the batch axis is dynamic.",
    ),
    ArchSpec(
        "mctct",
        "mctct",
        "audio",
        ("feature-extraction", "automatic-speech-recognition"),
        {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "attention_head_dim": 8,
            "intermediate_size": 37,
            "max_position_embeddings": 512,
            "input_feat_per_channel": 16,
            "conv_glu_dim": 1,
            "num_conv_layers": 1,
            "conv_kernel": [7],
            "conv_stride": [3],
            "layerdrop": 0.3,
            "initializer_range": 0.2,
        },
        "audio",
        processor_kwargs={"feature_size": 16, "return_attention_mask": True},
        notes="M-CTC-T (deprecated in transformers): a GLU convolution over 16-bin filter banks, then a "
        "transformer; layerdrop acts in training only.",
    ),
    # --- text to speech -----------------------------------------------------------------------------------
    ArchSpec(
        "vits",
        "vits",
        "audio",
        ("text-to-audio",),
        {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "window_size": 4,
            "ffn_dim": 37,
            "ffn_kernel_size": 3,
            "flow_size": 16,
            "spectrogram_bins": 33,
            "upsample_initial_channel": 32,
            "upsample_rates": [4, 4],
            "upsample_kernel_sizes": [8, 8],
            "resblock_kernel_sizes": [3, 5],
            "resblock_dilation_sizes": [[1, 3], [1, 3]],
            "use_stochastic_duration_prediction": True,
            "duration_predictor_filter_channels": 32,
            "duration_predictor_num_flows": 2,
            "duration_predictor_flow_bins": 4,
            "depth_separable_num_layers": 2,
            "prior_encoder_num_flows": 2,
            "prior_encoder_num_wavenet_layers": 2,
            "posterior_encoder_num_wavenet_layers": 2,
            "wavenet_kernel_size": 3,
            "noise_scale": 0.0,
            "noise_scale_duration": 0.0,
        },
        "vits",
        notes="Text encoder with windowed relative attention, stochastic duration predictor (spline flows), "
        "normalising-flow prior, HiFi-GAN decoder. Noise scales 0 make it deterministic; the waveform's "
        "length follows the predicted durations (data-dependent).",
    ),
    # --- time series --------------------------------------------------------------------------------------
    ArchSpec(
        "patchtst",
        "patchtst",
        "time-series",
        _TIME_SERIES,
        {
            "num_input_channels": 3,
            "context_length": 32,
            "patch_length": 8,
            "patch_stride": 4,
            "prediction_length": 8,
            "d_model": 32,
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "ffn_dim": 37,
            "channel_attention": True,
            "scaling": "std",
            "share_embedding": True,
            "positional_encoding_type": "sincos",
            "use_cls_token": True,
            "pre_norm": True,
            "norm_type": "batchnorm",
            "loss": "mse",
        },
        "none",
        notes="Channel-independent patches (8 wide, stride 4) with channel attention, a [CLS] patch and "
        "std scaling; the context length (32) is fixed. No preprocessor.",
    ),
    ArchSpec(
        "patchtsmixer",
        "patchtsmixer",
        "time-series",
        _TIME_SERIES,
        {
            "num_input_channels": 3,
            "context_length": 32,
            "patch_length": 8,
            "patch_stride": 4,
            "prediction_length": 8,
            "d_model": 16,
            "num_layers": 2,
            "expansion_factor": 2,
            "mode": "mix_channel",
            "gated_attn": True,
            "self_attn": True,
            "self_attn_heads": 2,
            "scaling": "std",
            "norm_mlp": "LayerNorm",
            "loss": "mse",
        },
        "none",
        notes="MLP-Mixer over patches and channels (mix_channel) with gated attention and a self-attention "
        "block; fixed context length. No preprocessor.",
    ),
)
