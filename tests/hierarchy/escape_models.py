"""Real Hugging Face model classes (registered with the Auto classes in-process, no remote code)
whose encoders reach their layers in the ways that escape the TorchScript tracer's module scopes,
as transformers' own models do (docs/hierarchy.md lists them):

* ``call``: ``layer(x)``, the ordinary way (the control);
* ``direct``: ``layer.forward(x)`` (SqueezeBERT's encoder): the tracer pushes no scope for the layer;
* ``functional``: a method other than ``forward`` of each layer of a ``ModuleList`` (``layer.mix(x)``)
  and a weight used with a functional op by another module (a tied output projection);
* ``loop``: one layer called at every depth (ALBERT's shared layer group);
* ``shared``: one layer object at two positions of a ``ModuleList``, and one module registered under
  two names and called by the second (Marian's ``shared`` embedding, called as ``embed_tokens``).

The layers are SqueezeBERT-like: 1x1 convolutions for every projection, so weight-carrying ops
are ``Conv``.
"""

from __future__ import annotations

from typing import Any

import torch
import transformers
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

STYLES = ("call", "direct", "functional", "loop", "shared")


class EscapeConfig(transformers.PretrainedConfig):
    model_type = "modelexport-test-scope-escapes"

    def __init__(
        self,
        vocab_size: int = 1000,
        hidden_size: int = 32,
        num_heads: int = 2,
        num_layers: int = 2,
        style: str = "call",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vocab_size, self.hidden_size, self.num_heads = vocab_size, hidden_size, num_heads
        self.num_layers, self.style = num_layers, style


class EscapeAttention(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = (nn.Conv1d(hidden, hidden, 1) for _ in range(3))
        self.output = nn.Conv1d(hidden, hidden, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, h, t = x.shape
        q, k, v = (p(x).view(b, self.heads, h // self.heads, t) for p in (self.query, self.key, self.value))
        scores = torch.matmul(q.transpose(2, 3), k) / (h // self.heads) ** 0.5 + mask
        context = torch.matmul(v, scores.softmax(-1).transpose(2, 3))
        return self.output(context.reshape(b, h, t))


class EscapeLayer(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.attention = EscapeAttention(hidden, heads)
        self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.up, self.down = nn.Conv1d(hidden, 2 * hidden, 1), nn.Conv1d(2 * hidden, hidden, 1)

    def _norm(self, norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return norm(x.transpose(1, 2)).transpose(1, 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self._norm(self.norm1, x + self.attention(x, mask))
        return self._norm(self.norm2, x + self.down(nn.functional.gelu(self.up(x))))

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        """The feed-forward part as functional code on this layer's weights (no forward runs)."""
        hidden = nn.functional.conv1d(x, self.up.weight, self.up.bias)
        out = nn.functional.conv1d(nn.functional.gelu(hidden), self.down.weight, self.down.bias)
        return nn.functional.layer_norm(
            (x + out).transpose(1, 2), (self.norm2.normalized_shape[0],)
        ).transpose(1, 2)


class EscapeEncoder(nn.Module):
    def __init__(self, config: EscapeConfig) -> None:
        super().__init__()
        self.style, self.depth = config.style, config.num_layers
        count = 1 if config.style == "loop" else config.num_layers
        layers = [EscapeLayer(config.hidden_size, config.num_heads) for _ in range(count)]
        if config.style == "shared":
            layers = [layers[0]] * config.num_layers
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.style == "loop":
            for _ in range(self.depth):
                x = self.layers[0](x, mask)
            return x
        for layer in self.layers:
            if self.style == "direct":
                x = layer.forward(x, mask)
            elif self.style == "functional":
                x = layer.mix(x)
            else:
                x = layer(x, mask)
        return x


class EscapeEmbeddings(nn.Module):
    def __init__(self, config: EscapeConfig, words: nn.Embedding | None = None) -> None:
        super().__init__()
        self.words = words if words is not None else nn.Embedding(config.vocab_size, config.hidden_size)
        self.positions = nn.Embedding(512, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]
        return self.norm(self.words(input_ids) + self.positions(positions))


class EscapeForSequenceClassification(transformers.PreTrainedModel):
    config_class = EscapeConfig

    def __init__(self, config: EscapeConfig) -> None:
        super().__init__(config)
        if config.style == "shared":  # one module, two names; called by the second (Marian's shared)
            self.token_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.embeddings = EscapeEmbeddings(config, getattr(self, "token_embeddings", None))
        self.encoder = EscapeEncoder(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_: Any
    ) -> SequenceClassifierOutput:
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        additive = (1.0 - mask[:, None, None, :].float()) * -1e4
        hidden = self.encoder(self.embeddings(input_ids).transpose(1, 2), additive)
        first = hidden[:, :, 0]
        if self.config.style == "functional":  # the word embeddings' weight, used by another module
            first = first + nn.functional.linear(first, self.embeddings.words.weight).mean(-1, keepdim=True)
        return SequenceClassifierOutput(logits=self.classifier(first))


def register() -> None:
    """Make ``AutoModelForSequenceClassification.from_pretrained`` find the class (idempotent)."""
    try:
        transformers.AutoConfig.register(EscapeConfig.model_type, EscapeConfig)
        transformers.AutoModelForSequenceClassification.register(
            EscapeConfig, EscapeForSequenceClassification
        )
    except ValueError:  # already registered in this process
        pass


def save(style: str, out: Any, tokenizer: Any, seed: int = 0) -> Any:
    """Write a randomly initialised model of ``style`` with ``tokenizer`` into ``out``."""
    register()
    config = EscapeConfig(
        vocab_size=tokenizer.vocab_size,
        style=style,
        num_labels=3,
        architectures=[EscapeForSequenceClassification.__name__],
    )
    torch.manual_seed(seed)
    model = EscapeForSequenceClassification(config).eval()
    with torch.no_grad():  # distinct weights everywhere, as in a trained checkpoint
        for p in model.parameters():
            p.copy_(torch.randn(p.shape) * 0.1)
    # safetensors refuses tensors shared between names; a pickle keeps the sharing.
    model.save_pretrained(out, safe_serialization=style != "shared")
    tokenizer.save_pretrained(out)
    return out
