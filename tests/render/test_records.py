"""Optional per-check records (tag checks, the first divergent module) in every rendering: one line
each, a `tags` column in RESULTS.md, the cell details of index.html, the compact results file."""

from __future__ import annotations

import json

import pytest
from synthetic import TAG_RECORD, divergence

from modelexport.render import merge, render_html, render_markdown
from modelexport.render.compact import compact_lines, parse_lines
from modelexport.render.htmldata import position
from modelexport.render.records import divergence_summary, record_summary, summaries, tag_summary
from modelexport.render.schema import (
    FIRST_DIVERGENCE,
    TAGS,
    ExportOutcome,
    FilesCheck,
    LoadCheck,
    ParityCheck,
    Row,
)

FAILED = {**TAG_RECORD, "ok": False, "error": "3 nodes tagged with no module of the model: bert.x"}


def _row(model: str, backend: str, env: str = "e", records: dict | None = None, **checks: object) -> Row:
    ok = ParityCheck(ok=True, max_abs_diff={"logits": 1.234567e-7}, atol=1e-4, rtol=1e-4)
    fields = {
        "export": ExportOutcome(ok=True, seconds=0.5),
        "files": FilesCheck(ok=True),
        "ort_parity": ok,
        "optimum_load": LoadCheck(ok=True),
        "optimum_parity": ok,
        "utc": "2026-11-28T12:00:00Z",
        **checks,
    }
    exporter = "optimum" if backend == "optimum" else "modelexport"
    column = backend if exporter == "modelexport" else "optimum"
    return Row(
        f"{model}-text-classification-{column}",
        env,
        model,
        "text-classification",
        "torchscript" if exporter == "optimum" else backend,
        exporter,
        records=dict(records or {}),
        **fields,  # type: ignore[arg-type]
    )


def _matrix() -> list[Row]:
    diverged = ParityCheck(ok=False, max_abs_diff={"logits": 3.0}, atol=1e-4, rtol=1e-4)
    return [
        _row("bert", "torchscript", records={TAGS: TAG_RECORD}),
        _row("bert", "dynamo", records={TAGS: FAILED}),
        _row("bert", "optimum"),
        _row(
            "vit", "torchscript", records={TAGS: {"ok": None, "error": "tag checks did not run: OSError: x"}}
        ),
        _row("vit", "dynamo", records={TAGS: TAG_RECORD}),
        _row("opt", "torchscript", records={TAGS: TAG_RECORD}),
        _row("opt", "optimum", ort_parity=diverged, records={FIRST_DIVERGENCE: divergence("opt")}),
        _row("bert", "torchscript", env="old"),  # an env whose rows predate the records
    ]


def test_each_record_has_one_line_saying_its_verdict_and_what_it_found():
    assert tag_summary(TAG_RECORD) == "ok: root 0.0%, inferred 0.0%, inherited 13.3%"
    assert tag_summary(FAILED).startswith("failed: 3 nodes tagged with no module of the model: bert.x (root")
    assert tag_summary({"ok": None, "error": "no ONNX file"}) == "not run: no ONNX file"
    assert tag_summary({**TAG_RECORD, "agreement": 0.97}).endswith(", weight ops agree 97%")
    assert divergence_summary(divergence("opt")) == (
        "opt.encoder.layer.1.attention (BertAttention) in model.onnx, its own nodes max|Δ| 3.1e-02"
    )
    assert divergence_summary({"module": None}) == "none: every module's outputs match PyTorch"
    assert divergence_summary({"error": "diff did not run: X"}) == "diff did not run: X"
    assert record_summary("other", {"ok": False, "error": "e"}) == "failed: e"
    assert summaries(_matrix()[1]) == {"tag checks": tag_summary(FAILED)}


def test_results_md_has_a_tags_column_where_rows_carry_tag_checks():
    text = render_markdown(merge(_matrix()))
    env_table = text.split("### e\n")[1].strip().split("\n\n")[0].splitlines()
    assert env_table[0] == "| model | task | torchscript | dynamo | auto | optimum | tags |"
    rows = {line.split(" | ")[0][2:]: line.rsplit(" | ", 1)[1][:-2] for line in env_table[2:]}
    assert rows == {"bert": "❌ dynamo", "opt": "✅", "vit": "❔ torchscript"}
    old_table = text.split("### old\n")[1].strip().split("\n\n")[0].splitlines()
    assert old_table[0] == "| model | task | torchscript | dynamo | auto | optimum |"
    assert "The `tags` column sums up the tag checks" in text


def test_results_md_lists_a_tag_failure_with_its_cause_and_a_parity_failure_with_its_divergent_module():
    failures = render_markdown(merge(_matrix())).split("## Failures")[1]
    assert (
        "`bert-text-classification-dynamo` — **tags**: 3 nodes tagged with no module of the model" in failures
    )
    line = "`opt-text-classification-optimum` — **ort parity**: "
    after = failures.split(line)[1].splitlines()
    assert after[1] == "  - first divergent module: " + divergence_summary(divergence("opt"))


