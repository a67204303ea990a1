"""ONNX Runtime's graph optimizations and transformer fusions, at Optimum's levels, for CPU.

Each level runs ONNX Runtime's own graph optimizer offline (``optimized_model_filepath``), then, from
O2, the fusions of ``onnxruntime.transformers.optimizer`` for the model types it knows (Optimum's
table). Two choices differ from Optimum's ``ORTOptimizer``, both measured on this project's CPU by
``benchmarks/bench_latency.py``:

* no ``SkipLayerNormalization``: ONNX Runtime's CPU kernel for it is several times slower than the
  ``Add`` and ``LayerNormalization`` it replaces (``benchmarks/bench_skip_layer_norm.py``); neither the offline nor the
  Python fusion makes it, and intermediate shapes are dropped from the saved graph, since with them
  ONNX Runtime fuses it again when a session loads the file;
* no ``EmbedLayerNormalization`` (as Optimum's default: its output cannot be quantized).
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from ..errors import first_line
from ..graph import drop_intermediate_shapes, walk


@dataclass(frozen=True)
class Level:
    """One optimization level and the tolerance its output is verified at against PyTorch."""

    name: str
    ort_level: int  # ONNX Runtime's GraphOptimizationLevel run offline: 1 basic, 2 extended
    transformer_fusions: bool
    gelu_approximation: bool
    atol: float
    rtol: float
    summary: str


LEVELS: dict[str, Level] = {
    level.name: level
    for level in (
        Level(
            "O1",
            1,
            False,
            False,
            1e-4,
            1e-4,
            "basic graph optimizations: constants folded, redundant nodes removed (exact)",
        ),
        Level(
            "O2",
            2,
            True,
            False,
            1e-4,
            1e-4,
            "O1, ONNX Runtime's extended fusions and the transformer fusions (attention, GELU, "
            "layer norm, bias) that are faster on CPU (same math, another summation order)",
        ),
        Level(
            "O3",
            2,
            True,
            True,
            1e-2,
            1e-2,
            "O2 with GELU approximated by tanh (FastGelu): not the same math, a looser tolerance",
        ),
    )
}

# Hugging Face model_type -> the model type onnxruntime.transformers.optimizer fuses it as
# (Optimum's ORTConfigManager); other model types get ONNX Runtime's own fusions only.
ORT_MODEL_TYPES: dict[str, str] = {
    **dict.fromkeys(
        (
            "albert",
            "bert",
            "big_bird",
            "camembert",
            "deberta",
            "deberta-v2",
            "distilbert",
            "electra",
            "modernbert",
            "mpnet",
            "nystromformer",
            "roberta",
            "xlm-roberta",
        ),
        "bert",
    ),
    **dict.fromkeys(("bart", "marian", "mbart", "m2m_100", "mt5", "whisper"), "bart"),
    **dict.fromkeys(
        (
            "bloom",
            "codegen",
            "gpt2",
            "gpt_bigcode",
            "gpt_neo",
            "gpt_neox",
            "gptj",
            "granite",
            "llama",
            "mistral",
        ),
        "gpt2",
    ),
    **dict.fromkeys(("vit", "dinov2", "segformer", "deit"), "vit"),
    "clip": "clip",
    "swin": "swin",
    "t5": "t5",
}

# ONNX Runtime's offline fusions left to the Python fusions (as onnxruntime.transformers does), and
# those whose CPU kernels are slower than what they replace.
_LEFT_TO_PYTHON = (
    "MatMulScaleFusion",
    "MatMulAddFusion",
    "MatmulTransposeFusion",
    "GemmActivationFusion",
    "BiasSoftmaxFusion",
)
SLOW_ON_CPU = ("SkipLayerNormFusion",)


@dataclass
class Optimized:
    """The optimized graph and what was done to it."""

    model: onnx.ModelProto
    record: dict[str, Any]


def optimize_graph(model: onnx.ModelProto, level: Level, config: Any, work: Path) -> Optimized:
    """``model`` optimized at ``level`` for CPU; ``config``: the model's Hugging Face config."""
    model_type = getattr(config, "model_type", None)
    ort_type = ORT_MODEL_TYPES.get(model_type or "")
    optimized = _onnxruntime_offline(model, level, work)
    fused: dict[str, int] = {}
    skipped = None
    if level.transformer_fusions and ort_type is not None:
        try:
            candidate, fused = _transformer_fusions(optimized, level, ort_type, config)
            _cpu_session(candidate)
            optimized = candidate
        except Exception as e:  # a graph the fusions cannot read, or ops without a CPU kernel (T5's
            # RelativePositionBias): ONNX Runtime's own fusions alone
            skipped, fused = f"{type(e).__name__}: {first_line(e, 200)}", {}
    _tidy(optimized)
    record = {
        "level": level.name,
        "onnxruntime_level": "basic" if level.ort_level == 1 else "extended",
        "transformer_fusions": ort_type if level.transformer_fusions and skipped is None else None,
        **({"transformer_fusions_failed": skipped} if skipped else {}),
        "fused_operators": fused,
        "left_out": [*SLOW_ON_CPU, "EmbedLayerNormalization"],
        "nodes_before": len(walk(model.graph)),
        "nodes_after": len(walk(optimized.graph)),
        "op_types_after": dict(sorted(Counter(r.node.op_type for r in walk(optimized.graph)).items())),
    }
    return Optimized(optimized, record)


