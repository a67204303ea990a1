"""Dynamic int8 quantization with ONNX Runtime, with modules left out by path.

``quantize_dynamic`` takes the ONNX node names to leave out; here a user names modules instead,
with globs over the ``modelexport.module`` paths (``encoder.layer.5.*``, ``*.output.dense``,
``classifier``): a node is left out when its module, or a module above it, matches.
"""

from __future__ import annotations

import contextlib
import logging
import platform
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import onnx

from ..errors import UserInputError
from ..graph import drop_intermediate_shapes, walk

# What quantize_dynamic turns an op into, per quantized op (to count what it did).
_INTEGER_OPS = ("MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul", "QAttention", "DynamicQuantizeLSTM")


def _ancestry(path: str) -> list[str]:
    """``a.b.c`` -> ``a.b.c``, ``a.b``, ``a`` (the root ``""`` is matched by ``*`` alone)."""
    parts = path.split(".") if path else []
    return [".".join(parts[:end]) for end in range(len(parts), 0, -1)] or [""]


def excluded_nodes(
    globs: Sequence[str], model: onnx.ModelProto, paths: Sequence[str]
) -> tuple[list[str], dict[str, list[str]]]:
    """Names of the nodes under a module matching one of ``globs`` (``paths``: each node's module in
    walk order), and the modules each glob matched. A glob matching no module is a user error."""
    refs = walk(model.graph)
    modules = {m for p in paths for m in _ancestry(p)}
    matched = {g: sorted(m for m in modules if fnmatchcase(m, g)) for g in globs}
    for glob, found in matched.items():
        if not found:
            raise UserInputError(
                f"--exclude-module '{glob}' matches no module of this export.",
                hint="run 'modelexport hierarchy DIR' for the module paths (globs: '*', '?', '[...]').",
            )
    chosen = {m for found in matched.values() for m in found}
    names = []
    for ref, path in zip(refs, paths, strict=True):
        if any(a in chosen for a in _ancestry(path)):
            if not ref.node.name:  # quantize_dynamic excludes by name: give it one
                ref.node.name = f"modelexport_node_{ref.index}"
            names.append(ref.node.name)
            if ref.node.op_type == "Gemm":  # the quantizer first rewrites it as MatMul "<name>_MatMul"
                names.append(f"{ref.node.name}_MatMul")
    return names, matched


# x86 CPU flags that give ONNX Runtime's uint8 x int8 kernels a dot product without int16 sums.
_VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def int8_saturates(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True on an x86 CPU without VNNI (AVX2 or AVX-512 alone), where ONNX Runtime multiplies uint8
    activations by int8 weights with ``vpmaddubsw``, whose int16 pair sums saturate for full-range
    weights; 7-bit weights (``reduce_range``) cannot saturate there. False elsewhere (VNNI, Arm) and
    when the flags cannot be read."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), None
    )
    return flags is not None and not any(f in flags for f in _VNNI_FLAGS)


@dataclass(frozen=True)
class QuantizeOptions:
    """How to quantize: as Optimum's dynamic configurations (int8 weights, one scale per output
    channel, uint8 activations), full range where the CPU has VNNI and 7-bit weights where its int8
    products saturate (:func:`int8_saturates`) unless ``reduce_range`` is given."""

    per_channel: bool = True
    reduce_range: bool = False
    exclude_modules: tuple[str, ...] = ()

    @classmethod
    def for_this_cpu(
        cls, per_channel: bool, reduce_range: bool | None, exclude_modules: tuple[str, ...]
    ) -> QuantizeOptions:
        return cls(per_channel, int8_saturates() if reduce_range is None else reduce_range, exclude_modules)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": "dynamic",
            "weights": "int8",
            "activations": "uint8",
            "per_channel": self.per_channel,
            "reduce_range": self.reduce_range,
            "exclude_modules": list(self.exclude_modules),
        }


@dataclass
class Quantized:
    model: onnx.ModelProto
    record: dict[str, Any]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """quantize_dynamic advises pre-processing on the root logger at every call."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_graph(
    model: onnx.ModelProto,
    paths: Sequence[str],
    options: QuantizeOptions,
    work: Path,
) -> Quantized:
    """``model`` with its weights' ops quantized to int8 (dynamic), the excluded modules kept fp32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = onnx.ModelProto()
    source.CopyFrom(model)
    exclude, matched = excluded_nodes(options.exclude_modules, source, paths)
    work.mkdir(parents=True, exist_ok=True)
    target = work / "quantized.onnx"
    with _quiet():
        quantize_dynamic(
            source,
            target,
            per_channel=options.per_channel,
            reduce_range=options.reduce_range,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=exclude,
            # Contrib ops an optimized export holds (Attention) have no ONNX type inference: fp32.
            extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    quantized = onnx.load(str(target))
    target.unlink()
    # The quantizer saves the shapes it inferred; with them ONNX Runtime fuses the slow
    # SkipLayerNormalization at load (see .fusions).
    drop_intermediate_shapes(quantized)
    ops = Counter(r.node.op_type for r in walk(quantized.graph))
    record = {
        "exclude_modules": {g: len(m) for g, m in matched.items()},
        "excluded_nodes": len(exclude),
        "integer_ops": {op: ops[op] for op in _INTEGER_OPS if ops[op]},
        "dequantized_weights": ops["DequantizeLinear"],
        "nodes_before": len(walk(model.graph)),
        "nodes_after": sum(ops.values()),
    }
    return Quantized(quantized, record)
