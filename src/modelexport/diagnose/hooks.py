"""The PyTorch side of a diff: every module call's input and output tensors, in execution order.

Forward hooks on every module of the Hugging Face model record, per call, the tensors it was given
(positional and keyword arguments, nested tuples, dicts, model outputs and caches walked) and the
tensors it returned, with the order calls started and ended in and the call they ran inside. A
tensor a call receives that no earlier call handed over and its caller did not receive either was
made by the caller's own code: :meth:`Recording.creator` names that module.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

Named = list[tuple[str, torch.Tensor]]
_MAX_DEPTH = 6


@dataclass
class Call:
    """One call of one module: its tensors in and out, and where it sits in the run."""

    path: str
    class_name: str
    start: int  # order in which calls started (parents before their children)
    parent: int | None  # ``start`` of the call it ran inside
    inputs: Named = field(default_factory=list)
    outputs: Named = field(default_factory=list)
    end: int = -1  # order in which calls returned (children before their parents)


def tensors(value: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor in ``value`` with a dotted name: tuples, lists, dicts (model outputs) and cache
    objects (their attributes) are walked."""
    if isinstance(value, torch.Tensor):
        yield prefix, value
        return
    if depth >= _MAX_DEPTH or value is None or isinstance(value, str | int | float | bool):
        return
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, tuple | list):
        items = enumerate(value)
    elif type(value).__name__.endswith(("Cache", "Layer")) and hasattr(value, "__dict__"):
        items = vars(value).items()
    else:
        return
    for key, item in items:
        yield from tensors(item, f"{prefix}.{key}" if prefix else str(key), depth + 1)


@dataclass
class Recording:
    """Every call of one PyTorch run, by start order, and which calls returned or received each tensor."""

    calls: list[Call]

    def __post_init__(self) -> None:
        self._returned: dict[int, Call] = {}  # tensor id -> the first call that returned it
        self._received: dict[int, list[Call]] = {}
        for call in sorted(self.calls, key=lambda c: c.end):
            for _, t in call.outputs:
                self._returned.setdefault(id(t), call)
        for call in self.calls:
            for _, t in call.inputs:
                self._received.setdefault(id(t), []).append(call)

    def by_path(self) -> dict[str, list[Call]]:
        out: dict[str, list[Call]] = {}
        for call in self.calls:
            out.setdefault(call.path, []).append(call)
        return out

    def returned_by(self, tensor: torch.Tensor) -> Call | None:
        """The innermost call that returned ``tensor`` (the first to return it)."""
        return self._returned.get(id(tensor))

    def received_by(self, tensor: torch.Tensor) -> list[Call]:
        return self._received.get(id(tensor), [])

    def creator(self, tensor: torch.Tensor, receiver: Call) -> str | None:
        """The module whose own code made ``tensor``, given to ``receiver``: the innermost caller of
        ``receiver`` that did not receive it itself; None when it came from a module's output."""
        if self.returned_by(tensor) is not None:
            return None
        key = id(tensor)
        current = receiver
        while current.parent is not None:
            caller = self.calls[current.parent]
            if not any(id(t) == key for _, t in caller.inputs):
                return caller.path
            current = caller
        return None


Snapshot = set[tuple[int, str, str]]  # (call start, "in"/"out", name) of tensors to copy when seen


def _run_hooked(model: torch.nn.Module, run: Any, copy: Snapshot) -> tuple[Any, list[Call], Snapshot]:
    """One hooked run; returns the result, the calls and the tensors changed in place after they
    were recorded (their recorded value is not the one the module saw)."""
    paths = {id(m): p for p, m in model.named_modules()}
    calls: list[Call] = []
    versions: list[tuple[int, str, str, torch.Tensor, int]] = []
    stack: list[int] = []
    ended = [0]

    def keep(call: Call, side: str, named: Named) -> Named:
        out = []
        for name, t in named:
            if (call.start, side, name) in copy:
                t = t.clone()
            versions.append((call.start, side, name, t, t._version))
            out.append((name, t))
        return out

    def before(module: torch.nn.Module, args: Any, kwargs: Any) -> None:
        call = Call(paths[id(module)], type(module).__name__, len(calls), stack[-1] if stack else None)
        call.inputs = keep(call, "in", [*tensors(args, "args"), *tensors(kwargs)])
        calls.append(call)
        stack.append(call.start)

    def after(module: torch.nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        call = calls[stack.pop()]
        call.outputs = keep(call, "out", list(tensors(output, "output")))
        call.end = ended[0]
        ended[0] += 1

    handles = []
    try:
        for module in dict.fromkeys(m for _, m in model.named_modules()):
            handles.append(module.register_forward_pre_hook(before, with_kwargs=True))
            handles.append(module.register_forward_hook(after, with_kwargs=True))
        with torch.no_grad():
            result = run()
    finally:
        for handle in handles:
            handle.remove()
    changed = {(start, side, name) for start, side, name, t, v in versions if t._version != v}
    return result, calls, changed


def record(model: torch.nn.Module, run: Any) -> tuple[Any, Recording]:
    """Call ``run()`` with every module of ``model`` hooked; its result and the calls recorded.

    A tensor a module changes in place after another recorded it (ResNet's ``hidden += residual``
    on a layer's output) is recorded again, copied when seen, in a second run."""
    result, calls, changed = _run_hooked(model, run, set())
    if changed:
        result, calls, _ = _run_hooked(model, run, changed)
    return result, Recording(calls)
