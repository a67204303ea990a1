"""Checks for generative tasks (decoder-only with a KV cache, encoder-decoders), on any exporter's files.

The core's plan (:mod:`modelexport.generative`) names the ONNX files Optimum's layout has and the
inputs of each decoding step; plain ONNX Runtime runs every file at every step against PyTorch, and
Optimum's ``ORTModelFor...`` generates greedily, which must give exactly PyTorch's tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .checks import SuiteResult, check_files, error_text
from .schema import LoadCheck, ParityCheck


def _plan(source: Path, task: str) -> Any:
    from ..generative import make_plan
    from ..loading import load

    return make_plan(load(str(source), task).model, task)


def _ort_parity(plan: Any, out: Path, atol: float, rtol: float) -> ParityCheck:
    """Every file at every step, max|Δ| per ``file@step``; padded prompt positions are left out."""
    from ..generative.check import pytorch_references, verify_plan

    check = ParityCheck(atol=atol, rtol=rtol)
    try:
        result = verify_plan(plan, out, pytorch_references(plan), atol=atol, rtol=rtol)
    except Exception as e:
        check.ok, check.error = False, f"ONNX Runtime: {error_text(e)}"
        return check
    problems = []
    for step, files in result.checks.items():
        for file, verification in files.items():
            check.max_abs_diff[f"{file}@{step}"] = verification.max_abs_diff
            bad = [o.name for o in verification.outputs if not o.ok]
            if bad:
                problems.append(f"{file}@{step}: {', '.join(bad[:3])} beyond atol {atol:g} / rtol {rtol:g}")
    check.ok = result.ok
    check.error = "; ".join(problems) or (None if result.ok else "nothing compared")
    return check


def _optimum(source: Path, out: Path, task: str) -> tuple[LoadCheck, ParityCheck]:
    """Greedy generation through ``ORTModelFor...`` must give PyTorch's tokens exactly."""
    from ..generative import compare_generate
    from ..generative.plan import with_past

    result = compare_generate(source, out, task, use_cache=with_past(task))
    if result.error:
        return LoadCheck(ok=False, error=result.error), ParityCheck()
    parity = ParityCheck(ok=result.ok)
    if not result.ok:
        parity.error = f"greedy tokens differ from PyTorch's: {result.onnx} vs {result.reference}"
    return LoadCheck(ok=True), parity


def run_generative_checks(
    out: Path, source: Path, task: str, exporter: str, atol: float, rtol: float, optimum: bool
) -> SuiteResult:
    """Files, ORT parity and (where Optimum imports) Optimum's generation, for one export."""
    try:
        plan = _plan(source, task)
    except Exception as e:
        error = f"PyTorch reference failed: {error_text(e)}"
        parity = ParityCheck(ok=False, error=error, atol=atol, rtol=rtol)
        return check_files(out, source, exporter), parity, LoadCheck(), ParityCheck()
    files = check_files(out, source, exporter, onnx_files=plan.files)
    ort = _ort_parity(plan, out, atol, rtol)
    load, parity = _optimum(source, out, task) if optimum else (LoadCheck(), ParityCheck())
    return files, ort, load, parity
