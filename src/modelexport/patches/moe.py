"""Mixture-of-experts routing computed densely: every expert on every token, weighted by the routing.

Mixtral, Qwen2-MoE, Qwen3-MoE and OLMoE (and GPT-OSS, whose experts' weights are stacked in one
tensor each) route each token to its top-k experts (softmax, top-k,
optionally renormalised) and run each expert only on the tokens routed to it: a loop over the experts
that were hit, with ``torch.where`` picking their tokens. The TorchScript tracer bakes the traced
per-expert token counts into the graph (OLMoE loops over every expert, still gathering each one's
tokens by ``torch.where``; the first generation step then fails in ONNX Runtime:
``Split size 1 exceeds the remaining size``), and torch.export refuses the data-dependent loop
(``GuardOnDataDependentSymNode``). While active, such a block runs every expert on every token and
weights each result by the routing weight the original gives it (zero where it routes the token
elsewhere): the same sum, with no data-dependent shapes. Only blocks whose forward has the
routing this reproduces (and the sparse gather of tokens per expert) are replaced.

transformers 5 moved every such model's experts into one module with stacked 3-D weights, decorated
with ``use_experts_implementation`` (its forward takes the tokens, the chosen experts and their
weights, and dispatches to an eager loop or ``grouped_mm``, whose ``torch.histc`` neither exporter
translates). Those modules' forward is replaced by the same dense sum (:func:`_interface_dense_forward`);
their routers are traceable and stay as they are.
"""

from __future__ import annotations

import contextlib
import inspect
import types
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F

from .base import record

# The stacked expert weights of a GPT-OSS-style block.
_STACKED = ("gate_up_proj", "gate_up_proj_bias", "down_proj", "down_proj_bias")
# The routing the dense forward reproduces, as the originals write it.
_ROUTING = (
    "F.softmax(router_logits, dim=1, dtype=torch.float)",
    "torch.topk(routing_weights, self.top_k, dim=-1)",
)
_RENORMALISE = "routing_weights /= routing_weights.sum(dim=-1, keepdim=True)"
_NO_FORWARD = object()


def _source(block: torch.nn.Module) -> str:
    try:
        return inspect.getsource(type(block).forward)
    except (OSError, TypeError):
        return ""


def routed_blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The mixture-of-experts blocks of ``model`` whose routing :func:`_dense_forward` reproduces."""
    found = []
    for module in model.modules():
        experts, gate = getattr(module, "experts", None), getattr(module, "gate", None)
        if not isinstance(experts, torch.nn.ModuleList) or not isinstance(gate, torch.nn.Linear):
            continue
        source = _source(module)
        sparse = "torch.where(expert_mask" in source and "index_add_" in source
        if all(line in source for line in _ROUTING) and sparse and hasattr(module, "top_k"):
            found.append(module)
    return found


# The attributes transformers 5's ``use_experts_implementation`` gives an experts module.
_INTERFACE_FLAGS = ("has_gate", "has_bias", "is_transposed", "_is_expert_parallel")


def interface_experts(model: torch.nn.Module) -> list[torch.nn.Module]:
    """transformers 5's experts modules (``use_experts_implementation``) with stacked 3-D weights, not
    split across devices: :func:`_interface_dense_forward` computes what their forward computes."""
    found = []
    for module in model.modules():
        if not all(hasattr(module, flag) for flag in _INTERFACE_FLAGS) or module._is_expert_parallel:
            continue
        up = getattr(module, "gate_up_proj" if module.has_gate else "up_proj", None)
        down = getattr(module, "down_proj", None)
        if isinstance(up, torch.Tensor) and isinstance(down, torch.Tensor) and up.dim() == down.dim() == 3:
            found.append(module)
    return found


def stacked_blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """Expert blocks holding every expert's weights in stacked tensors (GPT-OSS's ``GptOssExperts``:
    ``gate_up_proj`` (experts, hidden, 2 x inner) and ``down_proj`` with biases, a clamped GLU), whose
    forward gathers each hit expert's tokens on the CPU: :func:`_stacked_dense_forward` reproduces it."""
    found = []
    for module in model.modules():
        weights = [getattr(module, n, None) for n in _STACKED]
        if not all(isinstance(w, torch.nn.Parameter) for w in weights) or hasattr(module, "has_gate"):
            continue  # (transformers 5's GPT-OSS experts take the top-k weights: interface_experts)
        source = _source(module)
        if (
            "expert_hit" in source
            and "index_add_" in source
            and hasattr(module, "limit")
            and hasattr(module, "alpha")
        ):
            found.append(module)
    return found


