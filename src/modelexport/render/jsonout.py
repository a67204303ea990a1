"""results.json: every row plus the environments, in one versioned document."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .results import Results
from .schema import SCHEMA_VERSION


def results_document(results: Results) -> dict[str, Any]:
    """The JSON document as a dict; commit and time come from the rows, so this stays pure."""
    commits = sorted({row.commit for row in results.rows if row.commit})
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_utc": results.generated_utc(),
        "commits": commits,
        "summary": {"cells": len(results.rows), **results.counts()},
        "environments": [asdict(env) for env in results.environments()],
        "rows": [{**row.to_dict(), "status": row.status()} for row in results.rows],
    }


def render_json(results: Results) -> str:
    """The whole of results.json; a pure function of ``results``."""
    return json.dumps(results_document(results), indent=2, sort_keys=False, ensure_ascii=False) + "\n"
