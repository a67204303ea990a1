"""Generative models: decoder-only with a KV cache (``ORTModelForCausalLM``) and encoder-decoders
split into encoder, decoder and decoder-with-past (``ORTModelForSeq2SeqLM``).

Written without Optimum's exporter, so it works where Optimum cannot import (transformers 5.x);
transformers-version differences live in :mod:`.compat` alone.
"""

from __future__ import annotations

from .generate import GenerateCheck, compare_generate
from .layout import (
    DECODER_FILE,
    ENCODER_FILE,
    POSITION_ID_MODEL_TYPES,
    SEQ2SEQ_DECODER_FILE,
    SEQ2SEQ_DECODER_WITH_PAST_FILE,
    OnnxPart,
    decoder_part,
    seq2seq_parts,
)
from .pipeline import export_generative
from .plan import DECODER_TASKS, GENERATIVE_TASKS, SEQ2SEQ_TASKS, Plan, is_generative_task, make_plan

__all__ = [
    "DECODER_FILE",
    "DECODER_TASKS",
    "ENCODER_FILE",
    "GENERATIVE_TASKS",
    "POSITION_ID_MODEL_TYPES",
    "SEQ2SEQ_DECODER_FILE",
    "SEQ2SEQ_DECODER_WITH_PAST_FILE",
    "SEQ2SEQ_TASKS",
    "GenerateCheck",
    "OnnxPart",
    "Plan",
    "compare_generate",
    "decoder_part",
    "export_generative",
    "is_generative_task",
    "make_plan",
    "seq2seq_parts",
]
