"""``modelexport optimize`` (O2) and ``modelexport quantize`` on every single-file task of the zoo.

Per row (architecture x task whose export is one ``model.onnx``): the default export (``auto``), its
O2 optimization and its dynamic int8 quantization, each verified against PyTorch by the commands
themselves; then, on the padded check inputs the exporter verifies on (3 x 128 tokens, or the
model's image / audio size), ONNX Runtime's latency of the three files, interleaved (1 thread), and
whether Optimum's ORTModelFor<Task> loads and runs the two new directories. Every row runs in its own
process; rows already in the results file are kept (the run resumes).

    python benchmarks/optimize_zoo.py [--results benchmarks/results/optimize_zoo.jsonl] [--only bert,vit]
    python benchmarks/optimize_zoo.py --render      # the table into docs/optimize.md
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "optimize_zoo.jsonl"
DOC = ROOT / "docs" / "optimize.md"
BEGIN, END = "<!-- optimize-zoo:begin -->", "<!-- optimize-zoo:end -->"


def single_file_rows() -> list[tuple[str, str]]:
    """Every (architecture, single-file task): each architecture's first task, then the others, so
    that a run stopped part way has covered every architecture first."""
    from modelexport.tasks import get_task
    from modelexport.zoo import list_archs

    per_arch = [[(s.name, t) for t in s.tasks if not get_task(t).generative] for s in list_archs()]
    return [r[0] for r in per_arch if r] + [row for r in per_arch for row in r[1:]]


def _latency(files: dict[str, Path], feeds: dict[str, Any], rounds: int = 15) -> dict[str, float]:
    """Median ms per file, interleaved rounds, one thread."""
    import onnxruntime as ort

    sessions = {}
    for name, path in files.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        wanted = {i.name for i in session.get_inputs()}
        sessions[name] = (session, {k: v for k, v in feeds.items() if k in wanted})
    start = time.perf_counter()
    for session, feed in sessions.values():
        session.run(None, feed)
    runs = max(3, min(200, int(0.05 / max((time.perf_counter() - start) / len(sessions), 1e-6))))
    times: dict[str, list[float]] = {n: [] for n in sessions}
    for r in range(rounds):
        order = list(sessions)
        random.Random(r).shuffle(order)
        for name in order:
            session, feed = sessions[name]
            for _ in range(runs):
                t = time.perf_counter()
                session.run(None, feed)
                times[name].append(time.perf_counter() - t)
    return {n: statistics.median(t) * 1e3 for n, t in times.items()}


def run_row(name: str, task: str) -> dict[str, Any]:
    """Everything measured for one row (raises nothing: failures are recorded)."""
    import torch

    torch.set_num_threads(1)
    import onnx

    from modelexport import export_with_config
    from modelexport.loading import load
    from modelexport.optimize import optimize_export, quantize_export
    from modelexport.optimize.tags import tag_coverage
    from modelexport.plan import make_plan
    from modelexport.validate import check_optimum
    from modelexport.zoo import cached_build

    row: dict[str, Any] = {"model": name, "task": task}
    work = Path(tempfile.mkdtemp(prefix="optimize-zoo-"))
    try:
        source = cached_build(name, task)
        exported = export_with_config(str(source), work / "export", task=task)
        row["backend"] = json.loads((exported / "export_metadata.json").read_text())["exporter"]
        optimized = optimize_export(exported, work / "o2", level="O2")
        record = optimized.record["files"]["model.onnx"]
        row["o2"] = {
            "max_abs_diff": optimized.verification["max_abs_diff"],
            "atol": optimized.record["atol"],
            "nodes": [record["nodes_before"], record["nodes_after"]],
            "fused": record["fused_operators"],
            "fusions_failed": record.get("transformer_fusions_failed"),
            "tagged": tag_coverage(onnx.load(str(work / "o2" / "model.onnx"), load_external_data=False)),
            "fused_nodes": record["tags"]["fused"],
        }
        quantized = quantize_export(exported, work / "int8", min_cosine=-1.0)
        row["int8"] = {
            "min_cosine": quantized.verification["min_cosine"],
            "max_abs_diff": quantized.verification["max_abs_diff"],
            "integer_ops": quantized.record["files"]["model.onnx"]["integer_ops"],
            "tagged": tag_coverage(onnx.load(str(work / "int8" / "model.onnx"), load_external_data=False)),
        }
        plan = make_plan(load(str(source), task))
        part = plan.written[0]
        check_name = next((c for c in part.checks if c != "single"), next(iter(part.checks)))
        feeds = {k: v.numpy() for k, v in part.checks[check_name].items()}
        files = {
            k: work / d / "model.onnx" for k, d in (("export", "export"), ("o2", "o2"), ("int8", "int8"))
        }
        # No other session may be alive: the verifications' thread pools spin on the two cores and
        # slowed whichever file was timed next by up to 10x.
        gc.collect()
        ms = _latency(files, feeds)
        row["latency_ms"] = {k: round(v, 4) for k, v in ms.items()}
        row["input_shapes"] = {k: list(v.shape) for k, v in feeds.items()}
        row["export_optimum"] = _optimum_runs(work / "export")  # Optimum's own limits show here too
        for key in ("o2", "int8"):
            check = check_optimum(work / key)  # also compares with PyTorch at 1e-4: int8 cannot
            row[key]["optimum"] = _optimum_runs(work / key, check)
            row[key]["optimum_within_1e-4"] = check.ok
    except Exception as e:
        row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        row["traceback"] = traceback.format_exc()[-2000:]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return row


def _optimum_runs(directory: Path, check: Any = None) -> bool | str:
    """True when Optimum's ORTModelFor<Task> loaded ``directory`` and ran it, else why not."""
    from modelexport.validate import check_optimum

    check = check if check is not None else check_optimum(directory)
    ran = any(" ran a " in c or ".generate" in c for c in check.checked)
    return True if ran else str(check.reason)[:160]


