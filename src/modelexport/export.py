"""The export API: :func:`run_export` and the seed's :func:`export_with_config`, over one pipeline.

Options are checked before any work (:class:`~.options.ExportOptions`); ``exporter="auto"`` is the
list of backends :data:`~modelexport.common.AUTO_ORDER` tried in order by :func:`~.pipeline.run_pipeline`.
"""

from __future__ import annotations

from pathlib import Path

from .common import AUTO
from .options import ExportOptions, path_argument
from .pipeline import ExportStatus, ProgressCallback, run_pipeline
from .verify import DEFAULT_ATOL, DEFAULT_RTOL

__all__ = ["ExportOptions", "ExportStatus", "export_with_config", "run_export"]


def run_export(
    model_name_or_path: str,
    output_dir: str | Path,
    *,
    task: str | None = None,
    exporter: str = AUTO,
    opset: int | None = None,
    clean_onnx: bool = False,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    force: bool = False,
    with_config: bool = True,
    trust_remote_code: bool = False,
    merge_decoders: bool = True,
    progress: ProgressCallback | None = None,
) -> tuple[Path, ExportStatus]:
    """Run every stage; return the output directory and the status record (raises on failure).

    ``exporter="auto"`` (the default) tries TorchScript, the faster exporter, and falls back to
    dynamo when TorchScript cannot capture the model or its graph does not match PyTorch; the
    metadata records which backend produced the file and why the first was given up.
    ``with_config=False`` writes no config or preprocessor files (Optimum then cannot load the
    directory); ``merge_decoders=False`` writes an encoder-decoder's two decoders as two files
    instead of Optimum's merged one; ``progress`` is called with each stage's name as it starts.
    """
    options = ExportOptions(
        task, exporter, opset, clean_onnx, atol, rtol, force, with_config, trust_remote_code, merge_decoders
    ).check()
    source = path_argument(model_name_or_path, "model")
    out = Path(path_argument(output_dir, "output directory")).expanduser().resolve()
    status = run_pipeline(source, out, options, options.backends(), progress)
    return out, status


def export_with_config(
    model_name_or_path: str,
    output_dir: str | Path,
    *,
    task: str | None = None,
    exporter: str = AUTO,
    opset: int | None = None,
    clean_onnx: bool = False,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    force: bool = False,
    trust_remote_code: bool = False,
    merge_decoders: bool = True,
) -> Path:
    """Export a Hugging Face model (Hub id or local directory) to an Optimum-ready ONNX directory.

    The directory holds the ONNX files (``model.onnx``; Optimum's encoder and decoder files for
    encoder-decoders), with input/output names and dynamic axes as Optimum names them, config,
    generation config and preprocessor files, ``hierarchy.json`` and ``export_metadata.json``. ONNX
    Runtime is checked against PyTorch at shapes other than the traced one before anything is
    written; above ``atol``/``rtol`` a :class:`~modelexport.errors.VerifyError` is raised.
    """
    path, _ = run_export(
        model_name_or_path,
        output_dir,
        task=task,
        exporter=exporter,
        opset=opset,
        clean_onnx=clean_onnx,
        atol=atol,
        rtol=rtol,
        force=force,
        trust_remote_code=trust_remote_code,
        merge_decoders=merge_decoders,
    )
    return path
