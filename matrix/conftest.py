"""The matrix's pytest plugin: isolated cells, their results file, the expectations record, shards
and progress.

- Rows go to ``matrix/results/<env>.jsonl`` as cells finish (``<env>.shard-I-of-N.jsonl`` with
  ``--shard I/N``), then the file is rewritten compact at the end of the run. The env name is
  ``$MODELEXPORT_MATRIX_ENV``, else tox's ``$TOX_ENV_NAME``, else ``local``.
- Each cell is compared with ``matrix/expected/<env>.txt``: recorded failures are strict xfails,
  regressions and unexpected passes fail, and the run ends with a summary and the update command.
- ``--shard I/N`` runs one of N shards balanced by the recorded cell times; every run takes its
  model × task groups longest first, and prints cells done / total with an estimate of the time left.
- Under xdist (``-n``, with ``--dist`` load or loadgroup), a group's cells go to one worker whole
  and in order: the dynamo cell's tag checks compare with the TorchScript export.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from modelexport.errors import UserInputError
from modelexport.matrix.cases import Case, build_cases
from modelexport.matrix.cell import CellSpec
from modelexport.matrix.environment import current_commit
from modelexport.matrix.expectations import (
    ExpectedCellFailure,
    RunComparison,
    load_record,
    mismatch_message,
    update_command,
    xfail_reason,
)
from modelexport.matrix.isolate import CellRunner, append_row
from modelexport.matrix.progress import Progress
from modelexport.matrix.shards import ShardSpec, group_of, select
from modelexport.matrix.timing import CellTimes, column_of
from modelexport.render.compact import compact_text, read_rows
from modelexport.render.expected import is_mismatch, verdict
from modelexport.render.results import load_results, merge
from modelexport.render.schema import TAGS, Row
from modelexport.render.tag_tally import NOT_IN_RUN, TORCHSCRIPT_FAILED
from modelexport.render.write import write_atomic

MATRIX = Path(__file__).parent
TIMES = pytest.StashKey[CellTimes]()
RECORD = pytest.StashKey["dict[str, Expectation] | None"]()
PROGRESS = pytest.StashKey[Progress]()
COMPARISON = pytest.StashKey[RunComparison]()
RUNNER = pytest.StashKey[CellRunner]()
STARTED = pytest.StashKey[float]()
# A cell's node id; pytest-xdist's loadgroup may append "@<group>" to it.
CELL_ID = re.compile(r"::test_cell\[(.+)\](?:@[^\]]*)?$")
_CONFIG: list[pytest.Config] = []  # the controller's config, for hooks that are not given it


def env_name() -> str:
    return os.environ.get("MODELEXPORT_MATRIX_ENV") or os.environ.get("TOX_ENV_NAME") or "local"


def results_dir() -> Path:
    root = os.environ.get("MODELEXPORT_MATRIX_RESULTS")
    return Path(root) if root else MATRIX / "results"


def expected_dir() -> Path:
    root = os.environ.get("MODELEXPORT_MATRIX_EXPECTED")
    return Path(root) if root else MATRIX / "expected"


def shard_of(config: pytest.Config) -> ShardSpec | None:
    text = config.getoption("--shard")
    return ShardSpec.parse(text) if text else None


def results_path(config: pytest.Config) -> Path:
    """This run's results file: the env's, or its shard's."""
    shard = shard_of(config)
    suffix = f".shard-{shard.label}" if shard else ""
    return results_dir() / f"{env_name()}{suffix}.jsonl"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("matrix")
    group.addoption(
        "--matrix-append",
        action="store_true",
        help="keep the env's existing rows (for re-running a subset); by default a run starts the file anew",
    )
    group.addoption("--cell-timeout", type=float, default=300.0, help="seconds before a cell is a Timeout")
    group.addoption(
        "--tag-survival",
        action="store_true",
        help="also measure how our exports' tags survive ONNX Runtime's optimizations, quantization "
        "and Optimum's decoder merging (a few seconds a cell; docs/tag-survival.md)",
    )
    group.addoption(
        "--shard",
        default=None,
        metavar="I/N",
        help="run shard I of N, balanced by recorded cell times; rows go to <env>.shard-I-of-N.jsonl",
    )


