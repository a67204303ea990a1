"""The compatibility matrix: one test per cell, generated from the zoo; no per-model code here.

A cell's row is written to the env's results file before the test decides, so a failing cell is
recorded and then reported by pytest. A cell whose exporter cannot be imported in this env
(Optimum's, in some envs) is recorded as n/a and skipped, with the import error as the reason.
"""

from __future__ import annotations

from collections import Counter

import pytest

from modelexport.matrix.cases import Case, build_cases
from modelexport.render.schema import BACKENDS
from modelexport.zoo import list_archs

CASES = build_cases()


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(f"{c.model}-{c.task}")) for c in CASES]
)
def test_cell(case: Case, run_case) -> None:
    row = run_case(case)
    if row.status() == "n/a":
        pytest.skip(
            f"{case.exporter} exporter not importable here: {row.export.error_type}: {row.export.error}"
        )
    failure = row.failure()
    assert failure is None, f"{case.id} failed at {failure[0]}: {failure[1]}"


def test_every_zoo_arch_and_task_has_a_cell_per_backend_and_optimum() -> None:
    columns = {(c.model, c.task): set() for c in CASES}
    for c in CASES:
        columns[(c.model, c.task)].add(c.backend if c.exporter == "modelexport" else c.exporter)
    for spec in list_archs():
        for task in spec.tasks:
            assert columns.get((spec.name, task)) == {*BACKENDS, "optimum"}, f"{spec.name} {task}"


def test_case_ids_are_unique_and_name_model_task_and_column() -> None:
    ids = Counter(c.id for c in CASES)
    assert not [i for i, n in ids.items() if n > 1]
    assert "bert-text-classification-dynamo" in ids and "bert-text-classification-optimum" in ids
