"""The matrix cell's tag checks (modelexport.matrix.tag_checks) on real exports, and on exports
whose tags were made wrong on purpose: each wrong tag is found and named. The sibling rule
(modelexport.matrix.sibling_checks) also on small models with hand-made reports (fast)."""

from __future__ import annotations

import json
import shutil

import onnx
import pytest
import torch
import transformers
from onnx import helper, numpy_helper
from torch import nn

from modelexport.hierarchy import HierarchyReport, ModuleRecord, NodeRecord
from modelexport.matrix.sibling_checks import (
    WeightsInFile,
    check_siblings,
    shape_arithmetic,
    sibling_groups,
)
from modelexport.matrix.tag_checks import AGREEMENT_MIN, TagCheck, add_agreement, check_tags

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def bert(zoo_dir):
    return transformers.AutoModelForSequenceClassification.from_pretrained(
        zoo_dir("bert", "text-classification")
    )


def _exports(zoo_export):
    return (
        zoo_export("bert", "text-classification", "torchscript"),
        zoo_export("bert", "text-classification", "dynamo"),
    )


def _copy(export, tmp_path, name):
    out = tmp_path / name
    shutil.copytree(export.path, out)
    return out


@slow
def test_a_zoo_export_passes_every_check_with_its_shares_recorded(zoo_export, bert):
    ts, dy = _exports(zoo_export)
    record = check_tags(ts.path, bert, dy.path)
    assert record.ok and record.error is None
    assert record.files == 1 and record.nodes == ts.hierarchy["summary"]["nodes_total"]
    assert record.unknown == 0 and record.sibling_groups == 1 and not record.sibling_failures
    assert record.agreement == 1.0 and record.agreement_matched >= 15
    inherited = ts.hierarchy["summary"]["nodes_inherited"] / record.nodes
    assert record.inherited_share == pytest.approx(inherited, abs=1e-4) and record.root_share == 0.0
    assert TagCheck.from_json(json.loads(json.dumps(record.to_json()))) == record
    # A row keeps the record without its empty values, and may be read by another version.
    lean = {k: v for k, v in record.to_json().items() if k == "ok" or v not in (None, 0, 0.0, "", [])}
    assert TagCheck.from_json(lean | {"a_later_field": 1}) == record


@slow
def test_the_agreement_added_later_gives_the_same_record_as_checking_both_at_once(zoo_export, bert):
    ts, dy = _exports(zoo_export)
    alone = check_tags(ts.path, bert)
    assert alone.ok and alone.agreement is None and alone.agreement_matched == 0
    added = add_agreement(alone, ts.path, dy.path)
    assert added.to_json() == check_tags(ts.path, bert, dy.path).to_json()
    assert add_agreement(added, ts.path, dy.path).to_json() == added.to_json()  # idempotent


@slow
def test_a_tag_naming_no_module_fails_the_check(zoo_export, bert, tmp_path):
    out = _copy(_exports(zoo_export)[0], tmp_path, "bad")
    sidecar = json.loads((out / "hierarchy.json").read_text())
    first = next(iter(sidecar["nodes"]))
    sidecar["nodes"][first]["module"] = "bert.encoder.attention"  # a scope path, not a module
    (out / "hierarchy.json").write_text(json.dumps(sidecar))
    record = check_tags(out, bert)
    assert record.ok is False and record.unknown == 1
    assert record.unknown_modules == ["bert.encoder.attention"] and "bert.encoder.attention" in record.error


@slow
def test_one_layers_nodes_tagged_to_its_sibling_fail_the_check(zoo_export, bert, tmp_path):
    out = _copy(_exports(zoo_export)[0], tmp_path, "moved")
    sidecar = json.loads((out / "hierarchy.json").read_text())
    layer1 = [
        k for k, v in sidecar["nodes"].items() if v["module"].startswith("bert.encoder.layer.1.attention")
    ]
    for key in layer1:  # what the issue saw: layer 1's attention tagged to layer 0
        sidecar["nodes"][key]["module"] = sidecar["nodes"][key]["module"].replace("layer.1", "layer.0")
    (out / "hierarchy.json").write_text(json.dumps(sidecar))
    record = check_tags(out, bert)
    assert record.ok is False and record.unknown == 0
    assert record.sibling_failures and record.sibling_failures[0].startswith("bert.encoder.layer (BertLayer)")
    assert "alike siblings" in record.error


