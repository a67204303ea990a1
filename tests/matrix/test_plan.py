"""The run plan: shards per env on N runners, predicted wall times, and the CI jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelexport.cli import main
from modelexport.matrix.cases import Case
from modelexport.matrix.plan import allocate, format_plan, jobs, plan_env, queued_wall
from modelexport.matrix.timing import CellTimes

RESULTS = Path(__file__).parents[2] / "matrix" / "results"


def _cases(n: int) -> list[Case]:
    return [Case(f"m{i}", "t", b, "modelexport") for i in range(n) for b in ("torchscript", "dynamo")]


def _times(cases: list[Case], envs: dict[str, float]) -> CellTimes:
    """Each env's dynamo cells take ``envs[env]`` seconds, TorchScript cells 1 s."""
    return CellTimes(
        {
            (env, c.id): (scale if c.backend == "dynamo" else 1.0) + (i % 3)
            for env, scale in envs.items()
            for i, c in enumerate(cases)
        }
    )


def test_an_env_plan_covers_its_cells_and_predicts_setup_plus_a_schedule():
    cases = _cases(10)
    times = _times(cases, {"e": 4.0})
    plan = plan_env("e", cases, times, shards=2, workers=1, setup=10.0)
    assert [s.index for s in plan.shards] == [1, 2] and sum(s.cells for s in plan.shards) == 20
    total = sum(times.seconds("e", c) for c in cases)
    assert plan.work_seconds == pytest.approx(total)
    for shard in plan.shards:  # one worker: the wall is the setup plus the shard's work
        assert shard.wall_seconds == pytest.approx(10.0 + shard.work_seconds)
    assert plan.wall_seconds == max(s.wall_seconds for s in plan.shards) and plan.untimed == 0


def test_shards_go_to_the_slowest_env_and_the_jobs_are_listed_longest_first():
    cases = _cases(12)
    times = _times(cases, {"slow": 20.0, "fast": 2.0})
    shared = allocate(["slow", "fast"], cases, times, runners=6, workers=2, setup=5.0)
    shards = {p.env: len(p.shards) for p in shared}
    assert sum(shards.values()) <= 3 * 6 and shards["slow"] > shards["fast"] >= 1
    walls = [queued_wall(allocate(["slow", "fast"], cases, times, n, 2, 5.0), n) for n in (2, 4, 6)]
    assert walls == sorted(walls, reverse=True) and walls[-1] < walls[0]
    listed = jobs(shared)
    assert {j["env"] for j in listed} == {"slow", "fast"} and len(listed) == sum(shards.values())
    by_job = {(s.env, f"{s.index}/{s.count}"): s.wall_seconds for p in shared for s in p.shards}
    order = [by_job[(j["env"], j["shard"])] for j in listed]
    assert order == sorted(order, reverse=True)
    assert listed[0]["env"] == "slow" and listed[0]["label"] == listed[0]["shard"].replace("/", "-of-")


def test_jobs_beyond_the_runners_queue_and_the_wall_is_their_schedule():
    cases = _cases(30)
    times = _times(cases, {"a": 9.0, "b": 8.0, "c": 7.0})
    one_each = [plan_env(env, cases, times, 1, 2, 5.0) for env in "abc"]
    a, b, c = (p.wall_seconds for p in one_each)
    # Three one-shard jobs on two runners, longest first: the third starts when the first runner frees.
    assert queued_wall(one_each, 2) == pytest.approx(max(a, b + c))
    shared = allocate(list("abc"), cases, times, 2, 2, 5.0)
    assert queued_wall(shared, 2) < queued_wall(one_each, 2)
    work = sum(p.work_seconds for p in shared)
    assert queued_wall(shared, 2) >= work / (2 * 2)  # two runners of two workers cannot beat the work


def test_the_text_plan_names_each_env_alone_and_all_together():
    cases = _cases(6)
    times = _times(cases, {"a": 8.0, "b": 3.0})
    alone = [plan_env(env, cases, times, 4, 2) for env in ("a", "b")]
    text = format_plan(alone, allocate(["a", "b"], cases, times, 4, 2), 4, 2)
    assert "Each env alone on 4 runners:" in text and "All 2 envs on 4 runners" in text
    assert "  a: 12 cells" in text and "predicted wall" in text


def test_plan_command_prints_the_plan_for_the_recorded_matrix():
    result = CliRunner().invoke(main, ["matrix", "plan", "--runners", "20", "--results", str(RESULTS)])
    assert result.exit_code == 0, result.output
    assert "All 5 envs on 20 runners" in result.output and "optimum-latest:" in result.output


def test_plan_command_json_lists_one_job_per_runner_used():
    args = ["matrix", "plan", "--runners", "7", "--env", "optimum-latest", "--env", "optimum-1.27", "--json"]
    result = CliRunner().invoke(main, [*args, "--results", str(RESULTS)])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert len(plan["jobs"]) == sum(e["shards"] for e in plan["shared"]) <= 3 * 7
    assert {j["env"] for j in plan["jobs"]} == {"optimum-latest", "optimum-1.27"}
    walls = sorted((w for e in plan["shared"] for w in e["shard_wall_seconds"]), reverse=True)
    assert plan["slowest_job_seconds"] == walls[0] <= plan["wall_seconds"]
    assert plan["wall_seconds"] >= sum(walls) / 7 - 1  # seven runners cannot beat the work


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runners", "0"], "Invalid value for '--runners'"),
        (["--runners", "3", "--results", "/nonexistent"], "no results directory at /nonexistent"),
        (["--runners", "3", "--env", "nonexistent"], "no results for env nonexistent"),
    ],
)
def test_plan_command_bad_input_exits_2_with_one_line(args, message):
    if "--results" not in args:
        args = [*args, "--results", str(RESULTS)]
    result = CliRunner().invoke(main, ["matrix", "plan", *args])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2
