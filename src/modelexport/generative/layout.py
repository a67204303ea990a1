"""The files, input/output names and dynamic axes Optimum's generative loaders expect, as data.

Decoder-only (``ORTModelForCausalLM``): one ``model.onnx`` whose past key values are inputs and whose
present key values are outputs; the first step passes a past of length 0. Encoder-decoder
(``ORTModelForSeq2SeqLM``): ``encoder_model.onnx``, ``decoder_model.onnx`` (first step: no past, returns
self- and cross-attention presents) and ``decoder_with_past_model.onnx`` (later steps: takes both, returns
the self-attention presents). Names and axes follow optimum-onnx 0.1.0's ONNX configs.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..common import IOSpec, TensorSpec
from ..parts import Role

DECODER_FILE = "model.onnx"
ENCODER_FILE = "encoder_model.onnx"
SEQ2SEQ_DECODER_FILE = "decoder_model.onnx"
SEQ2SEQ_DECODER_WITH_PAST_FILE = "decoder_with_past_model.onnx"
# Both decoders in one file, the branch picked by a use_cache_branch input (ORTModelForSeq2SeqLM
# loads it first, and warns when it is missing).
SEQ2SEQ_DECODER_MERGED_FILE = "decoder_model_merged.onnx"

# Model types whose decoder takes position_ids (optimum.exporters.onnx.utils.MODEL_TYPES_REQUIRING_POSITION_IDS,
# with "opt" as for transformers >= 4.46, the oldest this project supports being 4.48).
POSITION_ID_MODEL_TYPES = frozenset(
    {
        "arcee",
        "codegen",
        "cohere",
        "deepseek_v3",
        "falcon",
        "glm",
        "gpt2",
        "gpt_bigcode",
        "gpt_neo",
        "gpt_neox",
        "gptj",
        "granite",
        "helium",
        "imagegpt",
        "internlm2",
        "llama",
        "mistral",
        "olmo",
        "olmo2",
        "opt",
        "phi",
        "phi3",
        "qwen2",
        "qwen3",
        "qwen3_moe",
        "smollm3",
        "stablelm",
    }
)

_BATCH = "batch_size"
_PAST = "past_sequence_length"
_TOTAL = "past_sequence_length + sequence_length"
_DEC_PAST = "past_decoder_sequence_length"
_DEC_TOTAL = "past_decoder_sequence_length + decoder_sequence_length"
_ENC = "encoder_sequence_length"


@dataclass(frozen=True)
class OnnxPart:
    """One ONNX file of a generative export: its name, its role and its inputs/outputs."""

    file: str
    role: Role
    io: IOSpec


def _pkv(prefix: str, layers: int, axes: dict[int, str], kinds: tuple[str, ...] = ("",)) -> list[TensorSpec]:
    return [
        TensorSpec(f"{prefix}.{i}{kind}.{kv}", axes)
        for i in range(layers)
        for kind in kinds
        for kv in ("key", "value")
    ]


def decoder_part(
    layers: int,
    position_ids: bool,
    *,
    with_past: bool = True,
    output: str = "logits",
    fused_axis: int | None = None,
) -> OnnxPart:
    """``model.onnx`` of a decoder-only model (Optimum's TextDecoderOnnxConfig, past in the inputs);
    ``fused_axis``: the sequence axis of a cache with one ``key_value`` tensor per layer (GPT-BigCode
    before transformers 4.54, as Optimum names it there)."""
    mask_axes = {0: _BATCH, 1: _TOTAL if with_past else "sequence_length"}
    inputs = [
        TensorSpec("input_ids", {0: _BATCH, 1: "sequence_length"}),
        TensorSpec("attention_mask", mask_axes),
    ]
    if position_ids:
        inputs.append(TensorSpec("position_ids", {0: _BATCH, 1: "sequence_length"}))
    outputs = [TensorSpec(output, {0: _BATCH, 1: "sequence_length"})]
    if with_past and fused_axis is not None:
        inputs += [
            TensorSpec(f"past_key_values.{i}.key_value", {0: _BATCH, fused_axis: _PAST})
            for i in range(layers)
        ]
        outputs += [
            TensorSpec(f"present.{i}.key_value", {0: _BATCH, fused_axis: _TOTAL}) for i in range(layers)
        ]
    elif with_past:
        inputs += _pkv("past_key_values", layers, {0: _BATCH, 2: _PAST})
        outputs += _pkv("present", layers, {0: _BATCH, 2: _TOTAL})
    return OnnxPart(DECODER_FILE, "decoder", IOSpec(tuple(inputs), tuple(outputs)))


@dataclass(frozen=True)
class EncoderKind:
    """What an encoder-decoder's encoder file takes (Optimum's names): its main input and whether an
    attention mask goes with it, and whether the decoder files take that mask (as
    ``encoder_attention_mask``) and a decoder attention mask of their own (Pix2Struct)."""

    main: str
    main_axes: dict[int, str]
    encoder_mask: bool
    decoder_encoder_mask: bool
    decoder_mask: bool = False


_ENC_AXES = {0: _BATCH, 1: _ENC}
TEXT_ENCODER = EncoderKind("input_ids", _ENC_AXES, True, True)
# Whisper's features have a fixed size (num_mel_bins x 2 * max_source_positions); no mask anywhere.
WHISPER_ENCODER = EncoderKind("input_features", {0: _BATCH}, False, False)
SPEECH_FEATURES_ENCODER = EncoderKind("input_features", _ENC_AXES, True, True)
WAVEFORM_ENCODER = EncoderKind("input_values", _ENC_AXES, True, True)
IMAGE_ENCODER = EncoderKind(
    "pixel_values", {0: _BATCH, 1: "num_channels", 2: "height", 3: "width"}, False, False
)
# Pix2Struct: max_patches flattened patches (a fixed count), their mask, and a decoder mask.
PATCHES_ENCODER = EncoderKind("flattened_patches", {0: _BATCH}, True, True, decoder_mask=True)


def encoder_kind(model_type: str | None, main_input: str) -> EncoderKind:
    """The encoder a model's type and main input name say it has."""
    if model_type == "whisper":
        return WHISPER_ENCODER
    return {
        "input_features": SPEECH_FEATURES_ENCODER,
        "input_values": WAVEFORM_ENCODER,
        "pixel_values": IMAGE_ENCODER,
        "flattened_patches": PATCHES_ENCODER,
    }.get(main_input, TEXT_ENCODER)