@slow
def test_a_weight_op_in_another_module_than_the_other_backend_says_fails_below_the_minimum(
    zoo_export, bert, tmp_path
):
    ts, dy = _exports(zoo_export)
    out = _copy(dy, tmp_path, "moved-weights")
    model = onnx.load(str(out / "model.onnx"))
    moved = 0
    for node in model.graph.node:
        tags = {p.key: p for p in node.metadata_props}
        if node.op_type == "MatMul" and tags["modelexport.module"].value.endswith(".query"):
            tags["modelexport.module"].value = "bert.pooler"
            moved += 1
    onnx.save(model, str(out / "model.onnx"))
    record = check_tags(out, bert, ts.path)
    assert moved == 2 and record.agreement_matched >= 15
    assert record.agreement == pytest.approx(1 - moved / record.agreement_matched, abs=1e-4)
    assert record.agreement < AGREEMENT_MIN
    assert record.ok is False and "weight ops" in record.error and record.agreement_disagreements
    later = add_agreement(check_tags(out, bert), out, ts.path)
    assert later.ok is False and later.error == record.error


@slow
def test_a_directory_without_tags_is_a_record_not_an_exception(bert, tmp_path):
    record = check_tags(tmp_path, bert)
    assert record.ok is None and record.error and "no tags" in record.error


# The sibling rule on small models: which siblings are alike, and what they must agree on.


class Attention(nn.Module):
    def __init__(self, window: tuple[int, int] = (-1, -1), layer_idx: int = 0) -> None:
        super().__init__()
        self.query = nn.Linear(8, 8)
        self.window, self.layer_idx = window, layer_idx  # a setting and a position


class Layer(nn.Module):
    def __init__(self, shift: int = 0, window: tuple[int, int] = (-1, -1), index: int = 0) -> None:
        super().__init__()
        self.attention = Attention(window, index)
        self.residual = nn.Conv1d(8, 8, 1)  # DPT's residual_layer1: run only with a residual input
        self.norm = nn.LayerNorm(8)  # ones and zeros in every layer: an exporter keeps one copy
        self.shift_size = shift


class Stack(nn.Module):
    def __init__(self, layers: list[Layer]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)


def _report(model: nn.Module, counts: dict[str, int]) -> HierarchyReport:
    """A report with ``counts[path]`` nodes directly on each module."""
    modules = {p: ModuleRecord(p, type(m).__name__) for p, m in model.named_modules()}
    nodes = [NodeRecord(f"{p}#{i}", "Add", p, "scope") for p, n in counts.items() for i in range(n)]
    return HierarchyReport("torchscript", "Stack", True, modules, nodes)


def _file(model: nn.Module, named: tuple[str, ...] = (), transposed: tuple[str, ...] = ()) -> WeightsInFile:
    """A file holding the model's tensors ``named`` by their names and ``transposed`` under names
    of the exporter's own, as TorchScript stores Linear weights."""
    tensors = dict(model.named_parameters())
    stored = [numpy_helper.from_array(tensors[n].detach().numpy(), n) for n in named]
    stored += [
        numpy_helper.from_array(tensors[n].detach().numpy().T.copy(), f"onnx::MatMul_{i}")
        for i, n in enumerate(transposed)
    ]
    graph = helper.make_graph([], "g", [], [], initializer=stored)
    return WeightsInFile(helper.make_model(graph), tensors | dict(model.named_buffers()))


