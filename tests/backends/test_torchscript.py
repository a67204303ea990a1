"""The TorchScript backend's graph edits: a reshape to a computed size that is 0 at run time only
reads the 0 as PyTorch does (an empty dimension), not as ONNX's "copy the input's size"."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import transformers

from helpers import standalone, wrap
from modelexport import export_with_config
from modelexport.backends import capture_graph
from modelexport.backends.torchscript import TorchScriptBackend
from modelexport.common import IOSpec, TensorSpec
from modelexport.errors import VerifyError
from modelexport.graph import literal_reshapes


class Blocks(torch.nn.Module):
    """The tokens of whole blocks of 4, position-major, regrouped as ``(batch, blocks, 4)``. Under 4
    tokens there are no blocks: the reshape's computed shape is ``[batch, 0, 4]`` for an input of
    shape ``(0, batch)``, and with ONNX's default the 0 copies the input's second size instead."""

    def forward(self, input_ids: torch.Tensor, return_dict: bool = True) -> dict:
        blocks = input_ids.shape[1] // 4
        whole = input_ids[:, : blocks * 4].float()
        out = whole.transpose(0, 1).reshape(input_ids.shape[0], blocks, 4) * 2.0
        return {"blocks": out, "flat": input_ids.float().reshape(-1, 2)}


IO = IOSpec(
    inputs=(TensorSpec("input_ids", {0: "batch_size", 1: "sequence_length"}),),
    outputs=(TensorSpec("blocks", {0: "batch_size", 1: "blocks"}), TensorSpec("flat", {0: "rows"})),
)


def _capture(tmp_path, opset: int) -> onnx.ModelProto:
    return standalone(
        capture_graph(
            TorchScriptBackend(), wrap(Blocks(), IO), {"input_ids": torch.ones(2, 16)}, IO, opset, tmp_path
        )
    )


def _reshapes(model: onnx.ModelProto) -> list[int]:
    return [
        next((a.i for a in n.attribute if a.name == "allowzero"), 0)
        for n in model.graph.node
        if n.op_type == "Reshape"
    ]


def test_a_size_that_is_zero_at_run_time_stays_zero(tmp_path):
    session = ort.InferenceSession(
        _capture(tmp_path, 17).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    for length in (3, 9, 16):  # 0, 2 and 4 blocks
        ids = np.arange(2 * length, dtype=np.float32).reshape(2, length)
        got = session.run(None, {"input_ids": ids})
        with torch.no_grad():
            expected = Blocks()(torch.from_numpy(ids))
        assert got[0].shape == tuple(expected["blocks"].shape), length
        np.testing.assert_array_equal(got[0], expected["blocks"].numpy())
        np.testing.assert_array_equal(got[1], expected["flat"].numpy())


def test_only_reshapes_to_computed_shapes_change(tmp_path):
    model = _capture(tmp_path, 17)
    # The flat reshape's [-1, 2] is a constant: left as the exporter wrote it.
    assert sorted(_reshapes(model)) == [0, 1]
    assert literal_reshapes(model) == 1  # idempotent: one attribute, still set
    assert sorted(_reshapes(model)) == [0, 1]
    onnx.checker.check_model(model)


def test_before_opset_14_nothing_changes(tmp_path):
    # allowzero is an opset-14 attribute; at 13 the graph keeps ONNX's copy semantics.
    assert _reshapes(_capture(tmp_path, 13)) == [0, 0]


def _encoder_matches(out, model, lengths: tuple[int, ...]) -> None:
    """The exported encoder gives PyTorch's encoder outputs on unpadded inputs of ``lengths``."""
    session = ort.InferenceSession(str(out / "encoder_model.onnx"), providers=["CPUExecutionProvider"])
    for length in lengths:
        ids = torch.arange(2, 2 + 2 * length).reshape(2, length)
        mask = torch.ones_like(ids)
        (got,) = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
        with torch.no_grad():
            expected = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        np.testing.assert_allclose(got, expected.numpy(), atol=1e-4, rtol=1e-4, err_msg=f"length {length}")


@pytest.mark.slow
def test_longt5_exports_and_runs_on_inputs_shorter_than_a_global_block(zoo_dir, tmp_path):
    """LongT5's transient-global encoder at fewer tokens than its global block size (4) has no global
    blocks; Optimum's TorchScript export of the same checkpoint fails there (a Reshape reading the 0
    as "copy"), and before literal_reshapes so did ours, at verification."""
    src = zoo_dir("longt5", "text2text-generation")
    out = export_with_config(
        str(src), tmp_path / "out", task="text2text-generation-with-past", exporter="torchscript"
    )
    model = transformers.AutoModelForSeq2SeqLM.from_pretrained(src).eval()
    _encoder_matches(out, model, (1, 3, 9))


def _longt5_radius_3(zoo_dir, tmp_path) -> tuple[transformers.PreTrainedModel, object]:
    """A LongT5 outside the zoo: local radius 3 (blocks of 4, which divide 16) and global blocks of 8."""
    import shutil

    src = zoo_dir("longt5", "text2text-generation")
    config = transformers.AutoConfig.from_pretrained(src)
    config.local_radius, config.global_block_size = 3, 8
    torch.manual_seed(0)
    model = transformers.LongT5ForConditionalGeneration(config).eval()
    checkpoint = tmp_path / "longt5-r3"
    model.save_pretrained(checkpoint)
    for f in src.iterdir():
        if f.is_file() and not f.name.startswith(("config", "generation_config", "model")):
            shutil.copy(f, checkpoint / f.name)
    return model, checkpoint


@pytest.mark.slow
def test_longt5_with_a_block_length_dividing_16_exports_and_verifies(zoo_dir, tmp_path):
    """Traced at a multiple of the block length, the encoder skips the padding branch and bakes that
    length (verification at 9 tokens failed when encoders were traced at 16). They are traced at 17
    tokens, a length no block length divides."""
    model, checkpoint = _longt5_radius_3(zoo_dir, tmp_path)
    out = export_with_config(
        str(checkpoint), tmp_path / "out", task="text2text-generation-with-past", exporter="torchscript"
    )
    _encoder_matches(out, model, (4, 8, 13))


@pytest.mark.slow
def test_longt5_dynamo_graph_that_keeps_a_length_fails_verification(zoo_dir, tmp_path):
    """torch.export keeps a block count of the traced length in this model's graph (ONNX Runtime
    cannot broadcast 13 by 14 at 9 tokens): the export fails verification instead of landing."""
    _, checkpoint = _longt5_radius_3(zoo_dir, tmp_path)
    with pytest.raises(VerifyError, match="cannot run the graph on inputs of other shapes"):
        export_with_config(
            str(checkpoint), tmp_path / "out", task="text2text-generation-with-past", exporter="dynamo"
        )
    assert not (tmp_path / "out").exists()