def seq2seq_parts(
    layers: int, *, with_past: bool = True, kind: EncoderKind = TEXT_ENCODER, output: str = "logits"
) -> tuple[OnnxPart, ...]:
    """Encoder, first-step decoder and decoder-with-past of an encoder-decoder (Optimum's
    OnnxSeq2SeqConfigWithPast: text, speech or image encoders); without past, the encoder and a decoder
    that returns ``output`` alone.

    Optimum names the with-past logits' sequence axis ``"1"``, a trick for fixed length-1 decoding;
    here it is ``decoder_sequence_length``, as the graph takes any number of new tokens.
    """
    enc_axes = _ENC_AXES
    encoder_inputs = [TensorSpec(kind.main, kind.main_axes)]
    if kind.encoder_mask:
        mask_axes = {0: _BATCH} if kind is PATCHES_ENCODER else enc_axes
        encoder_inputs.append(TensorSpec("attention_mask", mask_axes))
    encoder = IOSpec(tuple(encoder_inputs), (TensorSpec("last_hidden_state", enc_axes),))
    dec_inputs = [TensorSpec("input_ids", {0: _BATCH, 1: "decoder_sequence_length"})]
    if kind.decoder_mask:
        dec_inputs.append(
            TensorSpec(
                "attention_mask", {0: _BATCH, 1: _DEC_TOTAL if with_past else "decoder_sequence_length"}
            )
        )
    if kind.decoder_encoder_mask:
        dec_inputs.insert(0, TensorSpec("encoder_attention_mask", enc_axes))
    dec_common = (*dec_inputs, TensorSpec("encoder_hidden_states", enc_axes))
    logits = TensorSpec(output, {0: _BATCH, 1: "decoder_sequence_length"})
    own_out = _pkv("present", layers, {0: _BATCH, 2: _DEC_TOTAL}, (".decoder",))
    cross_out = _pkv("present", layers, {0: _BATCH, 2: _ENC}, (".encoder",))
    if not with_past:
        return (
            OnnxPart(ENCODER_FILE, "encoder", encoder),
            OnnxPart(SEQ2SEQ_DECODER_FILE, "decoder_first", IOSpec(dec_common, (logits,))),
        )
    first = IOSpec(dec_common, (logits, *_interleave(own_out, cross_out)))
    past_in = _interleave(
        _pkv("past_key_values", layers, {0: _BATCH, 2: _DEC_PAST}, (".decoder",)),
        _pkv("past_key_values", layers, {0: _BATCH, 2: _ENC}, (".encoder",)),
    )
    cached = IOSpec((*dec_common, *past_in), (logits, *own_out))
    return (
        OnnxPart(ENCODER_FILE, "encoder", encoder),
        OnnxPart(SEQ2SEQ_DECODER_FILE, "decoder_first", first),
        OnnxPart(SEQ2SEQ_DECODER_WITH_PAST_FILE, "decoder_with_past", cached),
    )


def _interleave(own: list[TensorSpec], cross: list[TensorSpec]) -> list[TensorSpec]:
    """Per layer: self key, self value, cross key, cross value (Optimum's order)."""
    out: list[TensorSpec] = []
    for i in range(0, len(own), 2):
        out += [own[i], own[i + 1], cross[i], cross[i + 1]]
    return out