def test_results_md_sums_up_the_tag_checks_and_says_why_weight_ops_were_not_compared():
    rows = [
        *_matrix(),
        _row("opt", "dynamo", records={TAGS: {**TAG_RECORD, "agreement": 0.96, "agreement_matched": 25}}),
        _row("gpt2", "dynamo", records={TAGS: {**TAG_RECORD, "agreement": 1.0, "agreement_matched": 14}}),
        _row(
            "t5",
            "dynamo",
            records={TAGS: {**TAG_RECORD, "agreement_not_run": "the TorchScript export failed"}},
        ),
        # An older row says no reason; its TorchScript row of the same env says it.
        _row("mt5", "dynamo", records={TAGS: TAG_RECORD}),
        _row("mt5", "torchscript", export=ExportOutcome(ok=False, error_type="E", error="x")),
    ]
    section = render_markdown(merge(rows)).split("## Tag checks\n")[1].split("\n## ")[0]
    table = {
        line.split(" | ")[1]: line.split(" | ")[2:]
        for line in section.splitlines()
        if line.startswith("| e |")
    }
    assert table["dynamo"] == [
        "6",
        "5",
        "1",
        "0",
        "2 rows, 39 ops; lowest 96.0% (opt text-classification)",
        "4 |",
    ]
    assert table["torchscript"] == ["3", "2", "0", "1", "n/a", " |"]
    assert "- `e` · dynamo · failed: bert text-classification: 3 nodes tagged with no module" in section
    assert (
        "- `e` · torchscript · not run: vit text-classification: tag checks did not run: OSError: x"
        in section
    )
    assert (
        "- `e` · dynamo · weight ops not compared on 2: the TorchScript export failed — "
        "mt5 text-classification, t5 text-classification" in section
    )
    assert "weight ops not compared on 2: no reason recorded" in section  # bert's and vit's rows say none
    assert tag_summary(rows[-3].records[TAGS]).endswith(
        ", weight ops not compared: the TorchScript export failed"
    )


def _page(rows: list[Row]) -> dict:
    page = render_html(merge(rows))
    return json.loads(page.split('id="matrix-data">')[1].split("</script>")[0].replace("<\\/", "</"))


def test_the_page_carries_each_record_once_with_its_line_for_the_cell_details():
    data = _page(_matrix())
    strings = data["strings"]
    by_id = {}
    for cell in data["cells"]:
        if "a" not in cell:
            row, env, column = position(data, cell)
            by_id[(data["envs"][env]["name"], data["rows"][row][0], data["columns"][column])] = cell
    opt = by_id[("e", "opt", "optimum")]
    assert [[strings[t], strings[v]] for t, v in opt["y"]] == [
        ["first divergent module", divergence_summary(divergence("opt"))]
    ]
    name, pairs = opt["r"][0]
    decoded = {strings[pairs[k]]: pairs[k + 1] for k in range(0, len(pairs), 2)}
    assert strings[name] == FIRST_DIVERGENCE and decoded == divergence("opt")
    dynamo = by_id[("e", "bert", "dynamo")]
    assert strings[dynamo["g"]] == "tags" and strings[dynamo["y"][0][1]] == tag_summary(FAILED)
    assert (
        "r" not in by_id[("old", "bert", "torchscript")] and "y" not in by_id[("old", "bert", "torchscript")]
    )


def test_records_read_back_from_the_compact_file_with_their_figures_to_three_digits():
    rows = _matrix()
    rows[0].records[TAGS] = {**TAG_RECORD, "inherited_share": 0.13349}
    back = {r.key: r for r in parse_lines(compact_lines(rows), "x")}
    assert back[rows[0].key].records[TAGS] == {**TAG_RECORD, "inherited_share": 0.133}
    assert back[rows[6].key].records == rows[6].records and back[rows[2].key].records == {}
    for row in rows:
        assert (back[row.key].status(), back[row.key].failure()) == (row.status(), row.failure())

    # What the tag records of an env share (keys every one has) is said once, in its defaults line.
    def lines(rows: list[Row]) -> list[dict]:
        return [json.loads(line) for line in compact_lines(rows)]

    def defaults(found: list[dict]) -> dict:
        return next(d["defaults"] for d in found if d.get("defaults", {}).get("env") == "e")

    assert defaults(lines(rows))["records"] == {TAGS: {"ok": True}}  # vit's did not run: only "ok"
    ran = lines([r for r in rows if r.case_id != "vit-text-classification-torchscript"])
    assert defaults(ran)["records"] == {TAGS: TAG_RECORD}
    bert = next(d for d in ran if d.get("model") == "bert" and d.get("backend") == "dynamo")
    assert bert["records"][TAGS] == {"ok": False, "error": FAILED["error"]}
    assert next(d for d in ran if d.get("model") == "opt" and d.get("backend") == "torchscript")[
        "records"
    ] == {TAGS: {}}  # the record is there, with nothing but what every one says
    back = {r.key: r for r in parse_lines([json.dumps(d) for d in ran], "x")}
    assert back[rows[1].key].records[TAGS] == FAILED and back[rows[5].key].records[TAGS] == TAG_RECORD


@pytest.mark.parametrize("optimum", [True, False])
def test_a_failed_tag_record_decides_the_cell_in_every_env(optimum):
    row = _row("bert", "dynamo", records={TAGS: FAILED}, optimum_available=optimum)
    assert (row.status(), row.failure()) == ("fail", ("tags", FAILED["error"]))
