"""How much work this machine's cores do together: the ceiling on what `pytest -n auto` can gain.

    python benchmarks/bench_cores.py [--runs N] [--json FILE]

The matrix is CPU-bound Python (tracing, decompositions, graph rewriting), so its wall time is its
total work divided by what the cores deliver together. That is not always the core count: two
vCPUs that share a physical core, or a busy host, deliver less. This script times one fixed
pure-Python workload alone, then as many copies at once as there are cores, and reports the
throughput of all cores together in units of one core (N cores would ideally give N.0).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Dict and integer work, the kind of interpreter work tracing is made of; ~1-2 s on one core.
WORKLOAD = """
import time
start = time.perf_counter()
counts = {}
for i in range(6_000_000):
    key = i % 1000
    counts[key] = counts.get(key, 0) + i
print(time.perf_counter() - start)
"""


def _run_together(copies: int) -> list[float]:
    """Start ``copies`` processes at once; each reports its own seconds."""
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKLOAD], stdout=subprocess.PIPE, text=True)
        for _ in range(copies)
    ]
    return [float(p.communicate()[0]) for p in procs]


def measure(runs: int) -> dict[str, object]:
    cores = os.cpu_count() or 1
    alone, together = [], []
    for _ in range(runs):  # interleaved, so a change in the machine's load hits both
        alone += _run_together(1)
        together.append(max(_run_together(cores)))
    one, all_ = statistics.median(alone), statistics.median(together)
    return {
        "cores": cores,
        "runs": runs,
        "seconds_alone": round(one, 3),
        "seconds_all_cores_at_once": round(all_, 3),
        "throughput_in_cores": round(cores * one / all_, 2),
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    figures = measure(args.runs)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