def _done(results: Path) -> set[tuple[str, str]]:
    if not results.is_file():
        return set()
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return {(r["model"], r["task"]) for r in rows}


def drive(results: Path, only: set[str] | None) -> None:
    results.parent.mkdir(parents=True, exist_ok=True)
    done = _done(results)
    rows = [r for r in single_file_rows() if (only is None or r[0] in only) and r not in done]
    for i, (name, task) in enumerate(rows, 1):
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, __file__, "--row", f"{name}:{task}"],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        row = (
            json.loads(lines[-1])
            if lines
            else {"model": name, "task": task, "error": f"exit {proc.returncode}: {proc.stderr[-300:]}"}
        )
        row["seconds"] = round(time.perf_counter() - started, 1)
        with results.open("a") as f:
            f.write(json.dumps(row) + "\n")
        status = row.get("error") or f"o2 {row['latency_ms']['o2'] / row['latency_ms']['export']:.2f}x"
        print(f"[{i}/{len(rows)}] {name} {task}: {status} ({row['seconds']} s)", flush=True)


def _cell_ok(value: Any) -> str:
    return "✅" if value is True else "❌"


def render(results: Path) -> list[str]:
    """The Markdown table of the results, one line per row, and a summary line first."""
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    rows.sort(key=lambda r: (r["model"], r["task"]))
    good = [r for r in rows if "error" not in r]
    lines = []
    if good:
        o2 = [r["latency_ms"]["o2"] / r["latency_ms"]["export"] for r in good]
        q8 = [r["latency_ms"]["int8"] / r["latency_ms"]["export"] for r in good]
        tagged = sum(
            1
            for r in good
            if r["o2"]["tagged"][0] == r["o2"]["tagged"][1]
            and r["int8"]["tagged"][0] == r["int8"]["tagged"][1]
        )
        loads = sum(1 for r in good if r["o2"]["optimum"] is True and r["int8"]["optimum"] is True)
        limits = sum(1 for r in good if r.get("export_optimum") not in (None, True))
        floor = sum(1 for r in good if r["int8"]["min_cosine"] >= 0.99)
        archs = len({r["model"] for r in rows})
        lines.append(
            f"{len(rows)} of the {len(single_file_rows())} single-file rows run ({archs} architectures, "
            f"each one's first task first); both commands succeeded on {len(good)}; every node tagged after both on {tagged}; "
            f"Optimum loads both outputs on {loads} (and not even the unoptimized export on {limits}); int8 cosine >= 0.99 on {floor}. O2 latency / export: median "
            f"{statistics.median(o2):.2f}x (range {min(o2):.2f}-{max(o2):.2f}x); int8 / export: median "
            f"{statistics.median(q8):.2f}x (range {min(q8):.2f}-{max(q8):.2f}x)."
        )
        lines.append("")
    lines += [
        "| model | task | export | O2 max\\|Δ\\| (atol) | O2 fused | O2 / export | int8 cosine | int8 / export | tagged | Optimum runs export / O2 / int8 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['task']} | ❌ {r['error'][:120]} | | | | | | | |")
            continue
        o2, q8, ms = r["o2"], r["int8"], r["latency_ms"]
        fused = (
            ", ".join(f"{k} {v}" for k, v in o2["fused"].items() if k not in ("LayerNormalization",)) or "—"
        )
        if o2.get("fusions_failed"):
            fused = f"— (fusions refused: {o2['fusions_failed'].split(':')[0]})"
        tagged = all(x["tagged"][0] == x["tagged"][1] for x in (o2, q8))
        lines.append(
            f"| {r['model']} | {r['task']} | {r['backend']} | {o2['max_abs_diff']:.1e} ({o2['atol']:g}) | {fused} | "
            f"{ms['o2'] / ms['export']:.2f}× | {q8['min_cosine']:.4f} | {ms['int8'] / ms['export']:.2f}× | "
            f"{_cell_ok(tagged)} | {_cell_ok(r.get('export_optimum'))} {_cell_ok(o2['optimum'])} {_cell_ok(q8['optimum'])} |"
        )
    return lines


def write_doc(results: Path, doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{doc} has no {BEGIN} ... {END} block to fill")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(head + BEGIN + "\n" + "\n".join(render(results)) + "\n" + END + tail, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--only", default=None, help="comma-separated zoo names")
    parser.add_argument("--row", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--render", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if args.row:
        import logging
        import warnings

        logging.disable(logging.WARNING)
        warnings.filterwarnings("ignore")
        name, task = args.row.split(":")
        print(json.dumps(run_row(name, task)))
        return
    if args.render:
        write_doc(args.results, DOC)
        return
    drive(args.results, set(args.only.split(",")) if args.only else None)


if __name__ == "__main__":
    main()
