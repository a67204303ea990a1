"""Speech models of the zoo (tiny configs, as data)."""

from __future__ import annotations

from .spec import ArchSpec

AUDIO_TASKS = ("feature-extraction", "audio-classification", "automatic-speech-recognition")

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
}

SPECS = (
    # --- audio ----------------------------------------------------------------------------------------
    ArchSpec(
        "wav2vec2",
        "wav2vec2",
        "audio",
        AUDIO_TASKS,
        {**_AUDIO, "feat_extract_norm": "group"},
        "audio",
        notes="Base layout: group-norm feature encoder, no attention mask from the feature extractor.",
    ),
    ArchSpec("hubert", "hubert", "audio", AUDIO_TASKS, {**_AUDIO, "feat_extract_norm": "group"}, "audio"),
    ArchSpec(
        "wavlm",
        "wavlm",
        "audio",
        AUDIO_TASKS,
        {**_AUDIO, "feat_extract_norm": "layer", "do_stable_layer_norm": True, "num_buckets": 32},
        "audio",
        notes="Large layout: layer-norm feature encoder, pre-LN transformer, attention masks; gated "
        "relative position bias.",
    ),
    ArchSpec(
        "data2vec-audio",
        "data2vec-audio",
        "audio",
        AUDIO_TASKS,
        {k: v for k, v in _AUDIO.items() if k != "num_conv_pos_embedding_groups"}
        | {"num_conv_pos_embeddings": 3},
        "audio",
        notes="Layer-norm feature encoder; a stack of small positional convolutions.",
    ),
)
