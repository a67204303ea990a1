"""The matrix's cases, from the zoo's data alone.

One case per (model, task, backend) for modelexport, plus one per (model, task) for Optimum's own
exporter; a zoo architecture's tolerance (``ArchSpec.atol``) is the only per-model input.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelexport.report.cell import DEFAULT_TOLERANCE
from modelexport.report.schema import BACKENDS, case_id
from modelexport.zoo import list_archs

OPTIMUM_BACKEND = "torchscript"  # what Optimum's main_export uses


@dataclass(frozen=True)
class Case:
    model: str
    task: str
    backend: str
    exporter: str
    atol: float

    @property
    def id(self) -> str:
        return case_id(self.model, self.task, self.backend, self.exporter)


def build_cases() -> list[Case]:
    """Every cell of the matrix, from the zoo's data alone."""
    cases = []
    for spec in list_archs():
        atol = spec.atol or DEFAULT_TOLERANCE
        for task in spec.tasks:
            cases += [Case(spec.name, task, backend, "modelexport", atol) for backend in BACKENDS]
            cases.append(Case(spec.name, task, OPTIMUM_BACKEND, "optimum", atol))
    return cases


CASES = build_cases()
