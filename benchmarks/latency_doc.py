"""Fill docs/optimize.md's latency block from ``bench_latency.py --json`` records.

    python benchmarks/latency_doc.py run1.json [run2.json ...]

Per model: every variant's median / p90 (ms) at each setting, then the ratios of medians the issue
asks for, each within its own run (variants were interleaved in one process).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parent.parent / "docs" / "optimize.md"
BEGIN, END = "<!-- latency:begin -->", "<!-- latency:end -->"


def _key(model: str) -> str:
    return next(k for k, v in (("minilm", "MiniLM"), ("gpt2", "GPT-2"), ("vit", "ViT")) if v in model)


def model_lines(result: dict[str, Any], run: dict[str, Any]) -> list[str]:
    settings = sorted({k for row in result["latency"].values() for k in row})
    label = "1 new token, cache of 128" if "cache" in result["model"] else "×128 tokens"
    lines = [
        f"### {result['model']} ({result['task']})",
        "",
        f"Median / p90 in ms, ONNX Runtime {run['versions']['onnxruntime']}, Optimum "
        f"{run['versions']['optimum']}; b = batch ({label}), thr = intra-op threads.",
        "",
        "| variant | " + " | ".join(s.replace("-t", ", thr ").replace("b", "b ", 1) for s in settings) + " |",
        "|---|" + "---|" * len(settings),
    ]
    for name, row in result["latency"].items():
        cells = [f"{row[s]['median_ms']:.2f} / {row[s]['p90_ms']:.2f}" if s in row else "—" for s in settings]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, error in result["errors"].items():
        lines.append(f"| {name} | not measured: {error[:110]} |" + " |" * (len(settings) - 1))
    lines += ["", "| ratio of medians | " + " | ".join(settings) + " |", "|---|" + "---|" * len(settings)]
    for name, row in result["ratios"].items():
        lines.append(
            f"| {name} | " + " | ".join(f"{row[s]:.2f}×" if s in row else "—" for s in settings) + " |"
        )
    return [*lines, ""]


def _command(run: dict[str, Any]) -> str:
    """The command line that made ``run`` (its models, rounds and settings)."""
    settings = {k for r in run["results"] for row in r["latency"].values() for k in row}
    batches = sorted({int(k.split("-")[0][1:]) for k in settings})
    threads = sorted({int(k.split("-")[1][1:]) for k in settings})
    args = [f"--models {','.join(_key(r['model']) for r in run['results'])}", f"--rounds {run['rounds']}"]
    if batches != [1, 8]:
        args.append(f"--batches {','.join(map(str, batches))}")
    if threads != [1, 2]:
        args.append(f"--threads {','.join(map(str, threads))}")
    return "python benchmarks/bench_latency.py " + " ".join(args)


def render(paths: list[Path]) -> list[str]:
    lines: list[str] = []
    for path in paths:
        run = json.loads(path.read_text())
        lines.append(
            f"`{_command(run)}` (batch 8 runs a third of the rounds; {run['machine']['cpus']} CPUs, "
            f"shared; load average at the end {run['load_average_end'][0]:.1f}):"
        )
        lines.append("")
        for result in run["results"]:
            lines += model_lines(result, run)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    body = "\n".join(render(args.runs)).rstrip()
    DOC.write_text(head + BEGIN + "\n" + body + "\n" + END + tail, encoding="utf-8")


if __name__ == "__main__":
    main()
