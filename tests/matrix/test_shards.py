"""Recorded cell times, shards balanced by them, and the wall time of a schedule."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelexport.errors import UserInputError
from modelexport.matrix.cases import Case, build_cases
from modelexport.matrix.shards import (
    ShardSpec,
    group_of,
    group_seconds,
    longest_first,
    partition,
    schedule_wall,
    select,
)
from modelexport.matrix.timing import CELL_OVERHEAD, FALLBACK, CellTimes, recorded_seconds
from modelexport.render import load_results
from modelexport.render.schema import ExportOutcome, Row

RESULTS = Path(__file__).parents[2] / "matrix" / "results"


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return build_cases()


@pytest.fixture(scope="module")
def times() -> CellTimes:
    return CellTimes.from_rows(load_results([RESULTS]).rows)


def _row(case: str, export: float | None, cell: float | None = None, env: str = "e") -> Row:
    model, task, backend = case.split("-")
    row = Row(case, env, model, task, backend, "modelexport", ExportOutcome(True, seconds=export))
    row.seconds = cell
    return row


def test_a_cell_time_is_the_recorded_cell_seconds_else_the_export_plus_the_overhead():
    assert recorded_seconds(_row("m-t-dynamo", 5.0, 6.5)) == 6.5
    assert recorded_seconds(_row("m-t-dynamo", 5.0)) == 5.0 + CELL_OVERHEAD
    assert recorded_seconds(_row("m-t-dynamo", None)) == CELL_OVERHEAD


def test_an_untimed_cell_gets_its_own_time_elsewhere_then_its_columns_median_then_a_fallback():
    times = CellTimes.from_rows(
        [
            _row("a-t-dynamo", None, 4.0),
            _row("b-t-dynamo", None, 6.0),
            _row("c-t-dynamo", None, 20.0),
            _row("a-t-torchscript", None, 1.0, env="other"),
            _row("c-t-torchscript", None, 30.0, env="other"),
            _row("c-t-torchscript", None, 50.0, env="third"),
        ]
    )
    assert times.seconds("e", Case("a", "t", "dynamo", "modelexport")) == 4.0  # recorded
    assert times.seconds("e", Case("c", "t", "torchscript", "modelexport")) == 40.0  # its median elsewhere
    assert times.seconds("other", Case("c", "t", "dynamo", "modelexport")) == 20.0  # recorded in e
    assert times.seconds("e", Case("z", "t", "dynamo", "modelexport")) == 6.0  # median in e
    assert times.seconds("e", Case("z", "t", "torchscript", "modelexport")) == 30.0  # median anywhere
    assert times.seconds("e", Case("z", "t", "torchscript", "optimum")) == FALLBACK["optimum"]
    assert CellTimes.from_json(times.to_json()).recorded == times.recorded


@pytest.mark.parametrize("text", ["0/8", "9/8", "a/b", "3", "-1/2", "2/0"])
def test_a_bad_shard_is_a_one_line_usage_error(text):
    with pytest.raises(UserInputError, match=r"--shard takes I/N with 1 <= I <= N") as found:
        ShardSpec.parse(text)
    assert found.value.exit_code == 2


def test_a_shard_spec_parses_and_names_its_file():
    spec = ShardSpec.parse(" 2 / 8 ")
    assert (spec.index, spec.count, spec.label, str(spec)) == (2, 8, "2-of-8", "2/8")


def test_partition_deals_longest_first_to_the_least_loaded_shard():
    units = {"a": 7.0, "b": 5.0, "c": 4.0, "d": 3.0, "e": 2.0, "f": 1.0}
    assert longest_first(units) == ["a", "b", "c", "d", "e", "f"]
    assert partition(units, 2) == [["a", "d", "f"], ["b", "c", "e"]]  # 11 and 11
    assert partition(units, 1) == [["a", "b", "c", "d", "e", "f"]]
    assert partition({"x": 1.0}, 3) == [["x"], [], []]


def test_a_schedule_on_workers_takes_each_job_to_the_first_free_worker():
    assert schedule_wall([4.0, 3.0, 2.0, 1.0], 2) == 5.0
    assert schedule_wall([4.0, 3.0, 2.0, 1.0], 1) == 10.0
    assert schedule_wall([], 2) == 0.0


@pytest.mark.parametrize("count", [2, 8, 20])
def test_shards_of_the_matrix_are_disjoint_cover_every_cell_and_keep_groups_whole(cases, times, count):
    shards = [select(cases, "optimum-latest", times, ShardSpec(i, count)) for i in range(1, count + 1)]
    ids = [c.id for shard in shards for c in shard]
    assert sorted(ids) == sorted(c.id for c in cases) and len(ids) == len(set(ids))
    groups = [{group_of(c) for c in shard} for shard in shards]
    assert sum(len(g) for g in groups) == len({group_of(c) for c in cases}), "a group split across shards"


def test_every_run_takes_its_groups_longest_first(cases, times):
    chosen = select(cases, "optimum-latest", times, ShardSpec(3, 8))
    units = group_seconds(chosen, "optimum-latest", times)
    order = list(dict.fromkeys(group_of(c) for c in chosen))
    assert [units[g] for g in order] == sorted(units.values(), reverse=True)


def test_shards_at_8_are_within_15_percent_of_the_mean_by_recorded_times(cases, times):
    for env in ("optimum-latest", "transformers-latest"):
        totals = [
            sum(times.seconds(env, c) for c in select(cases, env, times, ShardSpec(i, 8)))
            for i in range(1, 9)
        ]
        assert max(totals) <= 1.15 * (sum(totals) / 8), (env, totals)
