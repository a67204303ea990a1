"""The matrix's isolated cell runner and its results file.

Rows go to ``matrix/results/<env>.jsonl`` as cells finish;
the env name is ``$MODELEXPORT_MATRIX_ENV``, else tox's ``$TOX_ENV_NAME``, else ``local``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from modelexport.matrix.cases import Case
from modelexport.matrix.cell import CellSpec
from modelexport.matrix.environment import current_commit
from modelexport.matrix.isolate import CellRunner, append_row
from modelexport.render.schema import Row

MATRIX = Path(__file__).parent


def env_name() -> str:
    return os.environ.get("MODELEXPORT_MATRIX_ENV") or os.environ.get("TOX_ENV_NAME") or "local"


def results_path() -> Path:
    root = os.environ.get("MODELEXPORT_MATRIX_RESULTS")
    return (Path(root) if root else MATRIX / "results") / f"{env_name()}.jsonl"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("matrix")
    group.addoption(
        "--matrix-append",
        action="store_true",
        help="keep the env's existing rows (for re-running a subset); by default a run starts the file anew",
    )
    group.addoption("--cell-timeout", type=float, default=300.0, help="seconds before a cell is a Timeout")


def pytest_sessionstart(session: pytest.Session) -> None:
    """On the controller only (not on xdist workers): start this env's results file anew."""
    config = session.config
    if hasattr(config, "workerinput"):
        return
    os.environ.setdefault("MODELEXPORT_COMMIT", current_commit(MATRIX) or "")
    path = results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not config.getoption("--matrix-append") and not config.getoption("collectonly"):
        path.write_text("", encoding="utf-8")


@pytest.fixture(scope="session")
def cell_runner(request: pytest.FixtureRequest) -> CellRunner:
    return CellRunner(timeout=request.config.getoption("--cell-timeout"))


@pytest.fixture(scope="session")
def cell_threads() -> int:
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, (os.cpu_count() or 1) // workers)


@pytest.fixture(scope="session")
def run_case(cell_runner: CellRunner, cell_threads: int) -> Callable[[Case], Row]:
    """Run one case isolated, append its row to the env's results, return the row."""
    env, results = env_name(), results_path()
    workdir = MATRIX / ".work" / env

    def run(case: Case) -> Row:
        spec = CellSpec(
            case,
            env=env,
            workdir=str(workdir),
            commit=os.environ.get("MODELEXPORT_COMMIT") or None,
            threads=cell_threads,
        )
        row = cell_runner.run(spec)
        append_row(results, row)
        return row

    return run
