"""``modelexport matrix ...``: publish the compatibility matrix, record its expectations, plan its CI.

The main CLI adds :data:`matrix_group` as ``matrix``; ``python -m modelexport.cli_matrix`` runs it alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .errors import UserInputError
from .render import Results, cli_render, load_results
from .render.markdown import record_line, summary_line

RESULTS_HELP = "Directory of <env>.jsonl (and <env>.shard-I-of-N.jsonl) files written by matrix runs."
EXPECTED_HELP = "Directory of the <env>.txt expectation records."
_results = click.option(
    "--results",
    "results_dir",
    default="matrix/results",
    show_default=True,
    type=click.Path(file_okay=False),
    help=RESULTS_HELP,
)
_expected = click.option(
    "--expected",
    "expected_dir",
    default="matrix/expected",
    show_default=True,
    type=click.Path(file_okay=False),
    help=EXPECTED_HELP,
)


@click.group("matrix")
def matrix_group() -> None:
    """The compatibility matrix: render results, record expectations, plan CI runners."""


@matrix_group.command("render")
@_results
@click.option(
    "--out",
    "out_dir",
    default="matrix",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where RESULTS.md, results.json and index.html go.",
)
@_expected
@click.option(
    "--consolidate",
    is_flag=True,
    help="Also rewrite each env's rows into RESULTS/<env>.jsonl (compact) and delete the shard files.",
)
def render(results_dir: str, out_dir: str, expected_dir: str, consolidate: bool) -> None:
    """Merge RESULTS/*.jsonl into OUT/RESULTS.md, OUT/results.json and OUT/index.html, marking cells
    that differ from the EXPECTED records."""
    done = cli_render(results_dir, out_dir, expected_dir, fold_shards=consolidate)
    click.echo(summary_line(done.results))
    record = record_line(done.results)
    if record:
        click.echo(record)
    for path in done.written:
        click.echo(f"  wrote {path}")
    for path in done.consolidated:
        click.echo(f"  wrote {path} (merged)")
    for path in done.removed:
        click.echo(f"  removed {path} (merged into its env's file)")


@matrix_group.command("expect")
@click.option(
    "--env", "envs", multiple=True, help="Env to record (repeatable; default: every env in RESULTS)."
)
@_results
@_expected
def expect(envs: tuple[str, ...], results_dir: str, expected_dir: str) -> None:
    """Record each env's latest results as its expected cell statuses (EXPECTED/<env>.txt).

    Cells the results do not hold keep their line; cells no longer in the zoo are dropped."""
    from .matrix.cases import build_cases
    from .matrix.expectations import write_update

    results = _load(results_dir)
    chosen = _envs(results, envs, results_dir)
    known = [case.id for case in build_cases()]
    for env in chosen:
        update = write_update(expected_dir, env, [r for r in results.rows if r.env == env], known)
        click.echo(
            f"{env}: {update.written} cells recorded in {update.path} "
            f"({update.changed} changed, {update.added} added, {update.removed} removed)"
        )


@matrix_group.command("plan")
@click.option(
    "--runners",
    type=click.IntRange(min=1),
    required=True,
    help="CI runners (jobs run at once) to spread over.",
)
@click.option("--env", "envs", multiple=True, help="Env to plan (repeatable; default: every env in RESULTS).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="pytest-xdist workers per runner (default: this machine's cores).",
)
@click.option(
    "--setup-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="A shard run's fixed start-up (default: the measured SETUP_SECONDS of modelexport.matrix.plan).",
)
@_results
@click.option("--json", "as_json", is_flag=True, help="Print the plan and the CI jobs as JSON.")
def plan(
    runners: int,
    envs: tuple[str, ...],
    workers: int | None,
    setup_seconds: float | None,
    results_dir: str,
    as_json: bool,
) -> None:
    """Predict the matrix's wall time on RUNNERS runners from the recorded cell times: each env
    alone, and all envs sharing them (jobs queue longest first, RUNNERS at once), with the slowest
    shard."""
    from .matrix.cases import build_cases
    from .matrix.plan import SETUP_SECONDS, allocate, default_workers, format_plan, plan_env, plan_json
    from .matrix.timing import CellTimes

    results = _load(results_dir)
    chosen = _envs(results, envs, results_dir)
    times = CellTimes.from_rows(results.rows)
    cases = build_cases()
    size = workers or default_workers()
    setup = SETUP_SECONDS if setup_seconds is None else setup_seconds
    alone = [plan_env(env, cases, times, runners, size, setup) for env in chosen]
    shared = allocate(chosen, cases, times, runners, size, setup)
    if as_json:
        click.echo(json.dumps(plan_json(alone, shared, runners, size, setup), indent=2))
    else:
        click.echo(format_plan(alone, shared, runners, size))


def _envs(results: Results, envs: tuple[str, ...], results_dir: str) -> list[str]:
    """The envs asked for (default: every env with results), each of which must have results."""
    chosen = list(envs) or results.envs()
    missing = sorted(set(chosen) - set(results.envs()))
    if missing:
        raise UserInputError(
            f"no results for env {', '.join(missing)} in {results_dir}; it has {', '.join(results.envs())}.",
            hint="run that env first (tox -e ENV), or pass --env with one of those.",
        )
    return chosen


def _load(results_dir: str) -> Results:
    source = Path(results_dir)
    if not source.is_dir():
        raise UserInputError(f"no results directory at {source}.", hint="run the matrix first (tox -e ...).")
    results = load_results([source])
    if not results.rows:
        raise UserInputError(f"no results rows in {source}/*.jsonl.", hint="run the matrix first.")
    return results


if __name__ == "__main__":
    matrix_group()
