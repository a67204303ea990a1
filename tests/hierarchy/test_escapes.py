"""Models whose code escapes the exporters' module scopes (tests/hierarchy/escape_models.py): every
node is tagged with the module whose forward produced it, or labelled inferred, never with another
layer's module as if the exporter had recorded it.

The issue's case: an encoder calling each layer's ``forward()`` directly. torch's TorchScript
scopes then name layer 1's attention ``attention`` under the encoder, like layer 0's, and a
resolver matching scopes by name put layer 1's nodes on layer 0 with ``source = scope``.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter

import onnx
import pytest
import transformers

from modelexport import run_export
from modelexport.hierarchy import capture
from modelexport.matrix.tag_checks import check_tags

BACKENDS = ("torchscript", "dynamo")
LAYERS = ("encoder.layers.0", "encoder.layers.1")
pytestmark = pytest.mark.slow


def _model(export):
    from escape_models import register

    register()
    return transformers.AutoModelForSequenceClassification.from_pretrained(export.source)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_layer_whose_forward_is_called_directly_is_tagged_as_if_it_were_called(escape_export, backend):
    called, direct = escape_export("call", backend), escape_export("direct", backend)
    # The same graph: the same node names with the same modules and sources.
    assert direct.hierarchy["nodes"] == called.hierarchy["nodes"]
    assert direct.subtree(LAYERS[0]) == direct.subtree(LAYERS[1]) == called.subtree(LAYERS[1]) > 0
    assert direct.module(LAYERS[1])["direct"] > 0  # the layer's own adds and norms are its own
    assert direct.hierarchy["summary"]["nodes_inferred"] == 0


def test_torchscript_scopes_without_module_paths_are_never_resolved_to_another_layer(
    escape_export, tmp_path, monkeypatch
):
    """Without the capture's module paths and pushed scopes (torch's own scope names only), the
    nodes of layer 1's attention, which torch names ``attention_1`` under the encoder, are inferred
    within the encoder, never put on layer 0 as if recorded there."""
    monkeypatch.setattr(capture, "_scope_names", lambda result: contextlib.nullcontext())
    source = escape_export("direct", "torchscript").source
    out, _ = run_export(str(source), tmp_path / "out", task="text-classification", exporter="torchscript")
    model = onnx.load(str(out / "model.onnx"), load_external_data=False)
    second = [n for n in model.graph.node if "/attention_1/" in n.name]
    assert len(second) > 20
    tags = [{p.key: p.value for p in n.metadata_props} for n in second]
    assert {t["modelexport.source"] for t in tags} <= {"inferred", "inherited"}
    assert Counter(t["modelexport.source"] for t in tags)["inferred"] > 20
    # Placed by graph position among what the scope may mean: layer 1's attention, never layer 0's.
    assert all(t["modelexport.module"].startswith(LAYERS[1] + ".attention") for t in tags)
    # The weight ops are resolved by the parameter they read, for certain.
    convs = [n for n in model.graph.node if n.op_type == "Conv" and ".layers.1." in n.input[1]]
    assert {{p.key: p.value for p in n.metadata_props}["modelexport.source"] for n in convs} == {"scope"}
    report = json.loads((out / "hierarchy.json").read_text())
    subtree = {m["path"]: m["subtree_nodes"] for m in report["modules"]}
    assert subtree[LAYERS[0]] == subtree[LAYERS[1]] > 0  # placed by graph position, alike


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_layer_called_at_every_depth_holds_the_nodes_of_every_call(escape_export, backend):
    called, loop = escape_export("call", backend), escape_export("loop", backend)
    assert loop.subtree("encoder") == called.subtree("encoder")
    # Every call's nodes are on the one layer; dynamo's shape arithmetic that the two layers of
    # ``call`` share (on the encoder there) is the one layer's own here.
    assert loop.subtree(LAYERS[0]) + loop.module("encoder")["direct"] == called.subtree("encoder")
    assert loop.subtree(LAYERS[0]) >= called.subtree(LAYERS[0]) + called.subtree(LAYERS[1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_module_at_two_positions_is_tagged_by_its_one_canonical_path(escape_export, backend):
    loop, shared = escape_export("loop", backend), escape_export("shared", backend)
    modules = {v["module"] for v in shared.hierarchy["nodes"].values()}
    # The embedding is called as ``embeddings.words``, its second name: tagged by its first.
    assert not any(m.startswith(("embeddings.words", LAYERS[1])) for m in modules)
    assert "token_embeddings" in modules
    assert shared.subtree(LAYERS[0]) == loop.subtree(LAYERS[0])
    assert shared.hierarchy["summary"]["nodes_on_root"] == loop.hierarchy["summary"]["nodes_on_root"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_functional_code_on_a_layers_weights_belongs_to_the_module_that_runs_it(escape_export, backend):
    """``layer.mix(x)`` is not a forward: the encoder's forward runs it, on both backends."""
    functional = escape_export("functional", backend)
    assert functional.subtree(LAYERS[0]) == functional.subtree(LAYERS[1]) == 0
    encoder = functional.module("encoder")
    assert encoder["direct"] == encoder["subtree_nodes"] > 0
    convs = [v for v in functional.hierarchy["nodes"].values() if v["op_type"] == "Conv"]
    assert len(convs) == 4 and {(v["module"], v["source"]) for v in convs} == {("encoder", "scope")}


