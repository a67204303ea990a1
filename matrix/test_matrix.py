"""The compatibility matrix: one test per cell, generated from the zoo; no per-model code here.

A cell's row is written to the run's results file before the test decides, so every cell is
recorded. The test then compares the row with the env's record (``matrix/expected/<env>.txt``): a
cell that matches passes, or is an expected failure (strict xfail) or a skip (its exporter cannot
be imported in this env); a regression or an unexpected pass fails (conftest.py).
"""

from __future__ import annotations

from collections import Counter

import pytest

from modelexport.matrix.cases import Case, build_cases
from modelexport.matrix.shards import group_of
from modelexport.render.schema import BACKENDS
from modelexport.zoo import list_archs

CASES = build_cases()


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(group_of(c))) for c in CASES]
)
def test_cell(case: Case, run_case, judge_cell, request) -> None:
    judge_cell(request.node, run_case(case))


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
