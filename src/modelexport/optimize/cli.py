"""``modelexport optimize`` and ``modelexport quantize``: thin click commands over the API."""

from __future__ import annotations

import time
from typing import Any

import click

from .agreement import DEFAULT_MIN_COSINE
from .fusions import LEVELS
from .run import RewriteStatus
from .sensitivity import ModuleError, render


def _progress(stage: str) -> None:
    click.echo(f"  {stage} ...", err=True)


def _tags_line(status: RewriteStatus) -> list[str]:
    lines = []
    for file, t in status.tags.items():
        lines.append(
            f"  {file}: {t['nodes']} nodes, every one tagged: {t['kept'] + t['restored']} kept their module, "
            f"{t['fused']} fused (the lowest common module of the nodes they replaced; {t['replaced']} "
            f"original nodes are gone), {t['inherited']} new ones from their neighbours, "
            f"{t['unresolved']} on the root"
        )
    return lines


def _files_line(record: dict[str, Any]) -> list[str]:
    return [
        f"  {file}: {r['nodes_before']} -> {r['nodes_after']} nodes"
        for file, r in record.get("files", {}).items()
    ]


@click.command("optimize")
@click.argument("directory", type=click.Path(file_okay=False))
@click.argument("output")
@click.option(
    "--level",
    type=click.Choice(list(LEVELS)),
    default="O2",
    show_default=True,
    help="; ".join(f"{n}: {lvl.summary}" for n, lvl in LEVELS.items()),
)
@click.option("--atol", type=float, default=None, help="Verification tolerance (default: the level's).")
@click.option("--rtol", type=float, default=None, help="Verification tolerance (default: the level's).")
@click.option("--model", default=None, help="The model the export was made from (default: its metadata's).")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists and is not empty.")
@click.option(
    "--trust-remote-code", is_flag=True, help="Run the model repository's own code (review it first)."
)
def optimize_command(
    directory: str,
    output: str,
    level: str,
    atol: float | None,
    rtol: float | None,
    model: str | None,
    force: bool,
    trust_remote_code: bool,
) -> None:
    """Optimize the export DIRECTORY with ONNX Runtime into OUTPUT, every node still tagged."""
    from .api import optimize_export

    started = time.perf_counter()
    status = optimize_export(
        directory, output, level=level, atol=atol, rtol=rtol, force=force, model=model,
        trust_remote_code=trust_remote_code, progress=_progress,
    )  # fmt: skip
    record, verification = status.record, status.verification
    click.echo(f"optimized {directory} at {level} to {status.output_dir}")
    for line in _files_line(record):
        click.echo(line)
    for line in _tags_line(status):
        click.echo(line)
    click.echo(
        f"verified against PyTorch: max|Δ| = {verification['max_abs_diff']:.2e} "
        f"(atol {record['atol']:g}, rtol {record['rtol']:g})"
    )
    click.echo(f"done in {time.perf_counter() - started:.1f} s")


def _print_sensitivity(rows: dict[str, list[ModuleError]]) -> None:
    click.echo("per-module error of the quantized export against the fp32 one (worst local first):")
    for file, modules in rows.items():
        if len(rows) > 1:
            click.echo(f"  == {file}")
        for line in render(modules):
            click.echo(f"  {line}")


@click.command("quantize")
@click.argument("directory", type=click.Path(file_okay=False))
@click.argument("output")
@click.option(
    "--exclude-module",
    "exclude",
    multiple=True,
    metavar="GLOB",
    help="Keep the nodes of modules matching GLOB (and below them) in fp32; repeatable. '*' also "
    "matches dots: 'encoder.layer.*.output.dense' takes attention.output.dense too.",
)
@click.option(
    "--per-tensor",
    is_flag=True,
    help="One scale per weight tensor (default: one per output channel, more accurate).",
)
@click.option(
    "--reduce-range/--full-range",
    default=None,
    help="7-bit or 8-bit weights (default: 7-bit on x86 CPUs without VNNI, whose int8 products saturate).",
)
@click.option(
    "--min-cosine",
    type=float,
    default=DEFAULT_MIN_COSINE,
    show_default=True,
    help="Refuse the result if an output's cosine similarity with PyTorch is lower.",
)
@click.option("--sensitivity", is_flag=True, help="Print each module's error against the fp32 export.")
@click.option("--model", default=None, help="The model the export was made from (default: its metadata's).")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists and is not empty.")
@click.option(
    "--trust-remote-code", is_flag=True, help="Run the model repository's own code (review it first)."
)
def quantize_command(
    directory: str,
    output: str,
    exclude: tuple[str, ...],
    per_tensor: bool,
    reduce_range: bool | None,
    min_cosine: float,
    sensitivity: bool,
    model: str | None,
    force: bool,
    trust_remote_code: bool,
) -> None:
    """Quantize the export DIRECTORY to dynamic int8 into OUTPUT, every node still tagged."""
    from .api import quantize_export

    started = time.perf_counter()
    status = quantize_export(
        directory, output, exclude_modules=exclude, per_channel=not per_tensor, reduce_range=reduce_range,
        min_cosine=min_cosine, sensitivity=_print_sensitivity if sensitivity else False, force=force,
        model=model, trust_remote_code=trust_remote_code, progress=_progress,
    )  # fmt: skip
    record, verification = status.record, status.verification
    click.echo(f"quantized {directory} (dynamic int8) to {status.output_dir}")
    for file, r in record.get("files", {}).items():
        ops = ", ".join(f"{n} {op}" for op, n in r["integer_ops"].items()) or "no integer ops"
        globs = ", ".join(f"'{g}' {n} module(s)" for g, n in r["exclude_modules"].items())
        click.echo(
            f"  {file}: {ops}; {r['excluded_nodes']} nodes left in fp32" + (f" ({globs})" if globs else "")
        )
    for line in _tags_line(status):
        click.echo(line)
    click.echo(
        f"against PyTorch: max|Δ| = {verification['max_abs_diff']:.3g}, lowest cosine similarity "
        f"{verification['min_cosine']:.5f} (required >= {record['min_cosine']:g})"
    )
    click.echo(f"done in {time.perf_counter() - started:.1f} s")