@pytest.mark.parametrize("style", ["call", "direct", "functional", "loop", "shared"])
def test_tag_checks_pass_and_the_backends_agree_on_every_weight_op(escape_export, style):
    ts, dy = escape_export(style, "torchscript"), escape_export(style, "dynamo")
    model = _model(ts)
    for mine, other in ((ts, dy), (dy, ts)):
        record = check_tags(mine.path, model, other.path)
        assert record.ok, record.to_json()
        assert record.unknown == 0 and record.agreement == 1.0 and record.agreement_matched >= 5
        assert record.inferred_share == 0.0


def test_squeezebert_whose_encoder_calls_each_layers_forward_directly_is_tagged_layer_by_layer(
    zoo_export, zoo_dir
):
    """The zoo's representative of direct ``forward`` calls (the scanner's only such text model)."""
    ts, dy = (zoo_export("squeezebert", "text-classification", b) for b in BACKENDS)
    layers = [f"transformer.encoder.layers.{i}" for i in range(2)]
    for export in (ts, dy):
        counts = [export.subtree(layer) for layer in layers]
        # Layer 1's closing Transpose is folded with the encoder's own: one node fewer, no more.
        assert counts[0] - counts[1] in (0, 1) and counts[1] > 20, counts
        assert export.hierarchy["summary"]["nodes_inferred"] == 0
        convs = Counter(
            (v["module"].split(".")[3], v["source"])
            for v in export.hierarchy["nodes"].values()
            if v["op_type"] == "Conv"
        )
        assert convs == {("0", "scope"): 6, ("1", "scope"): 6}
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        zoo_dir("squeezebert", "text-classification")
    )
    for mine, other in ((ts, dy), (dy, ts)):
        record = check_tags(mine.path, model, other.path)
        assert record.ok and record.agreement == 1.0 and record.sibling_groups >= 1, record.to_json()


