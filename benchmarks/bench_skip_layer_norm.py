"""ONNX Runtime's CPU ``SkipLayerNormalization`` against the ``Add`` + ``LayerNormalization`` it fuses.

Why ``modelexport optimize`` leaves that fusion out: both graphs run the same residual sum and norm
on (batch, 128, hidden) with all graph optimizations off (so neither is rewritten), interleaved in
one process, one intra-op thread; the ratio of medians is printed per shape.

    python benchmarks/bench_skip_layer_norm.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def graph(hidden: int, fused: bool) -> bytes:
    weights = [
        numpy_helper.from_array(np.random.default_rng(1).standard_normal(hidden).astype(np.float32), "gamma"),
        numpy_helper.from_array(np.random.default_rng(2).standard_normal(hidden).astype(np.float32), "beta"),
    ]
    if fused:
        nodes = [
            helper.make_node(
                "SkipLayerNormalization", ["x", "skip", "gamma", "beta"], ["y"], domain="com.microsoft"
            )
        ]
    else:
        nodes = [
            helper.make_node("Add", ["x", "skip"], ["s"]),
            helper.make_node("LayerNormalization", ["s", "gamma", "beta"], ["y"], axis=-1),
        ]
    shape = ["batch", "sequence", hidden]
    made = helper.make_graph(
        nodes,
        "norm",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("x", "skip")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        weights,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(made, opset_imports=opsets).SerializeToString()


def session(model: bytes):  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def measure(batch: int, hidden: int, rounds: int, runs: int = 20) -> tuple[float, float, float]:
    """(fused median ms, unfused median ms, max |Δ| between them)."""
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal((batch, 128, hidden)).astype(np.float32) for n in ("x", "skip")}
    sessions = {"fused": session(graph(hidden, True)), "unfused": session(graph(hidden, False))}
    outs = {k: s.run(None, feeds)[0] for k, s in sessions.items()}
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for r in range(rounds):
        order = list(sessions)
        random.Random(r).shuffle(order)
        for k in order:
            for _ in range(runs):
                start = time.perf_counter()
                sessions[k].run(None, feeds)
                times[k].append(time.perf_counter() - start)
    diff = float(np.abs(outs["fused"] - outs["unfused"]).max())
    return statistics.median(times["fused"]) * 1e3, statistics.median(times["unfused"]) * 1e3, diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    import onnxruntime

    print(f"onnxruntime {onnxruntime.__version__}, onnx {onnx.__version__}, 1 thread, sequence 128")
    for batch, hidden in ((1, 384), (1, 768), (8, 384)):
        fused, unfused, diff = measure(batch, hidden, args.rounds)
        print(
            f"{batch} x 128 x {hidden}: SkipLayerNormalization {fused:.3f} ms, Add + LayerNormalization "
            f"{unfused:.3f} ms, ratio {fused / unfused:.2f}x (max |Δ| {diff:.1e})"
        )


if __name__ == "__main__":
    main()
