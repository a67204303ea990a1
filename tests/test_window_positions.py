"""Where a sliding-window model's outputs are defined: a padded position whose window holds no real
token attends to nothing, and what it outputs is each implementation's own (transformers 5's zoo
Mixtral, window 8: PyTorch and the dynamo export differed by 0.39 there, 5e-7 everywhere else)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import transformers

from modelexport.matrix.checks import Reference, compare
from modelexport.verify import sliding_window, window_defined


def test_a_padded_position_is_defined_while_a_real_token_is_within_its_window():
    mask = np.array([[1] * 10, [1] * 4 + [0] * 6])
    defined = window_defined(SimpleNamespace(sliding_window=3), mask)
    # Row 1's last real token is at 3: positions 4 and 5 still see it (window 3: t-2..t), 6 on do not.
    assert defined.tolist() == [[True] * 10, [True] * 6 + [False] * 4]


def test_models_without_a_window_define_every_position():
    mask = np.array([[1, 1, 0, 0]])
    assert window_defined(transformers.BertConfig(), mask) is None
    assert window_defined(transformers.Qwen2Config(use_sliding_window=False, sliding_window=2), mask) is None
    assert window_defined(transformers.T5Config(), mask) is None
    assert sliding_window(transformers.MistralConfig(sliding_window=8)) == 8
    # Gemma 3's image-text model: the window is its text model's
    assert sliding_window(SimpleNamespace(text_config=transformers.Gemma3TextConfig(sliding_window=4))) == 4


def test_the_matrix_compares_defined_positions_only_and_still_catches_errors_there():
    mask = np.array([[1] * 6, [1, 1] + [0] * 4])
    expected = np.random.default_rng(0).standard_normal((2, 6, 4)).astype(np.float32)
    reference = Reference({}, {"last_hidden_state": expected}, ("last_hidden_state",))
    reference.defined = window_defined(SimpleNamespace(sliding_window=2), mask)
    garbage = expected.copy()
    garbage[1, 3:] += 0.4  # positions 3-5 of row 1: no real token within the window
    assert compare(reference, {"last_hidden_state": garbage}, 1e-4, 1e-4).ok
    wrong = garbage.copy()
    wrong[1, 2] += 0.4  # position 2 still sees token 1
    check = compare(reference, {"last_hidden_state": wrong}, 1e-4, 1e-4)
    assert not check.ok and abs(check.max_abs_diff["last_hidden_state"] - 0.4) < 1e-6


def test_verification_of_a_single_file_export_skips_the_same_positions():
    import torch

    from modelexport.parts import Part
    from modelexport.verify import defined_outputs

    module = torch.nn.Module()
    module.model = SimpleNamespace(config=transformers.MistralConfig(sliding_window=2))  # type: ignore[assignment]
    part = Part("model.onnx", "model", None, module, {}, {})  # type: ignore[arg-type]
    feeds = {"attention_mask": torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0]])}
    ref = {
        "last_hidden_state": np.zeros((2, 4, 3), np.float32),
        "pooler_output": np.zeros((2, 3), np.float32),
    }
    got = {"last_hidden_state": np.ones((2, 4, 3), np.float32), "pooler_output": np.ones((2, 3), np.float32)}
    kept_ref, kept_got = defined_outputs(part, ref, got, feeds)
    assert kept_got["last_hidden_state"][:, :, 0].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert kept_ref["last_hidden_state"].sum() == 0 and (kept_got["pooler_output"] == 1).all()


def test_diff_leaves_out_the_same_positions_also_where_tokens_are_flattened():
    """A mixture-of-experts block routes the batch's tokens flattened (batch × tokens, hidden): the
    positions are left out there too, not only on (batch, tokens, ...) values."""
    from modelexport.diagnose.compare import Positions, error

    mask = np.array([[1, 1, 1, 1], [1, 0, 0, 0]])
    positions = Positions(window_defined(SimpleNamespace(sliding_window=2), mask), 4)
    ref = np.zeros((2, 4, 3), np.float32)
    got = ref.copy()
    got[1, 2:] = 0.4  # no real token within the window
    assert error(ref, got, 1e-4, 1e-4, positions).ok
    assert error(ref.reshape(8, 3), got.reshape(8, 3), 1e-4, 1e-4, positions).ok
    got[1, 1] = 0.4  # position 1 still sees token 0
    assert not error(ref.reshape(8, 3), got.reshape(8, 3), 1e-4, 1e-4, positions).ok


def test_the_matrix_still_fails_a_nan_at_an_undefined_position():
    """As verification does: positions are left out only while the export is finite everywhere."""
    mask = np.array([[1] * 6, [1, 1] + [0] * 4])
    expected = np.zeros((2, 6, 4), np.float32)
    reference = Reference({}, {"last_hidden_state": expected}, ("last_hidden_state",))
    reference.defined = window_defined(SimpleNamespace(sliding_window=2), mask)
    got = expected.copy()
    got[1, 5] = np.nan
    assert not compare(reference, {"last_hidden_state": got}, 1e-4, 1e-4).ok
