"""Where ONNX Runtime stops on a file PyTorch runs: the node, and the module that node belongs to.

An export that bakes a shape (a ``Reshape`` to the traced sequence length, an ``Add`` of a
position table cut to the traced size) cannot run at a new input shape at all, so there are no
values to compare; but ONNX Runtime names the node it was running, and the node's tag (or, in a
file without tags, its scoped name) names the module. A file that refuses an input itself (a fixed
dimension, another dtype) stops before any module: the input is named instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import helper

from ..errors import first_line
from .report import RunFailure

_NODE = re.compile(r"running (\w+) node\. Name:'([^']*)'")
_INPUT = re.compile(r"for (?:the following )?input: ?'?([\w.:/-]+)")


def _dtype_mismatch(graph: onnx.GraphProto, feeds: Mapping[str, np.ndarray]) -> str | None:
    """The first graph input whose declared element type is not the dtype it was fed."""
    for value in graph.input:
        fed = feeds.get(value.name)
        declared = value.type.tensor_type.elem_type
        if fed is not None and declared and helper.tensor_dtype_to_np_dtype(declared) != fed.dtype:
            return value.name
    return None


def locate(
    graph: onnx.GraphProto,
    node_module: Sequence[str],
    feeds: Mapping[str, np.ndarray],
    error: BaseException,
    file: str,
) -> RunFailure:
    """The :class:`RunFailure` behind ONNX Runtime's ``error`` on ``graph`` (``node_module``: the
    module of each main-graph node, in order)."""
    text = str(error)
    message = f"{type(error).__name__}: {first_line(error, 300)}"
    found = _NODE.search(text)
    if found:
        op, name = found.groups()
        index = next((i for i, n in enumerate(graph.node) if n.name == name), None)
        module = node_module[index] if index is not None else None
        return RunFailure(file=file, message=message, node=name, op=op, module=module)
    refused = _INPUT.search(text)
    name = refused.group(1) if refused else _dtype_mismatch(graph, feeds)
    return RunFailure(file=file, message=message, input=name)
