"""The ``modelexport`` command: a thin click layer over the API.

Exit codes: 0 ok, 1 an export, verification or compatibility failure, 2 bad usage or input.
Errors print one line (what is wrong, how to fix it); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click

from .cli_matrix import matrix_group
from .diagnose.cli import diff_command
from .errors import ModelExportError, Terminated, first_line
from .hierarchy.cli import hierarchy_command
from .optimize.cli import optimize_command, quantize_command
from .version import __version__

_DEBUG_ENV = "MODELEXPORT_DEBUG"  # set to 1: as --debug
_DEBUG_META = "modelexport.debug"


def _traceback_if_debug(ctx: click.Context) -> None:
    """With --debug, the traceback of the error being handled goes to stderr (the exit code stays)."""
    if ctx.meta.get(_DEBUG_META) or os.environ.get(_DEBUG_ENV):
        traceback.print_exc()


def _fail(message: str, code: int) -> NoReturn:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


class _Group(click.Group):
    """Turns every error into one line and an exit code, unless --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModelExportError as e:
            _traceback_if_debug(ctx)
            _fail(e.one_line(), e.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except click.ClickException as e:  # a usage error click found: its own message, our format
            _traceback_if_debug(ctx)
            _fail(e.format_message(), e.exit_code)
        except BrokenPipeError:  # `modelexport hierarchy out | head`: the reader left, not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except KeyboardInterrupt:
            _fail("interrupted; nothing was written.", 130)
        except Terminated:
            _fail("terminated (SIGTERM); nothing was written.", 143)
        except Exception as e:
            _traceback_if_debug(ctx)
            first = first_line(e)
            _fail(f"unexpected {type(e).__name__}: {first} (rerun with --debug for the traceback)", 1)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="modelexport")
@click.option("--debug", is_flag=True, help="Show full tracebacks and library logs.")
def main(debug: bool) -> None:
    """Export Hugging Face models to Optimum-ready ONNX with module hierarchy tags."""
    if debug:
        click.get_current_context().meta[_DEBUG_META] = True
        logging.basicConfig(level=logging.INFO)
    else:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _output_dir(output: str) -> Path:
    path = Path(output)
    if path.suffix == ".onnx":
        directory = path.parent / path.stem
        click.echo(f"writing a directory: {directory} (Optimum loads directories, not single files)")
        return directory
    return path


