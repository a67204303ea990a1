"""What verifying at a second shape costs: whole exports with and without the single-input checks.

Run: ``python benchmarks/bench_verify.py [--rounds 3] [--backend torchscript]``. Each round exports
every model twice in turn, in one process: as the exporter does (a padded batch and one unpadded
input, per file and step) and with the single-input checks taken out of the plan (only the padded
batch, as before they existed). Prints per model the median export time of each and the ratio;
the target is an extra cost under 15 % of an export.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from modelexport import inputs as single_inputs
from modelexport import run_export
from modelexport.generative import plan as generative_plan
from modelexport.zoo import cached_build

MODELS = [
    ("bert", "text-classification"),
    ("distilbert", "question-answering"),
    ("vit", "image-classification"),
    ("wav2vec2", "audio-classification"),
    ("clip", "zero-shot-image-classification"),
    ("gpt2", "text-generation-with-past"),
    ("llama", "text-generation-with-past"),
    ("t5", "text2text-generation-with-past"),
]


def _export(source: Path, task: str, backend: str, single: bool) -> float:
    saved = dict(single_inputs.CHECKS), dict(generative_plan.CHECKS)
    if not single:
        single_inputs.CHECKS.pop("single")
        generative_plan.CHECKS.pop("single")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            run_export(str(source), Path(tmp) / "out", task=task, exporter=backend)
            return time.perf_counter() - start
    finally:
        single_inputs.CHECKS.clear()
        single_inputs.CHECKS.update(saved[0])
        generative_plan.CHECKS.clear()
        generative_plan.CHECKS.update(saved[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", default="torchscript", choices=["torchscript", "dynamo"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    sources = {(m, t): cached_build(m, t) for m, t in MODELS}
    for (_, task), source in sources.items():  # warm-up: imports, first-use set-up
        _export(source, task, args.backend, single=True)
    times: dict[tuple[str, str], dict[bool, list[float]]] = {k: {True: [], False: []} for k in sources}
    for _ in range(args.rounds):
        for key, source in sources.items():
            for single in (False, True):
                times[key][single].append(_export(source, key[1], args.backend, single))
    print(f"backend {args.backend}, {args.rounds} rounds, medians (s)")
    print(f"{'model':<42} {'batch only':>10} {'+ single':>10} {'extra':>8}")
    totals = {True: 0.0, False: 0.0}
    for (model, task), by in times.items():
        before, after = statistics.median(by[False]), statistics.median(by[True])
        totals[False] += before
        totals[True] += after
        print(f"{model + ' ' + task:<42} {before:>10.2f} {after:>10.2f} {after / before - 1:>8.1%}")
    print(
        f"{'all':<42} {totals[False]:>10.2f} {totals[True]:>10.2f} {totals[True] / totals[False] - 1:>8.1%}"
    )


if __name__ == "__main__":
    main()