def _layer_counts(
    i: int, attention: int = 10, residual: int = 3, norm: int = 4, own: int = 2
) -> dict[str, int]:
    prefix = f"layers.{i}"
    return {
        f"{prefix}.attention": attention - 1,
        f"{prefix}.attention.query": 1,
        f"{prefix}.residual": residual,
        f"{prefix}.norm": norm,
        prefix: own,
    }


def _weights_of(i: int) -> tuple[str, ...]:
    return (f"layers.{i}.residual.weight", f"layers.{i}.residual.bias", f"layers.{i}.attention.query.bias")


def test_siblings_are_alike_by_class_shapes_and_settings_but_not_by_position():
    torch.manual_seed(0)
    plain = Stack([Layer(index=i) for i in range(3)])
    assert [g.members for g in sibling_groups(plain)] == [("layers.0", "layers.1", "layers.2")]
    # ModernBERT: global / local attention alternate (a tuple setting of a submodule).
    alternating = Stack([Layer(window=(-1, -1) if i % 2 == 0 else (64, 64), index=i) for i in range(4)])
    assert sorted(g.members for g in sibling_groups(alternating)) == [
        ("layers.0", "layers.2"),
        ("layers.1", "layers.3"),
    ]
    # Swin: plain and shifted windows; two of each, so two groups of two.
    swin = Stack([Layer(shift=0 if i % 2 == 0 else 4) for i in range(4)])
    assert sorted(g.members for g in sibling_groups(swin)) == [
        ("layers.0", "layers.2"),
        ("layers.1", "layers.3"),
    ]
    # Two layers, one of each: nothing alike to compare.
    assert sibling_groups(Stack([Layer(shift=0), Layer(shift=4)])) == []


def test_alike_siblings_with_equal_counts_pass_and_a_moved_share_fails():
    torch.manual_seed(0)
    model = Stack([Layer(index=i) for i in range(2)])
    groups = sibling_groups(model)
    weights = _file(model, _weights_of(0) + _weights_of(1))
    found = check_siblings(_report(model, _layer_counts(0) | _layer_counts(1)), groups, model, weights)
    assert (found.compared, found.failures, found.partial, found.unused) == (1, [], [], [])
    moved = _layer_counts(0, attention=18) | _layer_counts(1, attention=2)
    found = check_siblings(_report(model, moved), groups, model, weights)
    assert found.failures == ["layers (Layer): 0=27 1=11"]


def test_the_issues_layer_whose_nodes_went_to_its_sibling_fails():
    """Two identical layers, layer 1's forward called directly: its attention, softmax and norms
    tagged to layer 0 (178 / 12 nodes), only its weight ops on layer 1. Its norm has no node and
    its weights equal layer 0's (the file's one copy says nothing), yet what it ran on its
    attention is compared, and fails."""
    torch.manual_seed(0)
    model = Stack([Layer(index=i) for i in range(2)])
    counts = _layer_counts(0, attention=160, norm=8, own=7) | _layer_counts(1, attention=9, norm=0, own=0)
    counts["layers.1.attention"] = 9
    weights = _file(model, ("layers.0.norm.weight", "layers.0.norm.bias", *_weights_of(0), *_weights_of(1)))
    found = check_siblings(_report(model, counts), sibling_groups(model), model, weights)
    assert found.partial == ["layers.1: not norm"]
    assert found.failures == ["layers (Layer): 0.attention=160 1.attention=10"]


