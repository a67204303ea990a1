"""A real Hugging Face model class (registered with the Auto classes in-process, no remote code) whose
forward pools with ``torch.vmap``: the TorchScript tracer bakes the traced batch size into that
graph, so its export fails verification at another batch size, while ``torch.export`` traces it.
It is the test case for ``auto`` falling back from TorchScript to dynamo."""

from __future__ import annotations

from typing import Any

import torch
import transformers
from transformers.modeling_outputs import SequenceClassifierOutput


class VmapPoolerConfig(transformers.PretrainedConfig):
    model_type = "modelexport-test-vmap-pooler"

    def __init__(self, vocab_size: int = 1000, hidden_size: int = 16, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size


class VmapPoolerForSequenceClassification(transformers.PreTrainedModel):
    config_class = VmapPoolerConfig

    def __init__(self, config: VmapPoolerConfig) -> None:
        super().__init__(config)
        self.embed = torch.nn.Embedding(config.vocab_size, config.hidden_size)
        self.score = torch.nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_: Any
    ) -> SequenceClassifierOutput:
        hidden = self.embed(input_ids)
        mask = (torch.ones_like(input_ids) if attention_mask is None else attention_mask).to(hidden.dtype)
        pooled = torch.vmap(lambda h, m: (h * m[:, None]).sum(0) / m.sum())(hidden, mask)
        return SequenceClassifierOutput(logits=self.score(pooled))


def register() -> None:
    """Make ``AutoModelForSequenceClassification.from_pretrained`` find the class (idempotent)."""
    try:
        transformers.AutoConfig.register(VmapPoolerConfig.model_type, VmapPoolerConfig)
        transformers.AutoModelForSequenceClassification.register(
            VmapPoolerConfig, VmapPoolerForSequenceClassification
        )
    except ValueError:  # already registered in this process
        pass
