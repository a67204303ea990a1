"""Comparing one value: padded positions of a decoder are left out, except NaN or inf ONNX made there."""

from __future__ import annotations

import numpy as np

from modelexport.diagnose.compare import Positions, error


def test_padding_is_left_out_but_nan_made_there_is_not():
    mask = np.array([[0, 1, 1], [1, 1, 1]])  # the first row's first token is padding
    positions = Positions(mask, new_tokens=3)
    reference = np.zeros((2, 3, 4), dtype=np.float32)
    actual = reference.copy()
    actual[0, 0] = 5.0  # any finite value at padding: implementation-defined, not compared
    assert error(reference, actual, 1e-4, 1e-4, positions).ok
    assert not error(reference, actual, 1e-4, 1e-4).ok  # compared without the mask
    actual[0, 0, 1] = np.nan  # NaN at padding poisons the cache a later step reads
    poisoned = error(reference, actual, 1e-4, 1e-4, positions)
    assert not poisoned.ok and poisoned.max_abs == float("inf")
    actual[0, 0, 1] = 0.0
    actual[1, 2, 3] = 1.0  # a real position beyond tolerance
    assert error(reference, actual, 1e-4, 1e-4, positions).max_abs == 1.0