def test_a_sibling_run_without_an_optional_input_is_compared_on_what_it_ran():
    """DPT's first fusion layer has no residual input: its residual block has no node and none of
    its weights is in the file. The rest is compared; a wrong count there still fails."""
    torch.manual_seed(0)
    model = Stack([Layer(index=i) for i in range(3)])
    groups = sibling_groups(model)
    weights = _file(model, _weights_of(1) + _weights_of(2) + ("layers.0.attention.query.bias",))
    counts = _layer_counts(0, residual=0, own=1) | _layer_counts(1) | _layer_counts(2)
    found = check_siblings(_report(model, counts), groups, model, weights)
    assert found.failures == [] and found.partial == ["layers.0: not residual"] and found.compared == 1
    wrong = counts | {"layers.0.norm": 1}
    found = check_siblings(_report(model, wrong), groups, model, weights)
    assert found.failures == ["layers (Layer): 0.norm=1 1.norm=4"]
    # Weights are found by name, or by value as stored or transposed (TorchScript's Linear weights,
    # under names of its own). With its residual block's weights in the file, it ran: its nodes
    # tagged elsewhere fail the whole-layer comparison.
    query = "layers.0.attention.query.weight"
    assert _file(model, transposed=(query,)).holds(query, ["layers.1.attention.query.weight"])
    assert not _file(model, transposed=(query,)).holds("layers.0.residual.weight")
    ran = _file(model, _weights_of(0) + _weights_of(1) + _weights_of(2))
    found = check_siblings(_report(model, counts), groups, model, ran)
    assert found.partial == [] and found.failures == ["layers (Layer): 0=15 1=19 2=19"]


def test_a_sibling_not_run_at_inference_is_not_compared_unless_its_weights_are_in_the_file():
    """VITS drops one flow at inference: no node, no weight of its in the file."""
    torch.manual_seed(0)
    model = Stack([Layer(index=i) for i in range(3)])
    groups = sibling_groups(model)
    counts = _layer_counts(0) | _layer_counts(2)
    found = check_siblings(
        _report(model, counts), groups, model, _file(model, _weights_of(0) + _weights_of(2))
    )
    assert (found.compared, found.failures, found.unused) == (1, [], ["layers.1"])
    found = check_siblings(
        _report(model, counts), groups, model, _file(model, _weights_of(0) + _weights_of(1))
    )
    # Its weights are in the file: it ran, and its nodes are elsewhere (its norm's weights equal
    # its siblings', so only the rest is compared).
    assert found.unused == [] and found.partial == ["layers.1: not norm"]
    assert found.failures == [
        "layers (Layer): 0.attention=10 1.attention=0",
        "layers (Layer): 0.residual=3 1.residual=0",
    ]
    # A group none of whose siblings ran in a file is not in it: nothing compared.
    empty = check_siblings(_report(model, {}), groups, model, _file(model))
    assert (empty.compared, empty.failures, empty.unused) == (0, [], [])


@slow
def test_the_issues_model_with_its_old_tags_fails_the_check(escape_export, tmp_path):
    """The issue's model (two identical layers, the encoder calling each layer's forward directly)
    with the tags the name-matching resolver gave it: every node of layer 1 but its weight ops
    (Conv, resolved by parameter) on layer 0, with ``source = scope``."""
    from escape_models import register

    register()
    export = escape_export("direct", "torchscript")
    model = transformers.AutoModelForSequenceClassification.from_pretrained(export.source)
    assert check_tags(export.path, model).ok  # today's tags pass
    out = _copy(export, tmp_path, "old")
    sidecar = json.loads((out / "hierarchy.json").read_text())
    moved = 0
    for node in sidecar["nodes"].values():
        if node["module"].startswith("encoder.layers.1") and node["op_type"] != "Conv":
            node["module"] = node["module"].replace("layers.1", "layers.0")
            moved += 1
    (out / "hierarchy.json").write_text(json.dumps(sidecar))
    record = check_tags(out, model)
    assert moved > 50 and record.ok is False and record.unknown == 0
    assert record.sibling_failures[0].startswith("encoder.layers (EscapeLayer): 0"), record.sibling_failures
    assert "alike siblings" in record.error


