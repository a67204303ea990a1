"""The parts of a generative export: Optimum's files for the layout, each with its traced module and
the feeds of its decoding steps (``first``: the prompt with an empty cache; ``cached``: new tokens
after it)."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from ..common import IOSpec, TensorSpec
from ..inputs import ordinary_token_floor
from ..parts import Feeds, Merge, Part, Plan
from ..tasks import TaskSpec
from ..wrappers import (
    DecoderStep,
    EncoderOutputs,
    MergedDecoderStep,
    Seq2SeqDecoderStep,
    TracedModule,
    traced,
)
from . import cache
from .feeds import Phase, StepFeeds, decoder_steps, encoder_feeds, seq2seq_steps, vocab_size
from .layout import (
    POSITION_ID_MODEL_TYPES,
    SEQ2SEQ_DECODER_MERGED_FILE,
    EncoderKind,
    OnnxPart,
    decoder_part,
    encoder_kind,
    seq2seq_parts,
)


def _cache_layers(model: torch.nn.Module, kind: EncoderKind | None, preprocessors: Any) -> int:
    """How many layers the model's own cache has (a one-step probe): configs name this differently
    across model types and transformers versions, the cache does not. ``kind``: the encoder of an
    encoder-decoder, ``None`` for a decoder-only model."""
    ids = torch.full((1, 2), ordinary_token_floor(vocab_size(model)))
    if kind is None:
        feeds: dict[str, Any] = {"input_ids": ids}
    else:
        gen = torch.Generator().manual_seed(0)
        feeds = {
            **encoder_feeds(kind, model, "single", preprocessors or {}, gen),
            "decoder_input_ids": ids[:, :1],
        }
    with torch.no_grad():
        past = cache.empty_cache(model, seq2seq=kind is not None)
        out = model(**feeds, past_key_values=past, use_cache=True, return_dict=True)
    flat = cache.flatten_cache(out.past_key_values, self_attention_only=kind is None)
    if kind is None and cache.fused_cache_axis(model) is not None:
        return len(flat)
    return len(flat) // (4 if kind is not None else 2)


def takes_position_ids(model: torch.nn.Module) -> bool:
    """Does a decoder's file need a ``position_ids`` input to match PyTorch on left-padded prompts?

    Optimum's list says so for the types it exports. Beyond it, a model whose forward takes
    ``position_ids`` is asked (a one-step probe): a left-padded prompt with positions counted from
    the attention mask, as ``generate`` feeds them, against the model's own default. Rotary and
    ALiBi models give the same outputs (only relative positions count; XGLM's absolute sinusoids do
    not), so their files keep Optimum's inputs.
    """
    config: Any = model.config
    if config.model_type in POSITION_ID_MODEL_TYPES:
        return True
    if "position_ids" not in inspect.signature(model.forward).parameters:
        return False
    floor = ordinary_token_floor(vocab_size(model))
    ids = floor + torch.arange(6).remainder(max(vocab_size(model) - floor, 1)).unsqueeze(0)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1]])
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    try:
        with torch.no_grad():
            own = model(input_ids=ids, attention_mask=mask, use_cache=False)[0]
            given = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False)[0]
    except Exception:  # the model cannot take them this way: Optimum's inputs
        return False
    real = mask[0].bool()
    return not torch.allclose(own[:, real], given[:, real], atol=1e-5, rtol=1e-5)


def _module(model: torch.nn.Module, part: OnnxPart) -> TracedModule:
    if part.role == "decoder":
        return traced(DecoderStep, model, part.io)
    if part.role == "encoder":
        return traced(EncoderOutputs, model, part.io)
    return traced(Seq2SeqDecoderStep, model, part.io, with_past_inputs=part.role == "decoder_with_past")


def generative_plan(
    model: torch.nn.Module, task: TaskSpec, preprocessors: Any = None, *, merge_decoders: bool = True
) -> Plan:
    """The plan of ``task``'s layout; an encoder-decoder with past writes its two decoders as one
    merged file unless ``merge_decoders`` is False."""
    parts = generative_parts(model, task, preprocessors)
    by_role = {p.role: p for p in parts}
    if not merge_decoders or "decoder_with_past" not in by_role:
        return Plan(task, parts)
    merge = Merge(
        SEQ2SEQ_DECODER_MERGED_FILE, by_role["decoder_first"].file, by_role["decoder_with_past"].file
    )
    return Plan(
        task, parts, (merge,), (_merged(merge, by_role["decoder_first"], by_role["decoder_with_past"]),)
    )


def _merged(merge: Merge, first: Part, past: Part) -> Part:
    """The merged decoder as a part to verify: both parts' input sets, each with the flag that picks
    its branch; the first step also gets the empty pasts Optimum feeds it."""
    names = set(first.io.input_names)
    flag = TensorSpec(merge.flag, {})
    io = IOSpec(
        (*first.io.inputs, *(t for t in past.io.inputs if t.name not in names), flag), first.io.outputs
    )
    past_names = [n for n in past.io.input_names if n not in names]
    checks: dict[str, Feeds] = {}
    for name, feeds in first.checks.items():
        cached = past.checks[name.replace("first", "cached", 1)]
        empty = {n: cached[n][:, :, :0] for n in past_names}
        checks[name] = {**feeds, **empty, merge.flag: torch.tensor([False])}
    for name, feeds in past.checks.items():
        checks[name] = {**feeds, merge.flag: torch.tensor([True])}
    module = MergedDecoderStep(first.module, past.module, io, merge.flag)  # type: ignore[arg-type]
    return Part(merge.file, "decoder_merged", io, module, {}, checks)


def generative_parts(model: torch.nn.Module, task: TaskSpec, preprocessors: Any = None) -> tuple[Part, ...]:
    """The parts of ``task``'s layout; the model's own presents size every past."""
    config: Any = model.config
    output = task.outputs[0]
    if task.layout == "seq2seq":
        kind = encoder_kind(
            getattr(config, "model_type", None), str(getattr(model, "main_input_name", "input_ids"))
        )
        layers = _cache_layers(model, kind, preprocessors)
        specs = seq2seq_parts(layers, with_past=task.with_past, kind=kind, output=output)

        def steps(phase: Phase) -> StepFeeds:
            return seq2seq_steps(specs, model, phase, kind=kind, preprocessors=preprocessors)

    else:
        layers = _cache_layers(model, None, preprocessors)
        fused = cache.fused_cache_axis(model)
        specs = (
            decoder_part(
                layers, takes_position_ids(model), with_past=task.with_past, output=output, fused_axis=fused
            ),
        )

        def steps(phase: Phase) -> StepFeeds:
            return decoder_steps(specs[0], model, phase)

    trace, checks = steps("export"), {phase: steps(phase) for phase in CHECKS}
    return tuple(_part(spec, model, trace, checks) for spec in specs)


# The verification input sets per phase, named in export_metadata.json by step and phase:
# ``first``/``cached`` for the padded batch, ``first-single``/``cached-single`` for one input.
CHECKS: dict[Phase, str] = {"verify": "", "single": "-single"}


def _part(spec: OnnxPart, model: torch.nn.Module, trace: StepFeeds, checks: dict[Phase, StepFeeds]) -> Part:
    steps = trace[spec.file]
    traced_step = steps["cached"] if "cached" in steps else steps["first"]
    named = {
        f"{step}{CHECKS[phase]}": feeds
        for phase, check in checks.items()
        for step, feeds in check[spec.file].items()
    }
    return Part(spec.file, spec.role, spec.io, _module(model, spec), traced_step, named)
