"""Find model code that escapes the exporters' module scopes, by reading its source (``ast``).

``python -m modelexport.hierarchy.escapes [DIR ...]`` scans ``modeling_*.py`` files (the installed
transformers' by default) and prints one line per finding: ``kind  model/file.py:line  code``.
The kinds are the ways a node can end up recorded in another module than the one whose code made
it (docs/hierarchy.md says how tagging handles each):

* ``direct-forward``: ``layer.forward(x)`` on another module: no module call is recorded for it;
* ``functional``: a method other than ``forward`` called on a module held in a list
  (``layer.mix(x)``), or another module's weight used in a functional op
  (``F.linear(x, self.embed.weight)``): the caller's forward runs the op;

Only ``forward`` methods are read for calls (what an export runs); ``ModuleList`` constructions
anywhere in a class.
* ``loop-call``: one module object called at several depths (``self.groups[k](...)`` in a loop
  over ``range``): its nodes of every call are on that one module;
* ``shared``: one module object at several positions (``ModuleList([layer] * n)``): it has one name.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

KINDS = ("direct-forward", "functional", "loop-call", "shared")
_FUNCTIONAL_OPS = frozenset({"linear", "conv1d", "conv2d", "embedding", "matmul", "mm", "bmm", "einsum"})


@dataclass(frozen=True)
class Finding:
    kind: str
    file: str
    line: int
    code: str


def _name(node: ast.AST) -> str:
    return ast.unparse(node) if isinstance(node, ast.expr) else ""


def _is_self_attr(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


def _direct_forward(call: ast.Call) -> bool:
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "forward"):
        return False
    receiver = func.value
    if isinstance(receiver, ast.Call) and _name(receiver.func) == "super":
        return False
    if isinstance(receiver, ast.Name) and receiver.id == "self":
        return False  # the module's own forward, from one of its methods
    last = _name(receiver).rsplit(".", 1)[-1]
    return not last[:1].isupper()  # ``nn.LayerNorm.forward(self, x)``: a class's forward on self


def _weight_in_functional(call: ast.Call) -> bool:
    op = _name(call.func).rsplit(".", 1)[-1]
    if op not in _FUNCTIONAL_OPS:
        return False
    return any(
        isinstance(a, ast.Attribute) and a.attr == "weight" and isinstance(a.value, ast.Attribute)
        for a in ast.walk(call)
    )


def _module_lists(cls: ast.ClassDef) -> set[str]:
    """Attributes a class assigns a ModuleList, ModuleDict or Sequential."""
    out: set[str] = set()
    for node in ast.walk(cls):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and _name(node.value.func).rsplit(".", 1)[-1] in ("ModuleList", "ModuleDict", "Sequential")
        ):
            out.update(t.attr for t in node.targets if _is_self_attr(t) and isinstance(t, ast.Attribute))
    return out


def _element_names(loop: ast.For, lists: set[str]) -> set[str]:
    """Loop variables bound to the elements of one of ``lists`` (``for layer in self.layers``,
    ``enumerate(self.layers)``, ``zip(self.layers, ...)``)."""

    def is_list(node: ast.AST) -> bool:
        return _is_self_attr(node) and isinstance(node, ast.Attribute) and node.attr in lists

    it, target = loop.iter, loop.target
    if is_list(it) and isinstance(target, ast.Name):
        return {target.id}
    if isinstance(it, ast.Call) and isinstance(target, ast.Tuple):
        if _name(it.func) == "enumerate" and it.args and is_list(it.args[0]) and len(target.elts) == 2:
            return {n.id for n in [target.elts[1]] if isinstance(n, ast.Name)}
        if _name(it.func) == "zip":
            pairs = zip(it.args, target.elts, strict=False)
            return {t.id for a, t in pairs if is_list(a) and isinstance(t, ast.Name)}
    return set()


def _in_loop(loop: ast.For, lists: set[str]) -> Iterator[tuple[str, ast.Call]]:
    names = {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}
    elements = _element_names(loop, lists)
    ranged = isinstance(loop.iter, ast.Call) and _name(loop.iter.func) == "range"
    for call in (n for n in ast.walk(loop) if isinstance(n, ast.Call)):
        func = call.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id in elements and func.attr not in ("forward", "__call__"):
                yield "functional", call
        elif ranged and isinstance(func, ast.Subscript) and _is_self_attr(func.value):
            indices = {n.id for n in ast.walk(func.slice) if isinstance(n, ast.Name)}
            if not indices & names:
                yield "loop-call", call


def _repeats_one_object(node: ast.AST) -> bool:
    """``[layer] * n`` or ``[layer for _ in range(n)]``: one object at every position."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return True
    if not (
        isinstance(node, ast.ListComp) and isinstance(node.elt, (ast.Name, ast.Subscript, ast.Attribute))
    ):
        return False
    bound = {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
    return not {n.id for n in ast.walk(node.elt) if isinstance(n, ast.Name)} & bound


def _repeated_names(cls: ast.ClassDef) -> set[str]:
    """Local names a class's code binds to a list repeating one object (``layers = [layers[0]] * n``)."""
    return {
        t.id
        for node in ast.walk(cls)
        if isinstance(node, ast.Assign) and _repeats_one_object(node.value)
        for t in node.targets
        if isinstance(t, ast.Name)
    }


def _shared_list(call: ast.Call, repeated: set[str]) -> bool:
    if _name(call.func).rsplit(".", 1)[-1] != "ModuleList" or not call.args:
        return False
    arg = call.args[0]
    return _repeats_one_object(arg) or (isinstance(arg, ast.Name) and arg.id in repeated)


def scan_source(text: str, file: str) -> list[Finding]:
    """The findings of one source file."""
    tree = ast.parse(text)
    lines = text.splitlines()
    found: dict[tuple[str, int], Finding] = {}

    def add(kind: str, node: ast.AST) -> None:
        line = getattr(node, "lineno", 0)
        found.setdefault((kind, line), Finding(kind, file, line, lines[line - 1].strip() if line else ""))

    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        lists, repeated = _module_lists(cls), _repeated_names(cls)
        for node in ast.walk(cls):
            if isinstance(node, ast.Call) and _shared_list(node, repeated):
                add("shared", node)
        for method in cls.body:
            if not (isinstance(method, ast.FunctionDef) and method.name == "forward"):
                continue  # what an export runs
            for node in ast.walk(method):
                if isinstance(node, ast.Call) and _direct_forward(node):
                    add("direct-forward", node)
                elif isinstance(node, ast.Call) and _weight_in_functional(node):
                    add("functional", node)
                elif isinstance(node, ast.For):
                    for kind, call in _in_loop(node, lists):
                        add(kind, call)
    return sorted(found.values(), key=lambda f: (f.file, f.line, f.kind))


def scan(root: Path) -> list[Finding]:
    """The findings of every ``modeling_*.py`` under ``root`` (files named relative to it)."""
    out: list[Finding] = []
    for path in sorted(root.rglob("modeling_*.py")):
        if path.name.startswith(("modeling_tf_", "modeling_flax_")):
            continue  # PyTorch models only
        try:
            out += scan_source(path.read_text(encoding="utf-8"), str(path.relative_to(root)))
        except (SyntaxError, UnicodeDecodeError):
            continue
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        import transformers

        args = [str(Path(transformers.__file__).parent / "models")]
    for root in map(Path, args):
        if not root.is_dir():
            print(
                f"error: '{root}' is not a directory; pass transformers' models directory.", file=sys.stderr
            )
            return 2
        for f in scan(root):
            print(f"{f.kind:15} {f.file}:{f.line}  {f.code[:100]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
