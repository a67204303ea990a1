"""A real Hugging Face model class (registered with the Auto classes in-process, no remote code) that
routes tokens the way mixture-of-experts layers without a dense replacement do: a Python loop over
the tokens a gate selects (``torch.nonzero``). The TorchScript tracer unrolls the loop for the traced
selection, so the graph is wrong (or cannot run) on inputs that select other tokens; ``torch.export``
refuses the data-dependent loop. Every backend fails."""

from __future__ import annotations

from typing import Any

import torch
import transformers
from transformers.modeling_outputs import SequenceClassifierOutput


class RouterConfig(transformers.PretrainedConfig):
    model_type = "modelexport-test-router"

    def __init__(self, vocab_size: int = 1000, hidden_size: int = 16, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size


class RouterForSequenceClassification(transformers.PreTrainedModel):
    config_class = RouterConfig

    def __init__(self, config: RouterConfig) -> None:
        super().__init__(config)
        self.embed = torch.nn.Embedding(config.vocab_size, config.hidden_size)
        self.gate = torch.nn.Linear(config.hidden_size, 1)
        self.score = torch.nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_: Any
    ) -> SequenceClassifierOutput:
        hidden = self.embed(input_ids)
        flat = hidden.reshape(-1, hidden.shape[-1])
        routed = torch.zeros_like(flat)
        for index in torch.nonzero(self.gate(flat)[:, 0] > 0):  # as many steps as the gate selects
            routed = routed.index_add(0, index, flat[index] * 2.0)
        return SequenceClassifierOutput(logits=self.score((flat + routed).reshape(hidden.shape).mean(1)))


def register() -> None:
    """Make ``AutoModelForSequenceClassification.from_pretrained`` find the class (idempotent)."""
    try:
        transformers.AutoConfig.register(RouterConfig.model_type, RouterConfig)
        transformers.AutoModelForSequenceClassification.register(
            RouterConfig, RouterForSequenceClassification
        )
    except ValueError:  # already registered in this process
        pass