def indexed_blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """Blocks whose ``moe(hidden_states, topk_indices, topk_weights)`` loops over every expert,
    gathering its tokens by ``torch.where`` (DeepSeek-V3, dots1, GLM-4-MoE): their router is
    traceable, the gather is not; :func:`_indexed_dense_moe` reproduces the method."""
    found = []
    for module in model.modules():
        method = getattr(type(module), "moe", None)
        if method is None or not isinstance(getattr(module, "experts", None), torch.nn.ModuleList):
            continue
        try:
            source = inspect.getsource(method)
        except (OSError, TypeError):
            continue
        if "torch.where(mask)" in source and "index_add_" in source and "topk_weights" in source:
            found.append(module)
    return found


def applies(model: torch.nn.Module) -> bool:
    return bool(
        routed_blocks(model) or stacked_blocks(model) or indexed_blocks(model) or interface_experts(model)
    )


def _renormalises(block: torch.nn.Module) -> bool:
    flag = getattr(block, "norm_topk_prob", None)
    return bool(flag) if flag is not None else _RENORMALISE in _source(block)


def _dense_forward(self: Any, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    batch, length, hidden = hidden_states.shape
    tokens = hidden_states.view(-1, hidden)
    router_logits = self.gate(tokens)
    weights = F.softmax(router_logits, dim=1, dtype=torch.float)
    top, chosen = torch.topk(weights, self.top_k, dim=-1)
    if _renormalises(self):
        top = top / top.sum(dim=-1, keepdim=True)
    top = top.to(tokens.dtype)
    routing = torch.zeros_like(router_logits, dtype=tokens.dtype).scatter(1, chosen, top)  # (tokens, experts)
    out = torch.zeros_like(tokens)
    for index, expert in enumerate(self.experts):
        out = out + expert(tokens) * routing[:, index : index + 1]
    shared = getattr(self, "shared_expert", None)
    if shared is not None:  # Qwen2-MoE: a gated expert every token goes through
        out = out + torch.sigmoid(self.shared_expert_gate(tokens)) * shared(tokens)
    return out.reshape(batch, length, hidden), router_logits


def _stacked_dense_forward(
    self: Any, hidden_states: torch.Tensor, router_indices: Any = None, routing_weights: Any = None
) -> torch.Tensor:
    """Every expert on every token in two batched products; each result weighted by the routing
    weight the router gave it (zero for experts it did not pick), summed over the experts."""
    batch = hidden_states.shape[0]
    tokens = hidden_states.reshape(-1, self.hidden_size)  # (tokens, hidden)
    experts = routing_weights.shape[1]
    gate_up = torch.matmul(tokens.unsqueeze(0), self.gate_up_proj[:experts])  # (experts, tokens, 2 inner)
    gate_up = gate_up + self.gate_up_proj_bias[:experts].unsqueeze(1)
    gate, up = gate_up[..., ::2], gate_up[..., 1::2]
    gate = gate.clamp(max=self.limit)
    up = up.clamp(min=-self.limit, max=self.limit)
    gated = (up + 1) * (gate * torch.sigmoid(gate * self.alpha))
    out = torch.matmul(gated, self.down_proj[:experts]) + self.down_proj_bias[:experts].unsqueeze(1)
    out = out * routing_weights.transpose(0, 1).unsqueeze(-1).to(out.dtype)  # (experts, tokens, hidden)
    return out.sum(dim=0).to(hidden_states.dtype).view(batch, -1, self.hidden_size)


def _indexed_dense_moe(
    self: Any, hidden_states: torch.Tensor, topk_indices: torch.Tensor, topk_weights: torch.Tensor
) -> torch.Tensor:
    """Every expert on every token, weighted by its chosen weight (zero where it was not chosen)."""
    routing = torch.zeros(
        hidden_states.shape[0], len(self.experts), dtype=topk_weights.dtype, device=hidden_states.device
    ).scatter(1, topk_indices, topk_weights)  # (tokens, experts)
    out = torch.zeros_like(hidden_states, dtype=topk_weights.dtype)
    for index, expert in enumerate(self.experts):
        out = out + expert(hidden_states) * routing[:, index : index + 1]
    return out.type(hidden_states.dtype)


def _interface_dense_forward(
    self: Any, hidden_states: torch.Tensor, top_k_index: torch.Tensor, top_k_weights: torch.Tensor
) -> torch.Tensor:
    """Every expert on every token in two batched products (each expert's gate and up projection,
    gate or activation, down projection, optional bias and post-expert norm), weighted by the weight
    the router gave it and zero for experts it did not pick (an index past the last expert picks
    none), summed over the experts."""
    experts = self.down_proj.shape[0]
    routing = torch.zeros(
        hidden_states.shape[0], experts + 1, dtype=hidden_states.dtype, device=hidden_states.device
    ).scatter(1, top_k_index, top_k_weights.to(hidden_states.dtype))[:, :experts]  # (tokens, experts)
    up = self.gate_up_proj if self.has_gate else self.up_proj
    # Stored (experts, out, in), or (experts, in, out) when transposed.
    out = torch.matmul(hidden_states.unsqueeze(0), up if self.is_transposed else up.transpose(1, 2))
    if self.has_bias:
        out = out + (self.gate_up_proj_bias if self.has_gate else self.up_proj_bias).unsqueeze(1)
    out = self._apply_gate(out) if self.has_gate else self.act_fn(out)  # (experts, tokens, inner)
    down = self.down_proj
    out = torch.matmul(out, down if self.is_transposed else down.transpose(1, 2))
    if self.has_bias:
        out = out + self.down_proj_bias.unsqueeze(1)
    if getattr(self, "has_post_expert_norm", False):
        out = self.post_expert_norm(out)
    out = out * routing.transpose(0, 1).unsqueeze(-1)  # (experts, tokens, hidden)
    return out.sum(dim=0).to(hidden_states.dtype)


@contextlib.contextmanager
def dense_experts(model: torch.nn.Module, applied: list[str]) -> Iterator[None]:
    """While active, every routed block of ``model`` runs its experts densely."""
    replaced: list[tuple[torch.nn.Module, str, Callable[..., Any]]] = [
        *((b, "forward", _dense_forward) for b in routed_blocks(model)),
        *((b, "forward", _stacked_dense_forward) for b in stacked_blocks(model)),
        *((b, "moe", _indexed_dense_moe) for b in indexed_blocks(model)),
        *((b, "forward", _interface_dense_forward) for b in interface_experts(model)),
    ]
    priors = [vars(block).get(name, _NO_FORWARD) for block, name, _ in replaced]
    for block, name, dense in replaced:
        setattr(block, name, types.MethodType(dense, block))
    for kind, name in dict.fromkeys((type(b).__name__, n) for b, n, _ in replaced):
        record(applied, f"{kind}.{name}: every expert on every token, weighted by the routing")
    try:
        yield
    finally:
        for (block, name, _), prior in zip(replaced, priors, strict=True):
            if prior is _NO_FORWARD:
                delattr(block, name)
            else:
                setattr(block, name, prior)
