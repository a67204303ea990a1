"""The checks a matrix cell runs on an export directory, each returning a schema record.

They treat every exporter's output alike (ours and Optimum's): files present, plain ONNX Runtime vs
PyTorch, and Optimum's ``ORTModelFor<Task>`` vs PyTorch, all at the same inputs of a shape other
than the traced one. Nothing here raises for a failed check: a failure is a record.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..render.schema import FilesCheck, LoadCheck, ParityCheck, first_line

SuiteResult = tuple[FilesCheck, ParityCheck, LoadCheck, ParityCheck]

# Files every export needs besides its ONNX files, files an exporter promises on top, and
# preprocessor files that must be carried over whenever the source checkpoint has them.
REQUIRED_FILES = ("config.json",)
EXPORTER_FILES: Mapping[str, tuple[str, ...]] = {"modelexport": ("export_metadata.json",), "optimum": ()}
PREPROCESSOR_FILES = ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json")


def error_text(e: BaseException) -> str:
    """``Type: first line`` of an exception, the form every row stores."""
    return f"{type(e).__name__}: {first_line(e)}".rstrip(": ")


def probe_import(target: str) -> str | None:
    """``None`` if ``module[:attribute]`` imports, else why not (any exception, not only ImportError).

    Name an attribute for lazy packages: ``import optimum.onnxruntime`` succeeds even where
    ``from optimum.onnxruntime import ORTModel`` fails.
    """
    module, _, attribute = target.partition(":")
    try:
        loaded = importlib.import_module(module)
        if attribute:
            getattr(loaded, attribute)
    except Exception as e:
        return error_text(e)
    return None


def check_files(
    export_dir: Path, source_dir: Path, exporter: str, onnx_files: Iterable[str] = ("model.onnx",)
) -> FilesCheck:
    """Are the files Optimum and the exporter's contract need in ``export_dir``."""
    expected = [*onnx_files, *REQUIRED_FILES, *EXPORTER_FILES.get(exporter, ())]
    expected = list(dict.fromkeys(expected))
    expected += [name for name in PREPROCESSOR_FILES if (source_dir / name).is_file()]
    missing = [name for name in expected if not (export_dir / name).is_file()]
    return FilesCheck(ok=not missing, missing=missing)


def onnx_bytes(export_dir: Path) -> int | None:
    """Size of every ONNX file of the export plus any external-data file beside them."""
    sizes = [f.stat().st_size for f in export_dir.glob("*.onnx*") if f.is_file()]
    return sum(sizes) if sizes else None


def _position_ids(inputs: Mapping[str, Any]) -> Any:
    """What most models use when no position_ids are passed (no cache): 0..seq-1 per row."""
    import torch

    ids = inputs["input_ids"]
    return torch.arange(ids.shape[-1]).expand(ids.shape).contiguous()


# Inputs an exporter may add that PyTorch derives by itself when they are not passed: feeding the
# same derivation keeps the comparison like for like (Optimum adds position_ids to decoders).
DERIVED_INPUTS: Mapping[str, Any] = {"position_ids": _position_ids}