def _onnxruntime_offline(model: onnx.ModelProto, level: Level, work: Path) -> onnx.ModelProto:
    """ONNX Runtime's own graph optimizer at ``level``, saved and read back (CPU provider)."""
    import onnxruntime as ort

    work.mkdir(parents=True, exist_ok=True)
    target = work / "onnxruntime.onnx"
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        if level.ort_level == 1
        else ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    )
    options.optimized_model_filepath = str(target)
    disabled = ["ConstantSharing", *SLOW_ON_CPU, *(_LEFT_TO_PYTHON if level.transformer_fusions else ())]
    ort.InferenceSession(
        model.SerializeToString(),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=disabled,
    )
    optimized = onnx.load(str(target))
    target.unlink()
    return optimized


def _cpu_session(model: onnx.ModelProto) -> None:
    """Raise if ONNX Runtime's CPU provider cannot load ``model`` (an op with no CPU kernel)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


@contextlib.contextmanager
def _quiet(
    names: tuple[str, ...] = ("onnxruntime", "fusion", "onnx_model", "optimizer", ""),
) -> Iterator[None]:
    """The Python fusions log every pattern they try at WARNING on the root logger; keep them out."""
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, lvl in saved.items():
            logging.getLogger(n).setLevel(lvl)


def _heads_and_hidden(config: Any) -> tuple[int, int]:
    """(attention heads, hidden size) from the config (0: let the fusions read them off the graph)."""
    heads = getattr(config, "num_attention_heads", 0) or 0
    hidden = getattr(config, "hidden_size", 0) or 0
    return (int(heads), int(hidden)) if isinstance(heads, int) and isinstance(hidden, int) else (0, 0)


def _transformer_fusions(
    model: onnx.ModelProto, level: Level, ort_type: str, config: Any
) -> tuple[onnx.ModelProto, dict[str, int]]:
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_by_fusion

    options = FusionOptions(ort_type)
    options.enable_skip_layer_norm = False
    options.enable_bias_skip_layer_norm = False
    options.enable_embed_layer_norm = False
    options.enable_gelu_approximation = level.gelu_approximation
    heads, hidden = _heads_and_hidden(config)
    work = onnx.ModelProto()
    work.CopyFrom(model)  # the fusions edit in place; a failure halfway must leave ``model`` whole
    with _quiet():
        fused = optimize_by_fusion(work, ort_type, heads, hidden, options)
        counts = fused.get_fused_operator_statistics()
    return fused.model, {k: int(v) for k, v in sorted(counts.items()) if v}


def _tidy(model: onnx.ModelProto) -> None:
    """Drop intermediate shapes (see the module docstring) and opset imports no node uses."""
    drop_intermediate_shapes(model)
    used = {r.node.domain or "" for r in walk(model.graph)} | {""}
    keep = [o for o in model.opset_import if (o.domain or "") in used]
    del model.opset_import[:]
    model.opset_import.extend(keep)
