"""The PyTorch side: every call's tensors as the module saw them, and who made each."""

from __future__ import annotations

import torch

from modelexport.diagnose.hooks import record, tensors


class Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.inner(x)
        y += x  # changes the Linear's output in place, after its hook recorded it
        return y


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(x.shape[0]).float()[:, None]  # made by Net's own code
        return self.head(self.block(x) + positions)


def test_a_module_output_changed_in_place_later_is_recorded_as_the_module_returned_it():
    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(3, 4)
    result, rec = record(net, lambda: net(x))
    inner = rec.by_path()["block.inner"][0]
    with torch.no_grad():
        expected = net.block.inner(x)
        assert torch.equal(inner.outputs[0][1], expected)
        assert torch.equal(rec.by_path()["block"][0].outputs[0][1], expected + x)
        assert torch.equal(result, net(x))


def test_calls_are_in_execution_order_with_their_parents():
    net = Net().eval()
    _, rec = record(net, lambda: net(torch.randn(2, 4)))
    assert [c.path for c in rec.calls] == ["", "block", "block.inner", "head"]
    assert [c.end for c in rec.calls] == [3, 1, 0, 2]
    assert [c.parent for c in rec.calls] == [None, 0, 1, 0]


def test_a_tensor_made_by_a_module_code_names_that_module_as_its_creator():
    net = Net().eval()
    _, rec = record(net, lambda: net(torch.randn(2, 4)))
    head = rec.by_path()["head"][0]
    assert rec.creator(head.inputs[0][1], head) == ""  # block(x) + positions: the root's code
    inner = rec.by_path()["block.inner"][0]
    assert rec.creator(inner.inputs[0][1], inner) is None  # x came from the caller
    assert rec.returned_by(inner.outputs[0][1]) is inner


def test_tensors_walks_outputs_dicts_and_caches():
    class DynamicCache:  # transformers' caches are walked through their attributes
        def __init__(self) -> None:
            self.layers = [torch.zeros(1), torch.ones(2)]

    found = dict(tensors({"logits": torch.zeros(3), "past": DynamicCache(), "n": 3, "x": (torch.ones(1),)}))
    assert list(found) == ["logits", "past.layers.0", "past.layers.1", "x.0"]