def _wrapped(base):
    """``base`` as a Hugging Face head model holds its base model (``Top.model``), under the export
    wrapper (``Wrapper.model``), as the dynamo exporter's stacks name them."""
    from torch import nn

    class Top(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = base

    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = Top()

    return Wrapper()


def test_a_dynamo_stack_naming_a_module_by_its_first_name_in_an_ancestor_is_resolved_for_certain():
    """Marian's encoder calls the model's ``shared`` embedding as ``embed_tokens``; torch.export's
    module stack then names it ``shared`` under the encoder's level. It is ``model.shared`` for
    certain (found below an ancestor, class checked), as TorchScript records it."""
    from torch import nn

    from modelexport.graph import walk
    from modelexport.hierarchy import ModuleIndex
    from modelexport.hierarchy.sources import CLASS_HIERARCHY, NAME_SCOPES, TracedTree, dynamo_sources

    class Encoder(nn.Module):
        def __init__(self, shared: nn.Embedding) -> None:
            super().__init__()
            self.embed_tokens = shared

    class Base(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.shared = nn.Embedding(10, 4)
            self.encoder = Encoder(self.shared)

    wrapper = _wrapped(Base())
    node = onnx.helper.make_node("Gather", ["w", "ids"], ["out"], name="node_embedding")
    stack = {
        NAME_SCOPES: "['', 'model.model.encoder', 'shared', 'embedding']",
        CLASS_HIERARCHY: f"['Wrapper', '{__name__}.Encoder', 'torch.nn.modules.sparse.Embedding', 'aten.embedding']",
    }
    for key, value in stack.items():
        node.metadata_props.add(key=key, value=value)
    graph = onnx.helper.make_graph([node], "g", [], [])
    found = dynamo_sources(walk(graph), TracedTree(wrapper, ModuleIndex(wrapper)))
    assert found.paths == ["model.shared"] and not found.bounds


def test_a_dynamo_stack_through_a_decorated_forward_names_the_module_for_certain():
    """torch.export's strict mode (the exporter's fallback; transformers 4.48's decoders with a
    cache) writes a module reached through its decorated forward as ``x.forward.__closure__[1]
    .cell_contents.__self__.y``: that is ``x.y``. Unresolved, 189 of Llama's 200 nodes fell to the
    root on 4.48 and the backends agreed on 6 % of the weight ops."""
    from torch import nn

    from modelexport.graph import walk
    from modelexport.hierarchy import ModuleIndex
    from modelexport.hierarchy.sources import CLASS_HIERARCHY, NAME_SCOPES, TracedTree, dynamo_sources

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.Linear(4, 4)

    class Base(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList([Layer(), Layer()])

    wrapper = _wrapped(Base())
    hop = "forward.__closure__[1].cell_contents.__self__"
    nodes = []
    for i in range(2):
        node = onnx.helper.make_node("MatMul", ["x", "w"], [f"out{i}"], name=f"node_linear_{i}")
        names = [
            "",
            "model",
            f"model.{hop}.model",
            f"model.model.layers.{i}",
            f"model.model.layers.{i}.{hop}.attn",
        ]
        classes = ["Wrapper", "Top", "Base", "Layer", "torch.nn.modules.linear.Linear"]
        node.metadata_props.add(key=NAME_SCOPES, value=repr([*names, "linear"]))
        node.metadata_props.add(
            key=CLASS_HIERARCHY,
            value=repr([*(f"{__name__}.{c}" for c in classes[:4]), classes[4], "aten.linear"]),
        )
        nodes.append(node)
    graph = onnx.helper.make_graph(nodes, "g", [], [])
    found = dynamo_sources(walk(graph), TracedTree(wrapper, ModuleIndex(wrapper)))
    assert found.paths == ["model.layers.0.attn", "model.layers.1.attn"] and not found.bounds


def test_a_table_each_layer_computes_alike_and_the_exporter_merged_is_not_counted_to_layer_0(zoo_export):
    """ESM's layers each hold an equal rotary ``inv_freq``; dynamo computes the cos / sin table once,
    recorded in layer 0, for both. It is the encoder's (inherited), so the layers stay alike."""
    export = zoo_export("esm", "fill-mask", "dynamo")
    layers = [export.subtree(f"esm.encoder.layer.{i}") for i in range(2)]
    assert layers[0] == layers[1] > 20, layers
    tables = [v for v in export.hierarchy["nodes"].values() if v["op_type"] in ("Cos", "Sin")]
    assert [(v["module"], v["source"]) for v in tables] == [("esm.encoder", "inherited")] * 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_stateless_module_shared_by_every_layer_is_tagged_in_the_layer_that_calls_it(zoo_export, backend):
    """XLM's feed-forward blocks all hold transformers' one module-level ``gelu`` instance, so
    ``named_modules()`` lists it once, as ``ffns.0.act``. Layer 1's activation is ``ffns.1.act``
    (its name under the caller), not layer 0's: both layers get the same nodes."""
    export = zoo_export("xlm", "feature-extraction", backend)
    model = transformers.AutoModel.from_pretrained(export.source)
    assert model.ffns[0].act is model.ffns[1].act
    acts = Counter(v["module"] for v in export.hierarchy["nodes"].values() if v["module"].endswith(".act"))
    assert set(acts) == {"ffns.0.act", "ffns.1.act"} and acts["ffns.0.act"] == acts["ffns.1.act"] > 0, acts
    assert export.subtree("ffns.0") == pytest.approx(export.subtree("ffns.1"), rel=0.1)
    assert check_tags(export.path, model).ok
