"""The matrix's cases, from the zoo's data alone: one per (model, task, backend) for modelexport, plus
one per (model, task) for Optimum's own exporter."""

from __future__ import annotations

from dataclasses import dataclass

from ..common import BACKEND_NAMES
from ..render.schema import case_id
from ..verify import DEFAULT_ATOL, DEFAULT_RTOL

OPTIMUM_BACKEND = "torchscript"  # what Optimum's main_export uses


@dataclass(frozen=True)
class Case:
    """What one cell runs: a zoo model's task, exported by one exporter (and backend), checked at
    ``atol`` / ``rtol``."""

    model: str
    task: str
    backend: str
    exporter: str
    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL

    @property
    def id(self) -> str:
        return case_id(self.model, self.task, self.backend, self.exporter)


def build_cases() -> list[Case]:
    """Every cell of the matrix."""
    from ..zoo import list_archs

    cases = []
    for spec in list_archs():
        for task in spec.tasks:
            cases += [Case(spec.name, task, backend, "modelexport") for backend in BACKEND_NAMES]
            cases.append(Case(spec.name, task, OPTIMUM_BACKEND, "optimum"))
    return cases