def _recorded_times() -> CellTimes:
    """Recorded seconds from the committed results and this run's results directory."""
    sources = {MATRIX / "results", results_dir()}
    return CellTimes.from_rows(load_results([p for p in sorted(sources) if p.is_dir()]).rows)


def pytest_configure(config: pytest.Config) -> None:
    try:
        shard_of(config)
    except UserInputError as e:
        pytest.exit(e.one_line(), returncode=2)
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        config.stash[TIMES] = CellTimes.from_json(worker["matrix_times"])
    else:
        config.stash[TIMES] = _recorded_times()
    config.stash[RECORD] = load_record(expected_dir(), env_name())
    if worker is None:
        _CONFIG[:] = [config]
    if worker is not None or not config.getoption("numprocesses", None):
        # Where cells run (an xdist worker, or a run without xdist): start the fork server and
        # its imports now, while pytest collects.
        config.stash[RUNNER] = CellRunner(timeout=config.getoption("--cell-timeout"))
        if not config.getoption("collectonly"):
            config.stash[RUNNER].warm_up()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:  # type: ignore[no-untyped-def]
    """Hand each xdist worker the controller's times, read before this run rewrote any file."""
    node.workerinput["matrix_times"] = node.config.stash[TIMES].to_json()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # type: ignore[no-untyped-def]
    """Send each model × task group to one worker whole, in order (``--dist`` load or loadgroup).

    xdist's own loadgroup finds a group in a suffix it appends to the node id, which pytest 9.2
    no longer keeps (pytest-xdist#1386): its groups silently fall apart. The group here comes from
    the cell's id itself."""
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    groups = {case.id: group_of(case) for case in build_cases()}

    class CellGroups(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            found = CELL_ID.search(nodeid)
            return groups.get(found[1], nodeid) if found else nodeid

    return CellGroups(config, log)


def pytest_sessionstart(session: pytest.Session) -> None:
    """On the controller only (not on xdist workers): start this run's results file anew."""
    config = session.config
    if hasattr(config, "workerinput"):
        return
    os.environ.setdefault("MODELEXPORT_COMMIT", current_commit(MATRIX) or "")
    path = results_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not config.getoption("--matrix-append") and not config.getoption("collectonly"):
        path.write_text("", encoding="utf-8")
    config.stash[COMPARISON] = RunComparison.start(env_name(), config.stash[RECORD], expected_dir())
    config.stash[STARTED] = time.monotonic()


def _case(item: pytest.Item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("case") if callspec else None
    return case if isinstance(case, Case) else None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep this shard's cells (after -k / -m), longest group first; mark recorded failures xfail."""
    cells = {case.id: (case, item) for item in items if (case := _case(item)) is not None}
    chosen = select([case for case, _ in cells.values()], env_name(), config.stash[TIMES], shard_of(config))
    keep = {case.id for case in chosen}
    dropped = [item for cell, (_, item) in cells.items() if cell not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    record = config.stash[RECORD] or {}
    for case in chosen:
        expected = record.get(case.id)
        if expected is not None and expected.status == "fail":
            reason = xfail_reason(expected)
            cells[case.id][1].add_marker(
                pytest.mark.xfail(strict=True, raises=ExpectedCellFailure, reason=reason)
            )
    items[:] = [item for item in items if _case(item) is None] + [cells[case.id][1] for case in chosen]
    if not hasattr(config, "workerinput"):
        _start_progress(config, [case.id for case in chosen])


def _start_progress(config: pytest.Config, cells: list[str]) -> None:
    if PROGRESS in config.stash:
        return
    times, env = config.stash[TIMES], env_name()
    workers = getattr(config.option, "numprocesses", None) or 1
    progress = Progress({cell: times.seconds_of(env, cell) for cell in cells}, workers=int(workers))
    progress.started = config.stash.get(STARTED, None)
    config.stash[PROGRESS] = progress


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:  # type: ignore[no-untyped-def]
    cells = [found[1] for nodeid in ids if (found := CELL_ID.search(nodeid))]
    _start_progress(node.config, cells)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """On the controller: count a finished cell, compare its row, show progress when due."""
    if report.when != "teardown":
        return
    row_data = dict(report.user_properties).get("matrix_row")
    config = _controller_config()
    if row_data is None or config is None:
        return
    row = Row.from_dict(row_data)  # type: ignore[arg-type]
    if COMPARISON in config.stash:
        config.stash[COMPARISON].add(row)
    if PROGRESS in config.stash:
        progress = config.stash[PROGRESS]
        progress.finish(row.case_id)
        line = progress.report()
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if line and reporter is not None:
            reporter.write_line(line)


def _controller_config() -> pytest.Config | None:
    config = _CONFIG[0] if _CONFIG else None
    return None if config is None or hasattr(config, "workerinput") else config


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    if COMPARISON in config.stash and config.stash[COMPARISON].verdicts:
        terminalreporter.section("matrix expectations")
        for line in config.stash[COMPARISON].summary():
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On the controller: rewrite this run's results file compact, one row per cell."""
    config = session.config
    if hasattr(config, "workerinput") or config.getoption("collectonly"):
        return
    path = results_path(config)
    if path.is_file() and path.stat().st_size:
        write_atomic(path, compact_text(merge(read_rows(path)).rows))


@pytest.fixture(scope="session")
def cell_runner(request: pytest.FixtureRequest) -> CellRunner:
    return request.config.stash[RUNNER]


@pytest.fixture(scope="session")
def cell_threads() -> int:
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, (os.cpu_count() or 1) // workers)


@pytest.fixture(scope="session")
def run_case(
    cell_runner: CellRunner, cell_threads: int, request: pytest.FixtureRequest
) -> Callable[[Case], Row]:
    """Run one case isolated, append its row to this run's results, return the row."""
    env, results = env_name(), results_path(request.config)
    workdir = MATRIX / ".work" / env
    exported: dict[tuple[str, str], str] = {}  # (model, task) -> this run's TorchScript export
    failed: set[tuple[str, str]] = set()  # (model, task) whose TorchScript export failed

    def run(case: Case) -> Row:
        # A group's cells run in order on one worker: dynamo's tag checks compare with TorchScript's.
        group = (case.model, case.task)
        other = exported.get(group) if column_of(case) == "dynamo" else None
        spec = CellSpec(
            case,
            env=env,
            workdir=str(workdir),
            commit=os.environ.get("MODELEXPORT_COMMIT") or None,
            threads=cell_threads,
            other_export=other,
            tag_survival=request.config.getoption("--tag-survival"),
        )
        row = cell_runner.run(spec)
        if column_of(case) == "torchscript":
            if row.export.ok:
                exported[group] = str(workdir / case.id)
            else:
                failed.add(group)
        tags = row.records.get(TAGS)
        if column_of(case) == "dynamo" and other is None and isinstance(tags, dict):
            tags["agreement_not_run"] = TORCHSCRIPT_FAILED if group in failed else NOT_IN_RUN
        append_row(results, row)
        return row

    return run


@pytest.fixture(scope="session")
def judge_cell(request: pytest.FixtureRequest) -> Callable[[pytest.Item, Row], None]:
    """Decide a cell's test from its row and its record: pass, skip (n/a), expected failure
    (xfail), or fail on any difference from the record."""
    record = request.config.stash[RECORD]
    env = env_name()

    def judge(item: pytest.Item, row: Row) -> None:
        item.user_properties.append(("matrix_row", row.to_dict()))
        expected = (record or {}).get(row.case_id)
        kind = verdict(expected, row) if record is not None else "unrecorded"
        if is_mismatch(kind, row):
            message = mismatch_message(row.case_id, kind, expected, row)
            pytest.fail(f"{message}. If that is right, record it: {update_command(env)}", pytrace=False)
        if row.status() == "n/a":
            pytest.skip(
                f"{row.exporter} exporter not importable here: {row.export.error_type}: {row.export.error}"
            )
        failure = row.failure()
        if failure is not None and expected is not None and expected.unstable:
            pytest.xfail(f"unstable, recorded: {expected.unstable}; this run: {failure[0]}: {failure[1]}")
        if failure is not None:
            raise ExpectedCellFailure(f"{failure[0]}: {failure[1]}")

    return judge
