"""``modelexport diff DIR``: where an export departs from PyTorch, module by module.

Exit codes: 0 nothing diverges, 1 something does, 2 bad input (a one-line error).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import UserInputError
from ..verify import DEFAULT_ATOL, DEFAULT_RTOL


def _tolerance(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not value >= 0 or value == float("inf"):
        raise UserInputError(
            f"--{param.name} must be a finite number >= 0, not {value}.", hint="e.g. --atol 1e-4."
        )
    return value


@click.command("diff")
@click.argument("directory")
@click.option(
    "--model",
    "source",
    default=None,
    help="The model the export was made from (default: from export_metadata.json).",
)
@click.option(
    "--task", default=None, help="The export's task (default: from export_metadata.json, else inferred)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--node-data",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write per-node error as Model Explorer node data.",
)
@click.option(
    "--atol",
    type=float,
    default=DEFAULT_ATOL,
    show_default=True,
    callback=_tolerance,
    help="Absolute tolerance.",
)
@click.option(
    "--rtol",
    type=float,
    default=DEFAULT_RTOL,
    show_default=True,
    callback=_tolerance,
    help="Relative tolerance.",
)
@click.option(
    "--check",
    default=None,
    help="The input set to run (default: the padded batch the export was verified on).",
)
@click.option("--all", "everything", is_flag=True, help="List every module, not only where the error is.")
def diff_command(
    directory: str,
    source: str | None,
    task: str | None,
    as_json: bool,
    node_data: str | None,
    atol: float,
    rtol: float,
    check: str | None,
    everything: bool,
) -> None:
    """Run DIRECTORY's ONNX files and PyTorch on the same inputs and name the first module whose
    outputs differ beyond tolerance (with its own error, apart from what it was handed)."""
    from .directory import diff_export
    from .node_data import write_node_data
    from .text import render

    if node_data is not None and not Path(node_data).resolve().parent.is_dir():
        raise UserInputError(
            f"cannot write --node-data {node_data}: no such directory.",
            hint="pass a path in an existing directory.",
        )
    report = diff_export(directory, model=source, task=task, atol=atol, rtol=rtol, check=check)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=1))
    else:
        click.echo(render(report, everything))
    if node_data is not None:
        for path in write_node_data(report, Path(node_data)):
            click.echo(f"node data for Model Explorer: {path}", err=as_json)
    sys.exit(1 if report.first is not None else 0)