def test_identity_nodes_for_shared_weights_are_not_counted_but_moved_computation_is():
    """D-FINE's box heads: TorchScript put 2 Identity nodes (stand-ins for shared weights) on one
    head and 4 on the other, 10 against 12 nodes, over 10 %; the computing nodes are equal (here 19
    each with the Identity nodes left out, which would count 21 against 25)."""
    torch.manual_seed(0)
    model = Stack([Layer(index=i) for i in range(2)])
    groups, weights = sibling_groups(model), _file(model, _weights_of(0) + _weights_of(1))
    report = _report(model, _layer_counts(0) | _layer_counts(1))
    identities = [("layers.0.attention", 2), ("layers.1.attention", 6)]
    report.nodes += [
        NodeRecord(f"{p}#id{i}", "Identity", p, "inherited") for p, n in identities for i in range(n)
    ]
    found = check_siblings(report, groups, model, weights)
    assert (found.compared, found.failures) == (1, [])
    report.nodes += [
        NodeRecord(f"layers.1.attention#mul{i}", "Mul", "layers.1.attention", "scope") for i in range(4)
    ]
    assert check_siblings(report, groups, model, weights).failures == ["layers (Layer): 0=19 1=23"]


def test_shape_arithmetic_is_shape_constant_and_what_reads_only_them():
    """Resize to another tensor's size: Shape, Slice, Concat, Cast compute the size; Resize and the
    Conv compute on the data. A node reading a graph input or a float initializer (a weight) is
    never shape arithmetic."""
    nodes = [
        helper.make_node("Shape", ["other"], ["s"], name="shape"),
        helper.make_node("Slice", ["s", "starts", "ends"], ["hw"], name="slice"),
        helper.make_node(
            "Constant", [], ["nc"], name="", value=numpy_helper.from_array(torch.tensor([1, 8]).numpy())
        ),
        helper.make_node("Concat", ["nc", "hw"], ["size"], axis=0),
        helper.make_node("Resize", ["x", "", "", "size"], ["y"], name="resize"),
        helper.make_node("Conv", ["y", "w"], ["z"], name="conv"),
        helper.make_node("Cast", ["x"], ["xc"], name="cast_data", to=1),
        # DETR's first decoder layer: learned queries (a float initializer) and zeros, all constant
        helper.make_node("ConstantOfShape", ["size"], ["zeros"], name="zeros"),
        helper.make_node("Add", ["zeros", "w"], ["queries"], name="queries"),
    ]
    starts, ends = (
        numpy_helper.from_array(torch.tensor([v]).numpy(), n) for v, n in ((2, "starts"), (4, "ends"))
    )
    w = numpy_helper.from_array(torch.zeros(8, 8, 1, 1).numpy(), "w")
    graph = helper.make_graph(nodes, "g", [], [], initializer=[starts, ends, w])
    assert shape_arithmetic(helper.make_model(graph)) == {"shape", "slice", "main#2", "main#3", "zeros"}


@slow
def test_depth_anythings_last_fusion_layer_upsampling_by_a_constant_factor_passes(zoo_export, tmp_path):
    """Its other fusion layers resize to the next feature map's size (TorchScript: 25 nodes each,
    11 of them shape arithmetic), the last by a factor of 2 (14): equal once shape arithmetic is
    left out. Computing nodes still count: layer 3's Resize and Add tagged to layer 2 fail."""
    export = zoo_export("depth_anything", "depth-estimation", "torchscript")
    model = transformers.AutoModelForDepthEstimation.from_pretrained(export.source)
    record = check_tags(export.path, model)
    assert record.ok, record.error
    assert record.sibling_partial == ["model.onnx: neck.fusion_stage.layers.0: not residual_layer1"]
    out = _copy(export, tmp_path, "moved")
    sidecar = json.loads((out / "hierarchy.json").read_text())
    layer3 = "neck.fusion_stage.layers.3"
    moved = [
        n for n in sidecar["nodes"].values() if n["module"] == layer3 and n["op_type"] in ("Resize", "Add")
    ]
    for node in moved:
        node["module"] = layer3.replace(".3", ".2")
    (out / "hierarchy.json").write_text(json.dumps(sidecar))
    record = check_tags(out, model)
    assert len(moved) == 2 and record.ok is False
    assert record.sibling_failures[0].startswith("neck.fusion_stage.layers (DepthAnythingFeatureFusionLayer)")
