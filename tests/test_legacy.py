from __future__ import annotations

import onnx
import pytest

from modelexport import UserInputError, add_config_to_existing_model, export_onnx_with_hierarchy


def test_export_onnx_with_hierarchy_is_deprecated_and_writes_only_the_onnx_file(zoo_dir, tmp_path):
    src = zoo_dir("bert", "text-classification")
    with pytest.warns(DeprecationWarning, match="export_with_config"):
        path = export_onnx_with_hierarchy(str(src), tmp_path / "bert.onnx")
    onnx.checker.check_model(str(path))
    assert not (tmp_path / "config.json").exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".hierarchy.json")] == ["bert.onnx"]


def test_add_config_refuses_a_path_that_is_not_an_onnx_file(zoo_dir, tmp_path):
    with pytest.raises(UserInputError, match=r"not an existing \.onnx file"):
        add_config_to_existing_model(tmp_path / "missing.onnx", str(zoo_dir("bert", "text-classification")))
