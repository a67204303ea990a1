"""results.json: the published matrix's figures for programs, small enough to commit at any size.

The summary, the status counts per env and column, the environments, every failure with its stage
and cause, and every cell that differs from its record. Failures are grouped by cause: each entry
has a ``stage``, a ``cause``, the ``record`` verdict where the env has a record, and its ``cells``
(``env``, ``cell``, ``model``); a cause shared by cells of several model types is written once
with the model type as ``‹model›`` (Optimum's one "unsupported architecture" sentence, over a
hundred model types). Document version 3; version 2 listed one entry per failing cell. Each cell's full row is in
``results/<env>.jsonl`` (read it with :func:`modelexport.render.load_results`); each cell's status
alone is in the records under ``expected/``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .failures import failure_groups
from .results import Results

DOCUMENT_VERSION = 3  # of results.json (the rows of results/*.jsonl have their own)


def results_document(results: Results) -> dict[str, Any]:
    """The JSON document as a dict; commit and time come from the rows, so this stays pure."""
    commits = sorted({row.commit for row in results.rows if row.commit})
    failures = []
    for group in failure_groups(results):
        cells = [{"env": row.env, "cell": row.case_id, "model": row.model} for row in group.rows]
        found = {"stage": group.stage, "cause": group.cause, "cells": cells}
        failures.append({**found, "record": group.verdict} if group.verdict else found)
    changes = [
        {"env": row.env, "cell": row.case_id, "status": row.status(), "verdict": kind}
        for row, kind in results.changes()
    ]
    return {
        "schema_version": DOCUMENT_VERSION,
        "generated_utc": results.generated_utc(),
        "commits": commits,
        "summary": {
            "cells": len(results.rows),
            "model_tasks": len(results.model_tasks()),
            **results.counts(),
        },
        "columns": results.columns(),
        "column_counts": results.column_counts(),
        "record": {"envs": sorted(results.expected), "changes": changes} if results.expected else None,
        "environments": [asdict(env) for env in results.environments()],
        "failures": failures,
    }


def render_json(results: Results) -> str:
    """The whole of results.json; a pure function of ``results``."""
    return json.dumps(results_document(results), indent=1, ensure_ascii=False) + "\n"
