"""Cross-backend agreement: do two exports of one model tag their weight-carrying ops alike?

The two exporters name nodes and even initializers differently (TorchScript folds ``Linear``'s
transposed weight into ``onnx::MatMul_123``), so ops are matched by what they compute with: the
content of their weight (an initializer or Constant, through Identity/Transpose/Cast), hashed so a
matrix and its transpose match. Weight-carrying ops: MatMul, Gemm, Conv, ConvTranspose, and Gather
whose data input is a weight (embeddings).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

from ..graph import walk
from .tagging import KEY_MODULE

_WEIGHT_INPUTS = {"MatMul": (0, 1), "Gemm": (1,), "Conv": (1,), "ConvTranspose": (1,), "Gather": (0,)}
_CATEGORY = {
    "MatMul": "linear",
    "Gemm": "linear",
    "Conv": "conv",
    "ConvTranspose": "conv",
    "Gather": "gather",
}
_PASS_THROUGH = {"Identity", "Transpose", "Cast"}


@dataclass
class Agreement:
    """Weight-carrying ops matched across two exports and whether their module paths agree."""

    matched: int = 0
    agreed: int = 0
    only_a: int = 0
    only_b: int = 0
    disagreements: list[tuple[str, str]] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return self.agreed / self.matched if self.matched else 0.0


def _fingerprint(array: np.ndarray) -> str | None:
    if array.ndim < 2:
        return None
    digests = [hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()]
    if array.ndim == 2:
        digests.append(hashlib.sha1(np.ascontiguousarray(array.T).tobytes()).hexdigest())
    return f"{sorted(array.shape)}:{min(digests)}"


def weight_ops(model: onnx.ModelProto) -> dict[tuple[str, str], list[str]]:
    """(op category, weight fingerprint) -> module paths of the ops using that weight."""
    constants = {t.name: t for t in model.graph.initializer}
    producer: dict[str, onnx.NodeProto] = {}
    refs = walk(model.graph)
    for ref in refs:
        for out in ref.node.output:
            producer[out] = ref.node
        if ref.node.op_type == "Constant" and ref.node.attribute and ref.node.attribute[0].name == "value":
            constants[ref.node.output[0]] = ref.node.attribute[0].t
    cache: dict[str, str | None] = {}

    def fingerprint(name: str) -> str | None:
        if name not in cache:
            node = producer.get(name)
            if name in constants:
                cache[name] = _fingerprint(numpy_helper.to_array(constants[name]))
            elif node is not None and node.op_type in _PASS_THROUGH and node.input:
                cache[name] = fingerprint(node.input[0])
            else:
                cache[name] = None
        return cache[name]

    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for ref in refs:
        positions = _WEIGHT_INPUTS.get(ref.node.op_type, ())
        props = {p.key: p.value for p in ref.node.metadata_props}
        for i in positions:
            if i < len(ref.node.input) and (fp := fingerprint(ref.node.input[i])) is not None:
                found[(_CATEGORY[ref.node.op_type], fp)].append(props.get(KEY_MODULE, "?"))
                break
    return dict(found)


def module_agreement(model_a: onnx.ModelProto, model_b: onnx.ModelProto) -> Agreement:
    """Compare the ``modelexport.module`` tags of the weight-carrying ops of two tagged exports."""
    a, b = weight_ops(model_a), weight_ops(model_b)
    result = Agreement()
    for key in a.keys() | b.keys():
        left, right = sorted(a.get(key, [])), sorted(b.get(key, []))
        matched = min(len(left), len(right))
        result.only_a += len(left) - matched
        result.only_b += len(right) - matched
        result.matched += matched
        pool = list(right)
        agreed = 0
        for path in left:
            if path in pool:
                pool.remove(path)
                agreed += 1
        agreed = min(agreed, matched)
        result.agreed += agreed
        if agreed < matched:
            result.disagreements.append((", ".join(left), ", ".join(right)))
    return result
