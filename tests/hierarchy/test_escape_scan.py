"""The scanner for model code that escapes the exporters' module scopes (``python -m
modelexport.hierarchy.escapes``): each way is found, ordinary code is not, the test models cover
every way, and the installed transformers' zoo representatives are found where docs/hierarchy.md
says."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import transformers

from modelexport.hierarchy.escapes import KINDS, main, scan, scan_source

MODELS = Path(transformers.__file__).parent / "models"


def _kinds(code: str) -> list[tuple[str, int]]:
    return [(f.kind, f.line) for f in scan_source(textwrap.dedent(code), "modeling_x.py")]


def test_each_way_is_found_on_the_line_that_escapes():
    code = """
    class Encoder(nn.Module):
        def __init__(self, n):
            self.layers = nn.ModuleList([Layer() for _ in range(n)])
            one = Layer()
            self.again = nn.ModuleList([one] * n)
            repeated = [one for _ in range(n)]
            self.twice = nn.ModuleList(repeated)

        def forward(self, x):
            for layer in self.layers:
                x = layer.forward(x)
                x = layer.mix(x)
            for i in range(3):
                x = self.layers[0](x)
            return F.linear(x, self.head.weight)
    """
    assert _kinds(code) == [
        ("shared", 6),
        ("shared", 8),
        ("direct-forward", 12),
        ("functional", 13),
        ("loop-call", 15),
        ("functional", 16),
    ]


def test_ordinary_code_is_not_reported():
    code = """
    class Layer(nn.LayerNorm):
        def __init__(self, n, items):
            self.layers = nn.ModuleList([Layer(i) for i in range(n)])
            self.copies = nn.ModuleList([item for item in items])

        def forward(self, x):
            x = super().forward(x)
            x = nn.LayerNorm.forward(self, x)
            for i, layer in enumerate(self.layers):
                x = layer(x) + self.layers[i](x)
            return F.linear(x, self.weight)

        def helper(self, x):
            return self.inner.forward(x)  # not a forward: an export never runs it
    """
    assert _kinds(code) == []


def test_the_test_models_cover_every_way(tmp_path):
    """tests/hierarchy/escape_models.py is the representative of each way where the zoo has none."""
    shutil.copy(Path(__file__).with_name("escape_models.py"), tmp_path / "modeling_escape.py")
    assert {f.kind for f in scan(tmp_path)} == set(KINDS)


@pytest.mark.parametrize(
    ("model", "kind"),
    [("squeezebert", "direct-forward"), ("albert", "loop-call"), ("mobilebert", "functional")],
)
def test_the_zoo_representatives_are_found_in_the_installed_transformers(model, kind):
    found = scan(MODELS / model)
    assert [f.kind for f in found] == [kind] and found[0].file == f"modeling_{model}.py"


def test_a_missing_directory_is_one_line_and_exit_code_2(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "missing" in err
