"""The CI workflow (ci/workflows/matrix.yml) fits the planner and the plugin it drives: the jobs it
fans out are the plan's, at most RUNNERS at once, each writing the results file the publish job
merges."""

from __future__ import annotations

from pathlib import Path

import yaml

from modelexport.matrix.cases import Case
from modelexport.matrix.plan import allocate, jobs
from modelexport.matrix.shards import ShardSpec
from modelexport.matrix.timing import CellTimes

WORKFLOW = Path(__file__).parents[2] / "ci" / "workflows" / "matrix.yml"


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def test_the_shard_jobs_are_the_plans_run_at_most_runners_at_once():
    flow = _workflow()
    plan_step = next(s for s in flow["jobs"]["plan"]["steps"] if s.get("id") == "plan")
    assert 'modelexport matrix plan --runners "$RUNNERS" --workers 2 --json' in plan_step["run"]
    assert '["jobs"]' in plan_step["run"]
    strategy = flow["jobs"]["matrix"]["strategy"]
    assert strategy["matrix"]["include"] == "${{ fromJSON(needs.plan.outputs.jobs) }}"
    assert strategy["max-parallel"] == "${{ fromJSON(github.event.inputs.runners || '20') }}"
    assert flow["env"]["RUNNERS"] == "${{ github.event.inputs.runners || '20' }}"
    assert strategy["fail-fast"] is False


def test_each_job_uploads_the_file_its_shard_writes_and_publish_merges_them():
    flow = _workflow()
    steps = flow["jobs"]["matrix"]["steps"]
    run = next(s["run"] for s in steps if "tox -e" in s.get("run", ""))
    assert run == "tox -e ${{ matrix.env }} -- --shard ${{ matrix.shard }}"
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "matrix/results/${{ matrix.env }}.shard-${{ matrix.label }}.jsonl"
    cases = [Case(f"m{i}", "t", b, "modelexport") for i in range(8) for b in ("torchscript", "dynamo")]
    times = CellTimes({(e, c.id): 1.0 + i for e in ("a", "b") for i, c in enumerate(cases)})
    for job in jobs(allocate(["a", "b"], cases, times, 3, 2, 1.0)):
        # The label in the artifact's path is the one the plugin names the shard's file with.
        assert job["label"] == ShardSpec.parse(job["shard"]).label
    publish = [s.get("run", "") for s in flow["jobs"]["publish"]["steps"]]
    assert "tox -e render -- --consolidate" in publish
