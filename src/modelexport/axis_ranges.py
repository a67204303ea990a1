"""Dynamic axes the model's code bounds: what the pipeline records and how it keeps its check
inputs within them.

torch.export keeps an axis dynamic when the model's code only bounds it (CLIP's text embeddings
refuse more tokens than their positions), and records the bound in its range constraints
(:func:`modelexport.backends.fixed_axes.axis_ranges`). The export records every such bound in
``export_metadata.json`` (``axis_ranges``). Where a batch or sequence bound lies below the size of
the check inputs, which the model's config did not reveal, the check inputs are made again no
larger than the bound (:class:`AxisLimits`), and the metadata says so (``limits_checks``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .backends.fixed_axes import Range, intersect
from .inputs import FIXABLE_AXES
from .parts import Plan


class AxisLimits(Exception):
    """The check inputs exceed what the model's code allows: ``sizes`` (axis -> largest size)."""

    def __init__(self, sizes: Mapping[str, int]) -> None:
        self.sizes = dict(sizes)
        bounds = ", ".join(f"{axis} <= {size}" for axis, size in sorted(self.sizes.items()))
        super().__init__(f"torch.export: the model's code bounds {bounds}")


def merged(ranges: Iterable[Mapping[str, Range]]) -> dict[str, Range]:
    """One range per axis over several files' ranges: their intersection."""
    out: dict[str, Range] = {}
    for found in ranges:
        for axis, bound in found.items():
            out[axis] = intersect(out[axis], bound) if axis in out else bound
    return out


def limits_needed(plan: Plan, ranges: Mapping[str, Range]) -> dict[str, int]:
    """Batch / sequence axes whose size in some check input set of ``plan`` exceeds its bound in
    ``ranges``: axis -> the bound."""
    needed: dict[str, int] = {}
    for part in plan.parts:
        for feeds in part.checks.values():
            for spec in part.io.inputs:
                value = feeds.get(spec.name)
                shape = getattr(value, "shape", None)
                if shape is None:
                    continue
                for index, axis in spec.axes.items():
                    high = ranges.get(axis, (0, None))[1]
                    if (
                        axis in FIXABLE_AXES
                        and high is not None
                        and index < len(shape)
                        and shape[index] > high
                    ):
                        needed[axis] = high
    return needed


def ranges_record(
    ranges: Mapping[str, Range], limits: Mapping[str, int], backend: str
) -> dict[str, Any] | None:
    """``export_metadata.json``'s ``axis_ranges``: per bounded axis its ``min``, ``max`` (null: none),
    whether the check inputs were limited to it, and the backend that found it."""
    if not ranges:
        return None
    return {
        axis: {"min": low, "max": high, "limits_checks": axis in limits, "by": backend}
        for axis, (low, high) in sorted(ranges.items())
    }