@dataclass
class Reference:
    """PyTorch's outputs at the check inputs; ``error`` when they could not be computed.

    ``derived``: inputs the model made for itself from ``inputs`` (BART's decoder tokens), checked
    to give PyTorch's outputs when fed, for exports that take them as inputs.
    """

    inputs: dict[str, Any]
    outputs: dict[str, np.ndarray]
    expected: tuple[str, ...]
    error: str | None = None
    derived: dict[str, Any] = field(default_factory=dict)
    name: str = "batch"  # the input set, as export_metadata.json's checks name it
    # (batch, sequence) positions whose outputs the model defines, where not all are (a sliding
    # window past the padding: :func:`modelexport.verify.window_defined`); compared there only.
    defined: np.ndarray | None = None

    def feed(self, names: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
        """Inputs for ``names`` (derived ones included) and the names it cannot provide."""
        feed, missing = {}, []
        for name in names:
            if name in self.inputs:
                feed[name] = self.inputs[name]
            elif name in self.derived:
                feed[name] = self.derived[name]
            elif name in DERIVED_INPUTS and "input_ids" in self.inputs:
                feed[name] = DERIVED_INPUTS[name](self.inputs)
            else:
                missing.append(name)
        return feed, missing


def declares_fixed_image_size(export_dir: Path) -> bool:
    """Whether the export's ``model.onnx`` takes ``pixel_values`` of one height and width (Optimum's
    MobileNet, or ours where the graph bakes them): the check then feeds the processor's size."""
    import onnx

    path = export_dir / "model.onnx"
    if not path.is_file():
        return False
    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:
        return False
    for value in graph.input:
        if value.name == "pixel_values":
            dims = value.type.tensor_type.shape.dim
            return len(dims) == 4 and all(d.HasField("dim_value") for d in dims[2:])
    return False


def export_metadata(export_dir: Path) -> dict[str, Any]:
    """``export_metadata.json`` of ``export_dir``; empty where there is none or it is not an object
    (Optimum's exports, a broken file: the checks then assume nothing of the export)."""
    from ..packaging import METADATA_FILE

    try:
        meta = json.loads((export_dir / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def declared_fixed_axes(export_dir: Path) -> dict[str, int]:
    """The axes our export fixes at one size (``fixed_axes`` in its metadata; none for Optimum's)."""
    from ..plan import fixed_axes_of

    try:
        return fixed_axes_of(export_metadata(export_dir))
    except (AttributeError, TypeError, ValueError):
        return {}


def declared_axis_limits(export_dir: Path) -> dict[str, int]:
    """The largest sizes our export was checked at where the model's code bounds an axis below the
    check inputs' (``axis_ranges`` in its metadata; none for Optimum's)."""
    from ..plan import axis_limits_of

    try:
        return axis_limits_of(export_metadata(export_dir))
    except (AttributeError, TypeError, ValueError):
        return {}


def pytorch_reference(
    source_dir: Path,
    task: str,
    *,
    fixed_image_size: bool = False,
    fixed_axes: dict[str, int] | None = None,
    axis_limits: dict[str, int] | None = None,
    takes: Collection[str] | None = None,
) -> Reference:
    """:func:`pytorch_references` on the ``batch`` input set only."""
    return pytorch_references(
        source_dir,
        task,
        fixed_image_size=fixed_image_size,
        fixed_axes=fixed_axes,
        axis_limits=axis_limits,
        takes=takes,
        sets=("batch",),
    )[0]


def pytorch_references(
    source_dir: Path,
    task: str,
    *,
    fixed_image_size: bool = False,
    fixed_axes: dict[str, int] | None = None,
    axis_limits: dict[str, int] | None = None,
    takes: Collection[str] | None = None,
    sets: Sequence[str] = ("batch", "single"),
) -> list[Reference]:
    """Load the checkpoint as a user would and run it on each of the export's verification input
    ``sets`` (``batch``: 3 x 128, images larger where the model takes them, at the processor's
    size with ``fixed_image_size``; ``single``: 1 x 7; the ``fixed_axes`` at their one size, the
    ``axis_limits`` no larger than their size). The
    inputs the model derives for itself (decoder tokens, position ids), each found by running the
    model again, only where the files to check take them (``takes``: their input names; ``None``:
    all of them)."""
    import torch

    from ..io_spec import build_io_spec
    from ..loading import load

    try:
        loaded = load(str(source_dir), task)
        io = build_io_spec(
            loaded.model,
            loaded.task,
            loaded.tokenizer,
            loaded.config,
            loaded.preprocessors,
            fixed_image_size=fixed_image_size,
            fixed_axes=fixed_axes,
            axis_limits=axis_limits,
        )
    except Exception as e:
        return [Reference({}, {}, (), f"PyTorch reference failed: {error_text(e)}", name=n) for n in sets]
    with torch.no_grad():
        return [_reference(loaded, io, name, takes) for name in sets]


def _reference(loaded: Any, io: Any, name: str, takes: Collection[str] | None) -> Reference:
    import torch

    from ..inputs import CHECKS, make_inputs
    from ..verify import window_defined
    from ..wrappers import call_model

    try:
        inputs = make_inputs(io, loaded.config, loaded.preprocessors, CHECKS[name])
        result = call_model(loaded.model, inputs)
    except Exception as e:
        return Reference(
            {}, {}, (), f"PyTorch reference failed on the {name} inputs: {error_text(e)}", name=name
        )
    outputs = {k: v.detach().numpy() for k, v in result.items() if isinstance(v, torch.Tensor)}
    # The io spec's outputs, not the task's: some models keep more (CLIP keeps Optimum's four).
    reference = Reference(inputs, outputs, tuple(io.output_names), name=name)
    if "attention_mask" in inputs:
        reference.defined = window_defined(loaded.config, inputs["attention_mask"].numpy())
    if takes is None or "decoder_input_ids" in takes:
        decoder_tokens = _own_decoder_tokens(loaded.model, inputs, result)
        if decoder_tokens is not None:
            reference.derived["decoder_input_ids"] = decoder_tokens
    if takes is None or "position_ids" in takes:
        positions = _own_position_ids(loaded.model, inputs, result)
        if positions is not None:
            reference.derived["position_ids"] = positions
    return reference


def input_names(export_dir: Path) -> set[str] | None:
    """The input names of every ONNX file in ``export_dir``, or ``None`` if one cannot be read."""
    import onnx

    names: set[str] = set()
    for path in export_dir.glob("*.onnx"):
        try:
            names |= {i.name for i in onnx.load(str(path), load_external_data=False).graph.input}
        except Exception:
            return None
    return names


def _own_position_ids(model: Any, inputs: Mapping[str, Any], without: Mapping[str, Any]) -> Any | None:
    """The position ids the model derives when none are passed, for exports that take them: 0..n-1
    (most models), or counted over the attention mask (OPT: padding gets -1), whichever gives
    exactly the outputs PyTorch gave ``without`` them; else ``None`` (the generic 0..n-1 is fed)."""
    import torch

    if "position_ids" in inputs or "input_ids" not in inputs:
        return None
    try:
        if "position_ids" not in inspect.signature(model.forward).parameters:
            return None
    except (TypeError, ValueError):
        return None
    candidates = [_position_ids(inputs)]
    mask = inputs.get("attention_mask")
    if mask is not None:
        candidates.append((torch.cumsum(mask, dim=1) * mask - 1).long())
    for positions in candidates:
        try:
            with torch.no_grad():
                fed = model(**inputs, position_ids=positions)
        except Exception:
            return None
        if _same_outputs(without, fed):
            return positions
    return None


def _own_decoder_tokens(model: Any, inputs: Mapping[str, Any], without: Mapping[str, Any]) -> Any | None:
    """The decoder tokens an encoder-decoder makes from ``input_ids`` when none are passed (BART
    shifts them right with its modeling module's ``shift_tokens_right``), if feeding them gives
    exactly the outputs PyTorch gave ``without`` them; else ``None``."""
    import torch

    config = getattr(model, "config", None)
    if not getattr(config, "is_encoder_decoder", False) or "decoder_input_ids" in inputs:
        return None
    shift = getattr(sys.modules.get(type(model).__module__), "shift_tokens_right", None)
    if shift is None or "input_ids" not in inputs:
        return None
    try:
        params = inspect.signature(shift).parameters
        options = {p: getattr(config, p) for p in ("pad_token_id", "decoder_start_token_id") if p in params}
        tokens = shift(inputs["input_ids"], **options)
        with torch.no_grad():
            fed = model(**inputs, decoder_input_ids=tokens)
    except Exception:
        return None
    return tokens if _same_outputs(without, fed) else None


def _same_outputs(without: Mapping[str, Any], fed: Mapping[str, Any]) -> bool:
    """Whether feeding a derived input gave exactly the tensors PyTorch gave without it."""
    import torch

    return all(torch.equal(v, fed[k]) for k, v in without.items() if isinstance(v, torch.Tensor))


def compare(reference: Reference, actual: Mapping[str, Any], atol: float, rtol: float) -> ParityCheck:
    """Max|Δ| per expected output; a missing output or a shape mismatch fails the check."""
    from ..verify import compare_arrays, over_sequence, zero_undefined

    check = ParityCheck(atol=atol, rtol=rtol)
    problems = []
    for name in reference.expected:
        if name not in actual or name not in reference.outputs:
            problems.append(f"output '{name}' missing")
            continue
        got = np.asarray(actual[name].detach() if hasattr(actual[name], "detach") else actual[name])
        expected = reference.outputs[name]
        expected, got = zero_undefined(expected, got, over_sequence(reference.defined, expected.shape))
        result = compare_arrays(name, expected, got, atol=atol, rtol=rtol)
        if result.reference_shape != result.onnx_shape:
            problems.append(f"'{name}' shape {list(result.onnx_shape)} != {list(result.reference_shape)}")
            continue
        check.max_abs_diff[name] = result.max_abs_diff
        if not result.ok:
            problems.append(f"'{name}' max|Δ| {result.max_abs_diff:.2e} > atol {atol:g} / rtol {rtol:g}")
    if not reference.expected:
        problems.append("no outputs to compare")
    check.ok = not problems
    check.error = "; ".join(problems) or None
    return check


def ort_parity(
    export_dir: Path, reference: Reference | Sequence[Reference], atol: float, rtol: float
) -> ParityCheck:
    """Plain ONNX Runtime on model.onnx vs PyTorch, on each reference's inputs; no Optimum involved."""
    references = [reference] if isinstance(reference, Reference) else list(reference)
    failed = next((r for r in references if r.error), None)
    if failed is not None:
        return ParityCheck(ok=False, error=failed.error, atol=atol, rtol=rtol)
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(
            str(export_dir / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        names = [o.name for o in session.get_outputs()]
        checks: list[tuple[str, ParityCheck]] = []
        for ref in references:
            feed, missing = ref.feed(i.name for i in session.get_inputs())
            if missing:
                error = f"model.onnx wants inputs the check lacks: {missing}"
                return ParityCheck(ok=False, error=error, atol=atol, rtol=rtol)
            arrays = {k: v.numpy() for k, v in feed.items()}
            actual = dict(zip(names, session.run(names, arrays), strict=True))
            checks.append((ref.name, compare(ref, actual, atol, rtol)))
    except Exception as e:
        return ParityCheck(ok=False, error=f"ONNX Runtime: {error_text(e)}", atol=atol, rtol=rtol)
    return merged(checks)


def merged(checks: Sequence[tuple[str, ParityCheck]]) -> ParityCheck:
    """One check over several input sets: per output its largest max|Δ| (NaN if any is), ok where
    every set is, the errors of the failing sets (after the first set's, each says its set)."""
    first = checks[0][1]
    out = ParityCheck(atol=first.atol, rtol=first.rtol)
    for _, check in checks:
        for name, diff in check.max_abs_diff.items():
            seen = out.max_abs_diff.get(name, diff)
            out.max_abs_diff[name] = diff if np.isnan(diff) or diff > seen else seen
    errors = [
        check.error if i == 0 else f"{name} inputs: {check.error}"
        for i, (name, check) in enumerate(checks)
        if check.error
    ]
    out.ok = all(check.ok for _, check in checks)
    out.error = "; ".join(errors) or None
    return out


def optimum_checks(
    export_dir: Path, task: str, reference: Reference | Sequence[Reference]
) -> tuple[LoadCheck, ParityCheck]:
    """``ORTModelFor<Task>.from_pretrained(dir)``, then its outputs vs PyTorch at atol = rtol = 1e-4
    on each reference's inputs."""
    from ..auto import ort_class_name
    from ..tasks import get_task
    from ..verify import DEFAULT_ATOL

    tol = DEFAULT_ATOL
    references = [reference] if isinstance(reference, Reference) else list(reference)
    try:
        import optimum.onnxruntime as ortm

        model = getattr(ortm, ort_class_name(export_dir, get_task(task))).from_pretrained(export_dir)
    except Exception as e:
        return LoadCheck(ok=False, error=error_text(e)), ParityCheck(atol=tol, rtol=tol)
    failed = next((r for r in references if r.error), None)
    if failed is not None:
        return LoadCheck(ok=True), ParityCheck(ok=False, error=failed.error, atol=tol, rtol=tol)
    checks: list[tuple[str, ParityCheck]] = []
    for ref in references:
        try:
            feed, missing = ref.feed(model.input_names)
            if missing:
                raise ValueError(f"the model wants inputs the check lacks: {missing}")
            outputs = model(**feed)
        except Exception as e:
            run = "run" if not checks else f"run on the {ref.name} inputs"
            return LoadCheck(ok=True), ParityCheck(
                ok=False, error=f"{run}: {error_text(e)}", atol=tol, rtol=tol
            )
        checks.append((ref.name, compare(ref, dict(outputs.items()), tol, tol)))
    return LoadCheck(ok=True), merged(checks)


def run_checks(
    out: Path, source: Path, task: str, exporter: str, atol: float, rtol: float, optimum: bool
) -> SuiteResult:
    """Files, ORT parity and (where Optimum imports) Optimum's load and parity, for one export."""
    reference = pytorch_references(
        source,
        task,
        fixed_image_size=declares_fixed_image_size(out),
        fixed_axes=declared_fixed_axes(out),
        axis_limits=declared_axis_limits(out),
        takes=input_names(out),
    )
    ort = ort_parity(out, reference, atol, rtol)
    load, parity = optimum_checks(out, task, reference) if optimum else (LoadCheck(), ParityCheck())
    return check_files(out, source, exporter), ort, load, parity
