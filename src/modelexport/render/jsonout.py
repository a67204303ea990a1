"""results.json: the published matrix's figures for programs, small enough to commit at any size.

The summary, the status counts per env and column, the environments, every failure with its stage
and cause, and every cell that differs from its record. Each cell's full row is in
``results/<env>.jsonl`` (read it with :func:`modelexport.render.load_results`); each cell's status
alone is in the records under ``expected/``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .results import Results
from .schema import SCHEMA_VERSION


def results_document(results: Results) -> dict[str, Any]:
    """The JSON document as a dict; commit and time come from the rows, so this stays pure."""
    commits = sorted({row.commit for row in results.rows if row.commit})
    failures = []
    for row in results.rows:
        failure = row.failure() if row.status() == "fail" else None
        if failure:
            found = {"env": row.env, "cell": row.case_id, "stage": failure[0], "cause": failure[1]}
            kind = results.verdict(row)
            failures.append({**found, "record": kind} if kind else found)
    changes = [
        {"env": row.env, "cell": row.case_id, "status": row.status(), "verdict": kind}
        for row, kind in results.changes()
    ]
    return {
        "schema_version": SCHEMA_VERSION,
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
