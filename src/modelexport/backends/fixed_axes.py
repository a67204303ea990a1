"""Axes the model's code fixes at one size or bounds, as torch.export reports them.

torch.export refuses a dimension declared dynamic that the model's code specialises to a constant
(Funnel's pooling arithmetic fixes the sequence length it was traced at). It says so in one of two
forms, depending on how the dimension was declared::

    Received user-specified dim hint Dim.DYNAMIC(...), but tracing inferred a static shape of 16
    for dimension inputs['input_ids'].shape[1].

    Constraints violated (sequence_length)! ...
    Suggested fixes:
      sequence_length = 16

:func:`fixed_axes_behind` reads either off an exception and its causes and names the axes by the
export's io spec, so the pipeline can export again with those axes at that size (and verify there)
instead of failing. Only the axes :data:`modelexport.inputs.FIXABLE_AXES` lists qualify: a range
conflict, or an axis the check inputs cannot be made at one size for, leaves the error as it is.

A model's code may also bound an axis it keeps dynamic (CLIP's text embeddings refuse more tokens
than their positions: ``sequence_length`` in [2, 77]). torch.export then exports without a word
and keeps the bound in the program's range constraints; :func:`axis_ranges` reads them per axis
name, so the pipeline records them and keeps its check inputs within them.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..common import IOSpec, identifier
from ..errors import causes
from ..inputs import FIXABLE_AXES

_INFERRED = re.compile(r"inferred a static shape of (\d+) for dimension inputs\['(\w+)'\]\.shape\[(\d+)\]")
_SUGGESTED = re.compile(r"^\s*(\w+) = (\d+)\s*$", re.MULTILINE)


class FixedAxes(Exception):
    """The export needs ``sizes`` (axis name -> size) fixed; ``reason`` says so with torch's words."""

    def __init__(self, sizes: dict[str, int], reason: str) -> None:
        super().__init__(reason)
        self.sizes, self.reason = sizes, reason


def fixed_axes_behind(error: BaseException, io: IOSpec) -> FixedAxes | None:
    """The axes ``error`` (or one of its causes) says the model fixes, named as in ``io``; ``None``
    when it says nothing of the kind, or names an axis that cannot be fixed."""
    axis_names = {(identifier(t.name), index): name for t in io.inputs for index, name in t.axes.items()}
    known = set(axis_names.values())
    for cause in causes(error):
        text = str(cause)
        sizes: dict[str, int] = {}
        reason = ""
        for match in _INFERRED.finditer(text):
            size, tensor, index = int(match[1]), match[2], int(match[3])
            name = axis_names.get((tensor, index))
            if name is None:
                return None
            sizes[name] = size
            reason = reason or match[0]
        if not sizes and "Suggested fixes:" in text:
            fixes = text.split("Suggested fixes:", 1)[1]
            for match in _SUGGESTED.finditer(fixes):
                if match[1] not in known:
                    return None
                sizes[match[1]] = int(match[2])
            reason = f"the model's code specialises {', '.join(sorted(sizes))}"
        if sizes:
            if any(name not in FIXABLE_AXES for name in sizes):
                return None
            size_text = ", ".join(f"{name} = {size}" for name, size in sorted(sizes.items()))
            return FixedAxes(sizes, f"torch.export: {reason} ({size_text})")
    return None


# torch.export's range for a dynamic dimension nothing in the model bounds: [0 or 2, infinity).
_UNBOUNDED_MIN = 2
# (min, max or None: no bound)
Range = tuple[int, int | None]


def intersect(a: Range, b: Range) -> Range:
    """The sizes both ranges allow."""
    high = a[1] if b[1] is None else b[1] if a[1] is None else min(a[1], b[1])
    return max(a[0], b[0]), high


def _bound(value: Any) -> int | None:
    """An int bound of a sympy range (None for infinity, torch's ``int_oo`` included)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isinf(number) else int(number)


def axis_ranges(program: Any, io: IOSpec) -> dict[str, Range]:
    """Axis name -> (min, max or None) for the dynamic axes of ``io`` that ``program`` (a
    ``torch.export.ExportedProgram`` traced with ``io``'s identifier names, in order) bounds: a max,
    or a min above 2. An axis several inputs share gets the intersection of their ranges."""
    constraints = getattr(program, "range_constraints", None) or {}
    signature = getattr(program, "graph_signature", None)
    if not constraints or signature is None:
        return {}
    user = [s.arg.name for s in signature.input_specs if getattr(s.kind, "name", "") == "USER_INPUT"]
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    found: dict[str, Range] = {}
    for spec, name in zip(io.inputs, user, strict=False):
        value = getattr(placeholders.get(name), "meta", {}).get("val")
        shape = getattr(value, "shape", None)
        if shape is None:
            continue
        for index, axis in spec.axes.items():
            if index >= len(shape):
                continue
            node = getattr(shape[index], "node", None)
            expr = getattr(node, "expr", None)
            if expr is None or expr not in constraints:
                continue  # a static size (the fixed-axes path) or an expression of other sizes
            bounds = constraints[expr]
            bound: Range = (_bound(bounds.lower) or 0, _bound(bounds.upper))
            found[axis] = intersect(found[axis], bound) if axis in found else bound
    return {axis: r for axis, r in found.items() if r[1] is not None or r[0] > _UNBOUNDED_MIN}
