"""``modelexport matrix ...``: publish the compatibility matrix from the per-env results files.

The main CLI adds :data:`matrix_group` as ``matrix``; ``python -m modelexport.cli_matrix`` runs it alone.
"""

from __future__ import annotations

import click

from .render import cli_render, load_results
from .render.markdown import summary_line


@click.group("matrix")
def matrix_group() -> None:
    """The compatibility matrix: merge per-env results and render them."""


@matrix_group.command("render")
@click.option(
    "--results",
    "results_dir",
    default="matrix/results",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Directory of <env>.jsonl files written by the matrix runs.",
)
@click.option(
    "--out",
    "out_dir",
    default="matrix",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where RESULTS.md, results.json and index.html go.",
)
def render(results_dir: str, out_dir: str) -> None:
    """Merge RESULTS/*.jsonl into OUT/RESULTS.md, OUT/results.json and OUT/index.html."""
    written = cli_render(results_dir, out_dir)
    click.echo(summary_line(load_results([results_dir])))
    for path in written:
        click.echo(f"  wrote {path}")


if __name__ == "__main__":
    matrix_group()
