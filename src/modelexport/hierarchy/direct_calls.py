"""Module scopes for ``forward`` methods called directly (``layer.forward(x)``, not ``layer(x)``).

Both exporters record a module only when it is called through ``__call__`` (TorchScript pushes its
scope in ``Module._slow_forward``, torch.export notes it on the module stack in ``Module.__call__``),
so the ops of a layer whose ``forward`` its parent calls directly (SqueezeBERT's encoder) land in
the parent, and their nested modules' names no longer say which layer they belong to. While an
export runs, every module's ``forward`` is wrapped (an instance attribute, removed afterwards):

* TorchScript (:func:`scope_direct_calls`): a direct call pushes the module's scope itself;
* dynamo (:func:`route_direct_calls`): a direct call goes through ``module(...)``, unless the module
  has hooks (they would then run once more than the model asked for).

A call through ``__call__`` is recognised by its caller being ``Module._call_impl`` or
``Module._slow_forward``; anything else counts as direct.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

_THROUGH_CALL = frozenset(
    getattr(torch.nn.Module, name).__code__
    for name in ("_call_impl", "_slow_forward")
    if hasattr(getattr(torch.nn.Module, name, None), "__code__")
)

Wrap = Callable[[torch.nn.Module, Callable[..., Any]], Callable[..., Any]]


def _called_directly() -> bool:
    """Whether the ``forward`` wrapper calling this was called other than by ``Module.__call__``."""
    return sys._getframe(2).f_code not in _THROUGH_CALL


@contextlib.contextmanager
def wrapped_forwards(modules: Iterable[torch.nn.Module], wrap: Wrap) -> Iterator[None]:
    """While active, each module's ``forward`` is ``wrap(module, forward)`` (ScriptModules and
    modules whose instance ``forward`` is not callable left alone)."""
    installed: list[tuple[torch.nn.Module, Any]] = []
    try:
        for module in modules:
            if isinstance(module, torch.jit.ScriptModule) or (
                "forward" in module.__dict__ and not callable(module.__dict__["forward"])
            ):
                continue
            installed.append((module, module.__dict__.get("forward")))
            module.__dict__["forward"] = wrap(module, module.forward)
        yield
    finally:
        for module, prior in installed:
            if prior is None:
                module.__dict__.pop("forward", None)
            else:
                module.__dict__["forward"] = prior


def scope_direct_calls(modules: dict[torch.nn.Module, str], calls: list[int]) -> Wrap:
    """The TorchScript wrapper: a direct call while tracing pushes the scope ``modules[module]``."""

    def wrap(module: torch.nn.Module, forward: Callable[..., Any]) -> Callable[..., Any]:
        name = modules.get(module)

        @functools.wraps(forward)
        def scoped_forward(*args: Any, **kwargs: Any) -> Any:
            state = torch._C._get_tracing_state()
            if state is None or name is None or not _called_directly():
                return forward(*args, **kwargs)
            calls.append(1)
            state.push_scope(name)
            try:
                return forward(*args, **kwargs)
            finally:
                state.pop_scope()

        return scoped_forward

    return wrap


def _dynamo_tracing() -> bool:
    """Inside torch.export's strict mode, which traces Python bytecode itself (and sees direct
    calls on its own terms), the wrapper steps aside."""
    check = getattr(torch.compiler, "is_dynamo_compiling", None)
    return bool(check()) if check is not None else False


def _has_hooks(module: torch.nn.Module) -> bool:
    hooks = torch.nn.modules.module
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or getattr(hooks, "_global_forward_hooks", None)
        or getattr(hooks, "_global_forward_pre_hooks", None)
    )


def route_direct_calls(calls: list[int]) -> Wrap:
    """The dynamo wrapper: a direct call goes through ``module(...)`` so torch.export records it."""

    def wrap(module: torch.nn.Module, forward: Callable[..., Any]) -> Callable[..., Any]:
        routing: list[bool] = []

        @functools.wraps(forward)
        def routed_forward(*args: Any, **kwargs: Any) -> Any:
            if _dynamo_tracing() or routing or not _called_directly() or _has_hooks(module):
                if routing:
                    routing.pop()
                return forward(*args, **kwargs)
            calls.append(1)
            routing.append(True)
            return module(*args, **kwargs)

        return routed_forward

    return wrap


@contextlib.contextmanager
def record_direct_calls(model: torch.nn.Module) -> Iterator[list[int]]:
    """For the dynamo backend: while active, direct ``forward`` calls of ``model``'s modules are
    recorded as module calls; yields the list of direct calls seen (its length is their count)."""
    calls: list[int] = []
    below = [m for m in model.modules() if m is not model]  # the exporter calls the root itself
    with wrapped_forwards(below, route_direct_calls(calls)):
        yield calls
