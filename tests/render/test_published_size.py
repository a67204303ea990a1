"""The published matrix stays small: every committed file, at three times the rows it had when the
target was set, <= 5 MB."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from synthetic import divergence, scaled

from modelexport.matrix.cell_records import PARITY_STAGES
from modelexport.render import merge, render_html, render_json, render_markdown
from modelexport.render.compact import compact_text
from modelexport.render.expected import expectation_of, format_record
from modelexport.render.results import load_results
from modelexport.render.schema import FIRST_DIVERGENCE, TAGS

RESULTS = Path(__file__).parents[2] / "matrix" / "results"
LIMIT = 5 * 1024 * 1024


def committed_bytes(rows: list) -> dict[str, int]:
    """Bytes of each file the matrix commits for ``rows``: results, records and the three renders."""
    results = merge(rows)
    record = {}
    for row in results.rows:
        record.setdefault(row.env, {})[row.case_id] = expectation_of(row)
    results = results.with_expected(record)
    sizes = {}
    for env in results.envs():
        sizes[f"results/{env}.jsonl"] = len(compact_text(r for r in results.rows if r.env == env).encode())
        sizes[f"expected/{env}.txt"] = len(format_record(env, record[env], "x").encode())
    for name, render in (
        ("RESULTS.md", render_markdown),
        ("results.json", render_json),
        ("index.html", render_html),
    ):
        sizes[name] = len(render(results).encode())
    return sizes


def tag_record(n: int) -> dict[str, object]:
    """A tag check as a cell records it (lean: zeros left out), spread like the zoo's: a second
    file, nodes on the root, inferred or unresolved for some."""
    record: dict[str, object] = {"ok": True, "files": 1 + (n % 4 == 0), "nodes": 200 + n % 900}
    record |= {"sibling_groups": 1} if n % 4 else {}
    record |= {"root_share": round(0.0026 * (1 + n % 5), 4)} if n % 4 == 0 else {}
    record |= {"inferred_share": round(0.01 * (1 + n % 9), 4), "unresolved": 1 + n % 3} if n % 10 == 0 else {}
    return record | {"inherited_share": round(0.1 + n % 97 / 1000, 4)}


def as_a_run_writes(rows: list) -> list:
    """``rows`` with what a run adds to them: the whole cell's seconds, tag checks on every export of
    ours, the first divergent module of every parity failure."""
    out = []
    for n, row in enumerate(rows):
        records = dict(row.records)
        if row.exporter == "modelexport" and row.export.ok:
            records[TAGS] = tag_record(n)
        failure = row.failure()
        if failure is not None and failure[0] in PARITY_STAGES:
            records[FIRST_DIVERGENCE] = divergence(row.model)
        seconds = (
            row.seconds
            if row.seconds is not None
            else round((row.export.seconds or 0) + 0.4 + n % 7 / 100, 3)
        )
        out.append(replace(row, records=records, seconds=seconds))
    return out


# The matrix when the size target was set: 168 model x task rows x 3 columns x 5 envs.
TARGET_CELLS = 3 * 168 * 3 * 5


def test_the_committed_matrix_at_three_times_its_rows_is_at_most_5_mb():
    """Three times the 2,520 cells of the matrix the target was set for, drawn evenly from today's
    committed cells (copied three times under other names, then thinned to the count), as a run
    writes them: records and seconds on every cell."""
    rows = load_results([RESULTS]).rows
    assert len(rows) >= 2500, "the committed matrix has every env's cells"
    tripled = scaled(rows, 3)
    assert len({r.case_id for r in tripled}) == 3 * len({r.case_id for r in rows})
    step = len(tripled) / TARGET_CELLS
    cells = [tripled[int(i * step)] for i in range(min(TARGET_CELLS, len(tripled)))]
    assert len(cells) == TARGET_CELLS
    sizes = committed_bytes(as_a_run_writes(cells))
    assert sum(sizes.values()) <= LIMIT, sorted(sizes.items())
