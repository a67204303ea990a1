"""The directory size a merged decoder saves: encoder-decoders of real sizes, exported with past twice,
merged (the default) and with ``merge_decoders=False``.

Run: ``python benchmarks/bench_merged_size.py [--backend torchscript]``. The checkpoints are built
from T5-small's and BART-base's shapes with random weights (the Hub is not reachable here; sizes do
not depend on the values) and the zoo's tokenizers.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
import transformers

from modelexport import run_export
from modelexport.zoo import cached_build

SHAPES = {
    "t5-small": (
        "t5",
        transformers.T5ForConditionalGeneration,
        {"d_model": 512, "d_kv": 64, "d_ff": 2048, "num_layers": 6, "num_heads": 8},
    ),
    "bart-base": (
        "bart",
        transformers.BartForConditionalGeneration,
        {
            "d_model": 768,
            "encoder_layers": 6,
            "decoder_layers": 6,
            "encoder_attention_heads": 12,
            "decoder_attention_heads": 12,
            "encoder_ffn_dim": 3072,
            "decoder_ffn_dim": 3072,
        },
    ),
}
TASK = "text2text-generation-with-past"


def _build(name: str, root: Path) -> Path:
    zoo_name, cls, shape = SHAPES[name]
    zoo = cached_build(zoo_name, TASK)
    config = transformers.AutoConfig.from_pretrained(zoo)
    for key, value in shape.items():
        setattr(config, key, value)
    torch.manual_seed(0)
    out = root / name
    cls(config).eval().save_pretrained(out)
    transformers.AutoTokenizer.from_pretrained(zoo).save_pretrained(out)
    return out


def _onnx_bytes(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.iterdir() if ".onnx" in f.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="torchscript", choices=["torchscript", "dynamo"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'model':<10} {'separate MB':>12} {'merged MB':>10} {'saved':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in SHAPES:
            source = _build(name, root)
            sizes = {}
            for merge in (False, True):
                out = root / f"{name}-{merge}"
                run_export(str(source), out, task=TASK, exporter=args.backend, merge_decoders=merge)
                sizes[merge] = _onnx_bytes(out)
            saved = 1 - sizes[True] / sizes[False]
            print(f"{name:<10} {sizes[False] / 1e6:>12.1f} {sizes[True] / 1e6:>10.1f} {saved:>7.1%}")


if __name__ == "__main__":
    main()
