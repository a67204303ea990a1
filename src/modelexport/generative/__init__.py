"""Generative layouts: decoder-only with a KV cache (``ORTModelForCausalLM``) and encoder-decoders split
into encoder, decoder and decoder-with-past (``ORTModelForSeq2SeqLM``): their files and names
(:mod:`.layout`), the inputs of each decoding step (:mod:`.feeds`), the KV cache as flat tensors
(:mod:`.cache`), the parts of an export (:mod:`.plan`) and greedy generation through Optimum
(:mod:`.generate`).

Written without Optimum's exporter, so it works where Optimum cannot import (transformers 5.x).
"""
