"""ORT vs PyTorch for a generative export: every file at its step, the first one and one with a cache.

Both sides get identical inputs (the cached step's past is PyTorch's own first-step presents), so
each comparison isolates one file. For a decoder-only ``model.onnx``, values at padded positions of a
left-padded prompt are left out of the difference (a query that may attend to nothing has an
implementation-defined output: transformers' eager and sdpa attention disagree there too), but they
must be finite everywhere, since the next step reads them through a zero attention weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..verify import Verification, compare_outputs, onnxruntime_outputs
from .feeds import Feeds, Step
from .layout import OnnxPart
from .plan import Plan

Outputs = dict[str, np.ndarray]
# file -> step -> output name -> array
StepOutputs = dict[str, dict[Step, Outputs]]


def pytorch_references(plan: Plan) -> StepOutputs:
    """Each wrapper on its verification feeds, before anything is traced."""
    refs: StepOutputs = {}
    for part in plan.parts:
        wrapper = plan.wrappers[part.file]
        refs[part.file] = {}
        for step, feeds in plan.check[part.file].items():
            with torch.no_grad():
                result = wrapper._run(*(feeds[n] for n in part.io.input_names))
            refs[part.file][step] = {
                n: t.detach().cpu().numpy() for n, t in zip(part.io.output_names, result, strict=True)
            }
    return refs


def _keep_mask(part: OnnxPart, name: str, shape: tuple[int, ...], feeds: Feeds) -> np.ndarray | None:
    """Where a decoder-only output is defined: not at a padded position of the prompt."""
    if part.role != "decoder" or "attention_mask" not in feeds:
        return None
    mask = feeds["attention_mask"].numpy() != 0
    if name == "logits":
        return mask[:, -shape[1] :, None]
    if name.startswith("present.") and len(shape) == 4 and shape[2] == mask.shape[1]:
        return mask[:, None, :, None]
    return None


def _defined(part: OnnxPart, ref: Outputs, got: Outputs, feeds: Feeds) -> tuple[Outputs, Outputs]:
    """``ref`` and ``got`` with undefined positions zeroed, unless ``got`` is not finite somewhere."""
    ref_out, got_out = dict(ref), dict(got)
    for name, r in ref.items():
        g = got.get(name)
        keep = _keep_mask(part, name, r.shape, feeds)
        if g is None or keep is None or g.shape != r.shape or not np.isfinite(g).all():
            continue
        ref_out[name], got_out[name] = np.where(keep, r, 0), np.where(keep, g, 0)
    return ref_out, got_out


@dataclass
class GenerativeVerification:
    """One :class:`Verification` per (step, file); ``ok`` only when every one is."""

    atol: float
    rtol: float
    checks: dict[str, dict[str, Verification]] = field(default_factory=dict)  # step -> file -> result

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(v.ok for files in self.checks.values() for v in files.values())

    def to_json(self) -> dict[str, Any]:
        diffs = [v.max_abs_diff for files in self.checks.values() for v in files.values()]
        logits = {
            step: max(
                (o.max_abs_diff for v in files.values() for o in v.outputs if o.name == "logits"),
                default=None,
            )
            for step, files in self.checks.items()
        }
        last = [v for files in self.checks.values() for v in files.values()][-1:]
        # One readable set of shapes (the last step's new-token inputs; every shape is under "steps").
        shapes = {
            k: s for v in last for k, s in v.input_shapes.items() if not k.startswith("past_key_values")
        }
        return {
            "ok": self.ok,
            "atol": self.atol,
            "rtol": self.rtol,
            "input_shapes": shapes,
            "max_abs_diff": max(diffs, default=float("nan")),
            "logits_max_abs_diff": logits,
            "steps": {s: {f: v.to_json() for f, v in fs.items()} for s, fs in self.checks.items()},
        }

    def raise_if_failed(self, what: str) -> None:
        for step, files in self.checks.items():
            for file, result in files.items():
                result.raise_if_failed(f"{what}, {file} at the {step} step")


def verify_plan(
    plan: Plan, out: Path, references: StepOutputs, *, atol: float, rtol: float
) -> GenerativeVerification:
    """Run every file with ONNX Runtime on its verification feeds and compare with ``references``."""
    result = GenerativeVerification(atol, rtol)
    for part in plan.parts:
        for step, feeds in plan.check[part.file].items():
            got = onnxruntime_outputs(out / part.file, {k: v.numpy() for k, v in feeds.items()})
            ref, act = _defined(part, references[part.file][step], got, feeds)
            shapes = {k: list(v.shape) for k, v in feeds.items()}
            result.checks.setdefault(step, {})[part.file] = compare_outputs(
                ref, act, shapes, atol=atol, rtol=rtol
            )
    return result
