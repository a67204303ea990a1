"""GPT-BigCode before transformers 4.54 keeps one ``key_value`` tensor per layer (no cache objects):
Optimum names its files' pasts ``past_key_values.{i}.key_value``, with the sequence on axis 1 under
multi-query attention. On 4.48 every GPT-BigCode export with a cache failed ('PyTorch itself fails')
while Optimum's exporter passed; the matrix's transformers-oldest env runs the real model."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from modelexport.generative import cache
from modelexport.generative.layout import decoder_part


class _Legacy(torch.nn.Module):
    _supports_cache_class = False

    def __init__(self, model_type: str, multi_query: bool = True) -> None:
        super().__init__()
        self.config = SimpleNamespace(model_type=model_type, multi_query=multi_query)


def test_only_a_gpt_bigcode_without_cache_objects_has_a_fused_cache():
    assert cache.fused_cache_axis(_Legacy("gpt_bigcode")) == 1
    assert cache.fused_cache_axis(_Legacy("gpt_bigcode", multi_query=False)) == 2
    assert cache.fused_cache_axis(_Legacy("gpt2")) is None
    modern = _Legacy("gpt_bigcode")
    modern._supports_cache_class = True  # type: ignore[misc]
    assert cache.fused_cache_axis(modern) is None


def test_a_fused_cache_goes_to_the_model_and_back_one_tensor_per_layer():
    layers = [torch.randn(2, 5, 16), torch.randn(2, 5, 16)]
    assert cache.decoder_cache(_Legacy("gpt_bigcode"), layers) == layers
    flat = cache.flatten_cache(layers, self_attention_only=True)  # what the model returns
    assert len(flat) == 2 and all(a is b for a, b in zip(flat, layers, strict=True))
    pairs = ((torch.randn(2, 4, 5, 8), torch.randn(2, 4, 5, 8)),)  # a legacy (key, value) cache
    assert len(cache.flatten_cache(pairs)) == 2


def test_the_decoder_file_takes_optimums_fused_names_and_axes():
    part = decoder_part(2, True, fused_axis=1)
    past = [t for t in part.io.inputs if t.name.startswith("past_key_values.")]
    assert [t.name for t in past] == ["past_key_values.0.key_value", "past_key_values.1.key_value"]
    assert past[0].axes == {0: "batch_size", 1: "past_sequence_length"}
    present = [t for t in part.io.outputs if t.name.startswith("present.")]
    assert [t.name for t in present] == ["present.0.key_value", "present.1.key_value"]
    assert present[0].axes == {0: "batch_size", 1: "past_sequence_length + sequence_length"}
    plain = decoder_part(2, True)
    assert [t.name for t in plain.io.inputs][3:5] == ["past_key_values.0.key", "past_key_values.0.value"]
