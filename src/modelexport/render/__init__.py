"""Matrix results: the row schema, merging results files, and pure Markdown / JSON / HTML renderers."""

from __future__ import annotations

from .html import render_html
from .jsonout import render_json
from .markdown import render_markdown
from .results import Environment, Results, load_results, merge
from .schema import (
    SCHEMA_VERSION,
    ExportOutcome,
    FilesCheck,
    LoadCheck,
    ParityCheck,
    ResultsSchemaError,
    Row,
)
from .write import cli_render, write_reports

__all__ = [
    "SCHEMA_VERSION",
    "Environment",
    "ExportOutcome",
    "FilesCheck",
    "LoadCheck",
    "ParityCheck",
    "Results",
    "ResultsSchemaError",
    "Row",
    "cli_render",
    "load_results",
    "merge",
    "render_html",
    "render_json",
    "render_markdown",
    "write_reports",
]
