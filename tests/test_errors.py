"""Error lines name the cause an exporter's generic failure wraps."""

from __future__ import annotations

from modelexport.errors import root_cause


def _chained() -> BaseException:
    try:
        try:
            try:
                raise ValueError(
                    "Could not guard on u0.\n\nCaused by: (models/x/modeling_x.py:12 in forward)\nmore"
                )
            except ValueError as e:
                raise RuntimeError("step 1/3 failed") from e
        except RuntimeError as e:
            raise KeyError("wrapper") from e
    except KeyError as e:
        return e


def test_the_innermost_cause_is_named_with_the_model_line_it_blames():
    assert (
        root_cause(_chained())
        == "ValueError: Could not guard on u0. (at models/x/modeling_x.py:12 in forward)"
    )


def test_an_error_raised_without_a_cause_has_none():
    assert root_cause(ValueError("plain")) is None
    try:
        try:
            raise ValueError("inner")
        except ValueError:
            raise RuntimeError("outer") from None
    except RuntimeError as e:
        assert root_cause(e) is None  # implicit context is not a cause


def test_a_cell_records_an_export_error_without_the_model_path_so_the_cause_fits():
    from modelexport.errors import CaptureError, subject
    from modelexport.matrix.cell import ERROR_LIMIT, _failed

    where = subject("/root/.cache/modelexport/zoo/" + "d" * 500 + "/t5", "text-classification", "dynamo")
    error = CaptureError(
        f"{where}: TorchExportError: step 1/3; caused by Guard: u0 (at modeling_t5.py:9 in forward)."
    )
    kind, message = _failed(error)
    assert kind == "CaptureError"
    assert message == "TorchExportError: step 1/3; caused by Guard: u0 (at modeling_t5.py:9 in forward)."
    assert len(where) < ERROR_LIMIT < len(where) + len(message)  # it would not fit behind the path