@main.command()
@click.argument("model")
@click.argument("output")
@click.option(
    "--task", default=None, help="Optimum task name; inferred from config.architectures if omitted."
)
@click.option(
    "--exporter",
    type=click.Choice(["auto", "torchscript", "dynamo"]),
    default="auto",
    show_default=True,
    help="auto: TorchScript, then dynamo if TorchScript fails to capture or verify.",
)
@click.option("--opset", type=int, default=None, help="ONNX opset (default: 17 torchscript, 18 dynamo).")
@click.option(
    "--clean-onnx", is_flag=True, help="No node metadata in model.onnx (hierarchy.json is still written)."
)
@click.option(
    "--no-config", is_flag=True, help="Skip config/tokenizer files: Optimum will NOT load the result."
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists and is not empty.")
@click.option(
    "--atol", type=float, default=1e-4, show_default=True, help="Verification tolerance (absolute)."
)
@click.option(
    "--rtol", type=float, default=1e-4, show_default=True, help="Verification tolerance (relative)."
)
@click.option(
    "--trust-remote-code", is_flag=True, help="Run the model repository's own code (review it first)."
)
@click.option(
    "--separate-decoders",
    is_flag=True,
    help="Encoder-decoders with past: decoder_model.onnx and decoder_with_past_model.onnx instead of "
    "one decoder_model_merged.onnx (the decoder's weights are then stored twice).",
)
def export(
    model: str,
    output: str,
    task: str | None,
    exporter: str,
    opset: int | None,
    clean_onnx: bool,
    no_config: bool,
    force: bool,
    atol: float,
    rtol: float,
    trust_remote_code: bool,
    separate_decoders: bool,
) -> None:
    """Export MODEL (a Hub id or a local directory) to the directory OUTPUT."""
    from .export import run_export
    from .packaging import files_with_sizes, format_size

    if no_config:
        click.secho(
            "warning: --no-config: Optimum will not be able to load this export.", fg="yellow", err=True
        )
    started = time.perf_counter()
    out_dir, status = run_export(
        model,
        _output_dir(output),
        task=task,
        exporter=exporter,
        opset=opset,
        clean_onnx=clean_onnx,
        atol=atol,
        rtol=rtol,
        force=force,
        with_config=not no_config,
        trust_remote_code=trust_remote_code,
        merge_decoders=not separate_decoders,
        progress=lambda stage: click.echo(f"  {stage} ...", err=True),
    )
    click.echo(f"exported {model} ({status.task}, {status.exporter}) to {out_dir}")
    if status.fallback_from:
        click.echo(f"  (exporter auto: torchscript failed, dynamo used: {status.fallback_from})")
    if status.fixed_image_size:
        click.echo(
            "  (pixel_values has a fixed height and width, the image processor's: the graph failed at "
            "another size; see fixed_image_size in export_metadata.json)"
        )
    if status.fixed_axes:
        sizes = ", ".join(f"{axis} = {size}" for axis, size in status.fixed_axes["sizes"].items())
        click.echo(
            f"  (fixed at one size, as the model's code fixes it: {sizes}; inputs must have that size; "
            "see fixed_axes in export_metadata.json)"
        )
    if status.axis_ranges:
        bounds = ", ".join(_bound_text(axis, r) for axis, r in status.axis_ranges.items())
        click.echo(
            f"  (bounded by the model's code, as torch.export found: {bounds}; inputs beyond are not "
            "supported; see axis_ranges in export_metadata.json)"
        )
    for name, size in files_with_sizes(out_dir):
        click.echo(f"  {name:<28} {format_size(size):>10}")
    verification = status.verification or {}
    click.echo(
        f"verified against PyTorch on inputs of new shapes: max|Δ| = "
        f"{verification.get('max_abs_diff', float('nan')):.2e} (atol {atol:g}, rtol {rtol:g})"
    )
    for name, shapes in _checked_shapes(verification).items():
        click.echo(f"  {name:<14} {shapes}")
    if status.hierarchy:
        h = status.hierarchy
        click.echo(
            f"hierarchy: {h['nodes_total']} nodes tagged with their module: {h['nodes_from_source']} from the "
            f"exporter's scopes, {h['nodes_inherited']} inherited from neighbours, {h['nodes_on_root']} on the "
            f"top-level forward{' (tags stripped: --clean-onnx; see hierarchy.json)' if clean_onnx else ''}"
        )
    click.echo(f"done in {time.perf_counter() - started:.1f} s")


def _bound_text(axis: str, bound: dict[str, Any]) -> str:
    """``sequence_length 2..512``, ``num_channels = 3``, ``batch_size >= 2``."""
    low, high = bound.get("min"), bound.get("max")
    if high is None:
        return f"{axis} >= {low}"
    return f"{axis} = {low}" if low == high else f"{axis} {low}..{high}"


def _checked_shapes(verification: dict[str, Any]) -> dict[str, str]:
    """Input set -> the shapes of its inputs (of its first file; past key values left out)."""
    shown: dict[str, str] = {}
    for check in verification.get("checks", []):
        if check["check"] not in shown:
            shown[check["check"]] = ", ".join(
                f"{k} {'×'.join(map(str, v))}"
                for k, v in check["input_shapes"].items()
                if not k.startswith("past_key_values")
            )
    return shown


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--model",
    "source",
    default=None,
    help="The source model, to compare with PyTorch (default: the export's own source, if local).",
)
def validate(directory: str, source: str | None) -> None:
    """Check that Optimum's ORTModelFor<Task> loads DIRECTORY and runs a real sample (generative
    tasks: a short greedy generation), compared with PyTorch when the source model is at hand."""
    from .validate import check_optimum

    result = check_optimum(directory, source=source)
    for line in result.checked:
        click.echo(f"  {line}")
    if not result.ok:
        _fail(f"not compatible with Optimum ({result.ort_class or 'ORTModel'}): {result.reason}", 1)
    click.echo(f"ok: {result.ort_class}.from_pretrained('{directory}') runs; outputs {result.output_shapes}")


@main.command("add-config")
@click.argument("onnx_file")
@click.argument("model")
@click.option("--force", is_flag=True, help="Overwrite config files that already exist beside ONNX_FILE.")
@click.option("--trust-remote-code", is_flag=True)
def add_config(onnx_file: str, model: str, force: bool, trust_remote_code: bool) -> None:
    """Save MODEL's config and preprocessor files beside an existing ONNX_FILE."""
    from .legacy import add_config_to_existing_model

    written = add_config_to_existing_model(onnx_file, model, force=force, trust_remote_code=trust_remote_code)
    click.echo(f"added {len(written)} files beside {onnx_file}: {', '.join(p.name for p in written)}")


@main.group()
def zoo() -> None:
    """The offline tiny-model zoo the tests and the matrix use."""


@zoo.command("list")
def zoo_list() -> None:
    """List the zoo's architectures and their tasks."""
    from .zoo import zoo_list_rows, zoo_summary

    for name, modality, tasks in zoo_list_rows():
        click.echo(f"{name:<30} {modality:<36} {tasks}")
    click.echo(zoo_summary().describe())


@zoo.command("build")
@click.argument("name")
@click.argument("directory")
@click.option("--task", default=None, help="The head to build (default: the architecture's first task).")
def zoo_build(name: str, directory: str, task: str | None) -> None:
    """Build the tiny model NAME into DIRECTORY."""
    from .zoo import ARCHS, build

    if name not in ARCHS:
        _fail(f"unknown zoo model '{name}'. Fix: run 'modelexport zoo list' for the names.", 2)
    spec = ARCHS[name]
    if task is not None and task not in spec.all_tasks:
        _fail(f"'{name}' has no task '{task}'. Fix: use one of {', '.join(spec.all_tasks)}.", 2)
    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        _fail(f"'{directory}' exists and is not an empty directory. Fix: choose a new path.", 2)
    path = build(name, target, task)
    click.echo(f"built {name} ({task or spec.all_tasks[0]}) in {path}")


main.add_command(hierarchy_command, "hierarchy")
main.add_command(matrix_group, "matrix")
main.add_command(diff_command, "diff")
main.add_command(optimize_command, "optimize")
main.add_command(quantize_command, "quantize")
