"""Exports shared by the diff tests, each made once per session (verified, as any export is); a test
that injects a fault works on its own copy."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from modelexport import run_export

Exported = Callable[[str, str, str], Path]


@pytest.fixture(scope="session")
def exported(tmp_path_factory, zoo_dir) -> Exported:
    """``exported(model, task, backend)`` -> a zoo model's export directory (shared: do not edit)."""
    made: dict[tuple[str, str, str], Path] = {}

    def get(model: str, task: str, backend: str) -> Path:
        key = (model, task, backend)
        if key not in made:
            out = tmp_path_factory.mktemp(f"{model}-{task}-{backend}") / "export"
            run_export(str(zoo_dir(model, task)), out, task=task, exporter=backend)
            made[key] = out
        return made[key]

    return get


@pytest.fixture
def copy_of(tmp_path) -> Callable[[Path], Path]:
    """``copy_of(directory)`` -> a copy this test may change."""

    def copy(directory: Path) -> Path:
        target = tmp_path / directory.name
        shutil.copytree(directory, target)
        return target

    return copy


@pytest.fixture(scope="session")
def optimum_exported(tmp_path_factory, zoo_dir) -> Callable[[str, str], tuple[Path, Path]]:
    """``optimum_exported(model, task)`` -> (Optimum's ``main_export`` of a zoo model, as the matrix
    makes it: no validation, no post-processing; the zoo checkpoint). Shared: do not edit."""
    made: dict[tuple[str, str], tuple[Path, Path]] = {}

    def get(model: str, task: str) -> tuple[Path, Path]:
        if (model, task) not in made:
            from optimum.exporters.onnx import main_export

            source = zoo_dir(model, task)
            out = tmp_path_factory.mktemp(f"optimum-{model}-{task}")
            main_export(
                str(source),
                out,
                task=task,
                do_validation=False,
                no_post_process=True,
                library_name="transformers",
            )
            made[(model, task)] = (out, source)
        return made[(model, task)]

    return get
