"""modelexport: Hugging Face -> ONNX directories that Optimum loads, with module hierarchy tags."""

from __future__ import annotations

__version__ = "0.1.0"
