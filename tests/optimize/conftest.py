"""Exports of the zoo's BERT classifier, and their optimized and quantized versions, made once."""

from __future__ import annotations

from pathlib import Path

import pytest

TASK = "text-classification"


@pytest.fixture(scope="session")
def bert_source(zoo_dir) -> Path:
    return zoo_dir("bert", TASK)


@pytest.fixture(scope="session")
def bert_export(tmp_path_factory, bert_source) -> Path:
    from modelexport import export_with_config

    return export_with_config(
        str(bert_source), tmp_path_factory.mktemp("opt") / "export", task=TASK, exporter="torchscript"
    )


@pytest.fixture(scope="session")
def bert_dynamo_export(tmp_path_factory, bert_source) -> Path:
    from modelexport import export_with_config

    return export_with_config(
        str(bert_source), tmp_path_factory.mktemp("opt") / "dynamo", task=TASK, exporter="dynamo"
    )


@pytest.fixture(scope="session")
def bert_o2(tmp_path_factory, bert_export):
    from modelexport.optimize import optimize_export

    return optimize_export(bert_export, tmp_path_factory.mktemp("opt") / "o2", level="O2")


@pytest.fixture(scope="session")
def bert_int8(tmp_path_factory, bert_export):
    from modelexport.optimize import quantize_export

    return quantize_export(bert_export, tmp_path_factory.mktemp("opt") / "int8", sensitivity=True)
