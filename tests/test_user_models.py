"""Checkpoints the zoo does not contain, built here the way a user would build their own model:
a transformers config class, a tokenizer from the ``tokenizers`` library, save_pretrained()."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from helpers import max_abs_diffs, optimum_outputs, pytorch_outputs, sample_inputs
from modelexport import export_with_config

WORDS = [
    "the",
    "a",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "short",
    "one",
    "sentence",
    "model",
    "export",
]


def wordpiece_tokenizer() -> transformers.PreTrainedTokenizerFast:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {t: i for i, t in enumerate(specials + WORDS + [chr(c) for c in range(97, 123)])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return transformers.BertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=256,
    )


def build_ernie_classifier(path: Path) -> Path:
    torch.manual_seed(1234)
    tokenizer = wordpiece_tokenizer()
    config = transformers.ErnieConfig(
        vocab_size=len(tokenizer),
        hidden_size=48,
        num_hidden_layers=3,
        num_attention_heads=6,
        intermediate_size=96,
        max_position_embeddings=256,
        num_labels=4,
        task_type_vocab_size=3,
        use_task_id=False,
    )
    transformers.ErnieForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_swinv2_classifier(path: Path) -> Path:
    torch.manual_seed(1234)
    config = transformers.Swinv2Config(
        image_size=32,
        patch_size=4,
        embed_dim=16,
        depths=[1, 1],
        num_heads=[2, 2],
        window_size=4,
        num_labels=5,
    )
    transformers.Swinv2ForImageClassification(config).save_pretrained(path)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    return path


def build_clip_dual_encoder(path: Path) -> Path:
    """A user's own CLIP-style dual encoder (their sizes and weights), reusing a CLIP processor."""
    from modelexport.zoo import cached_build

    torch.manual_seed(1234)
    processor = transformers.CLIPProcessor.from_pretrained(
        cached_build("clip", "zero-shot-image-classification")
    )
    processor.tokenizer.model_max_length = 77  # the text tower's positions, as in OpenAI's CLIP
    config = transformers.CLIPConfig(
        text_config={
            "vocab_size": len(processor.tokenizer),
            "hidden_size": 24,
            "intermediate_size": 40,
            "num_hidden_layers": 3,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 24,
            "intermediate_size": 40,
            "num_hidden_layers": 2,
            "num_attention_heads": 3,
        },
        projection_dim=16,
    )
    transformers.CLIPModel(config).save_pretrained(path)
    processor.save_pretrained(path)
    return path


BUILDERS = {
    "clip-zero-shot-image-classification": (build_clip_dual_encoder, "zero-shot-image-classification"),
    "ernie-text-classification": (build_ernie_classifier, "text-classification"),
    "swinv2-image-classification": (build_swinv2_classifier, "image-classification"),
}


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("case", sorted(BUILDERS))
def test_a_model_the_user_built_exports_loads_in_optimum_and_matches_pytorch(tmp_path, case, exporter):
    build, task = BUILDERS[case]
    src = build(tmp_path / "my-model")
    out = export_with_config(str(src), tmp_path / "onnx", exporter=exporter)
    inputs = sample_inputs(src, task, text_batch=3 if task == "zero-shot-image-classification" else 1)
    reference = pytorch_outputs(src, task, inputs)
    diffs = max_abs_diffs(reference, optimum_outputs(out, task, inputs))
    assert max(diffs.values()) <= 1e-4, diffs
    assert all(np.isfinite(v).all() for v in reference.values())
