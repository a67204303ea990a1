"""The public API is exactly what __init__ lists."""

from __future__ import annotations

import inspect

import modelexport


def test_every_name_in_all_is_importable():
    for name in modelexport.__all__:
        assert hasattr(modelexport, name), name


def test_every_public_callable_or_class_is_listed_in_all():
    public = {
        name
        for name, obj in vars(modelexport).items()
        if not name.startswith("_") and not inspect.ismodule(obj)
    }
    assert public - {"annotations"} == set(modelexport.__all__) - {"__version__"}


def test_the_origin_design_names_are_public():
    for name in (
        "export_with_config",
        "validate_optimum_compatibility",
        "add_config_to_existing_model",
        "export_onnx_with_hierarchy",
    ):
        assert name in modelexport.__all__


def test_export_with_config_signature_matches_the_contract():
    params = inspect.signature(modelexport.export_with_config).parameters
    for name in ("task", "exporter", "opset", "clean_onnx", "atol", "force"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name
    assert params["atol"].default == 1e-4
    assert params["force"].default is False
    assert params["clean_onnx"].default is False
