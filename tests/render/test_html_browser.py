"""index.html in a real headless Chromium, at the size the zoo is heading for (162 model × task rows
in 5 envs): the page fits the window, its colours show, its pickers, search, status filter and sort
work, a cell opens its details, and the view survives in the URL.

Needs Debian's ``chromium`` and ``chromium-driver`` (CI installs them:
``apt-get update && apt-get install -y chromium chromium-driver``). Without them these tests fail
with that line rather than skip: the HTML page is a published artefact and is checked every run.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from synthetic import ENVS, synthetic_record, synthetic_rows, unsupported

from modelexport.render import load_results, merge, render_html
from modelexport.render.expected import read_records

GOLDEN = Path(__file__).parents[1] / "golden" / "render"
INSTALL = "apt-get update && apt-get install -y chromium chromium-driver"
WIDTH, HEIGHT = 1400, 1000
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASS, ORT, FAIL = (0xD4, 0xF4, 0xDD), (0xDB, 0xE9, 0xFF), (0xFF, 0xD9, 0xD6)


def _tool(*names: str) -> str:
    for name in names:
        if path := shutil.which(name):
            return path
    pytest.fail(f"{names[0]} is not installed; run: {INSTALL}")


@pytest.fixture(scope="module")
def golden_page(tmp_path_factory) -> Path:
    results = load_results([GOLDEN / "input"])
    results = results.with_expected(read_records(GOLDEN / "expected", results.envs()))
    path = tmp_path_factory.mktemp("html") / "index.html"
    path.write_text(render_html(results), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def big_page(tmp_path_factory) -> Path:
    rows = synthetic_rows()
    results = merge(rows).with_expected(synthetic_record(rows))
    path = tmp_path_factory.mktemp("html") / "index.html"
    path.write_text(render_html(results), encoding="utf-8")
    return path


def _chromium(tmp_path: Path, *args: str) -> str:
    command = [
        _tool("chromium", "chromium-browser"),
        *FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _row_count(dom: str) -> tuple[int, int]:
    found = re.search(r'id="row-count"[^>]*data-shown="(\d+)" data-total="(\d+)"', dom)
    assert found, "the page script did not fill #row-count"
    return int(found[1]), int(found[2])


@pytest.mark.parametrize(
    ("fragment", "shown"),
    [("", 3), ("#q=bert", 1), ("#status=fail", 2), ("#q=vit%20branch&cols=dynamo", 1), ("#q=nomatch", 0)],
)
def test_script_filters_from_the_url_hash(golden_page, tmp_path, fragment, shown):
    dom = _chromium(tmp_path, "--dump-dom", golden_page.as_uri() + fragment)
    assert 'data-ready="true"' in dom
    assert _row_count(dom) == (shown, 3)
    body = dom.split('id="matrix"')[1].split("</table>")[0].split("<tbody>")[1]
    assert body.count("<tr>") == shown


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebDriver:
    """The few W3C WebDriver calls the tests need, over chromedriver's loopback HTTP API."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.session = ""

    def call(self, method: str, path: str, body: dict | None = None) -> object:
        data = json.dumps(body or {}).encode() if method == "POST" else None
        url = f"{self.base}{path}".replace("{s}", self.session)
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)["value"]

    def script(self, source: str, *args: object) -> object:
        return self.call("POST", "/session/{s}/execute/sync", {"script": source, "args": list(args)})

    def open(self, url: str) -> None:
        self.call("POST", "/session/{s}/url", {"url": url})
        for _ in range(100):
            if self.script("return document.body.dataset.ready") == "true":
                return
            time.sleep(0.05)
        raise AssertionError("the page script never finished")

    def screenshot(self) -> Image.Image:
        png = base64.b64decode(str(self.call("GET", "/session/{s}/screenshot")))
        return Image.open(io.BytesIO(png)).convert("RGB")


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[WebDriver]:
    port = _free_port()
    driver = subprocess.Popen(
        [_tool("chromedriver"), f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    client = WebDriver(port)
    try:
        for _ in range(100):
            try:
                client.call("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        profile = tmp_path_factory.mktemp("profile")
        args = [*FLAGS, f"--window-size={WIDTH},{HEIGHT}", f"--user-data-dir={profile}"]
        options = {"binary": _tool("chromium", "chromium-browser"), "args": args}
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}}
        client.session = client.call("POST", "/session", caps)["sessionId"]
        yield client
        client.call("DELETE", "/session/{s}")
    finally:
        driver.terminate()
        driver.wait(timeout=30)


HEADERS = (
    "return [...document.querySelectorAll('#matrix thead tr')].map(r => [...r.cells].map(c => c.textContent))"
)
SHOWN = "return document.getElementById('row-count').dataset.shown"


def _colours(image: Image.Image) -> dict[tuple[int, int, int], int]:
    return {rgb: n for n, rgb in image.getcolors(image.width * image.height)}


def test_the_default_view_of_162_rows_fits_the_window_with_its_colours(browser, big_page):
    browser.open(big_page.as_uri())
    assert browser.script(SHOWN) == "162"
    top, sub = browser.script(HEADERS)
    assert top[2:] == sorted(ENVS)
    assert sub == ["auto", "optimum"] * 5
    assert browser.script("return document.documentElement.scrollWidth <= window.innerWidth") is True
    assert browser.script("return document.getElementById('matrix').getBoundingClientRect().right") <= WIDTH
    browser.script("document.getElementById('matrix').scrollIntoView()")
    colours = _colours(browser.screenshot())
    for rgb in (PASS, ORT, FAIL):
        assert colours.get(rgb, 0) > 1000, f"colour {rgb} missing from the screenshot"


def test_picking_envs_and_columns_redraws_the_table_and_the_link_keeps_it(browser, big_page):
    browser.open(big_page.as_uri())
    browser.script(
        "for (const box of document.querySelectorAll('input[name=envs]')) {"
        "  box.checked = box.value === 'transformers-oldest'; }"
        "for (const box of document.querySelectorAll('input[name=columns]')) { box.checked = true; }"
        "document.querySelector('input[name=columns]').dispatchEvent(new Event('change', {bubbles: true}));"
    )
    top, sub = browser.script(HEADERS)
    assert top[2:] == ["transformers-oldest"] and sub == ["torchscript", "dynamo", "auto", "optimum"]
    link = browser.script("return location.href")
    assert "envs=transformers-oldest" in link and "cols=torchscript%2Cdynamo%2Cauto%2Coptimum" in link
    browser.call("POST", "/session/{s}/url", {"url": "about:blank"})
    browser.open(link)
    assert browser.script(HEADERS)[1] == ["torchscript", "dynamo", "auto", "optimum"]
    assert browser.script("return document.querySelectorAll('#matrix tbody td.cell').length") == 162 * 4


def _type(browser: WebDriver, text: str) -> None:
    browser.script(
        "const q = document.getElementById('q'); q.value = arguments[0]; q.dispatchEvent(new Event('input'))",
        text,
    )


def _status(browser: WebDriver, value: str) -> None:
    browser.script(
        "const s = document.getElementById('status'); s.value = arguments[0]; s.dispatchEvent(new Event('change'))",
        value,
    )


def test_search_and_status_narrow_the_rows(browser, big_page):
    browser.open(big_page.as_uri())
    _type(browser, "model017")
    assert browser.script(SHOWN) == "3"
    assert (
        browser.script(
            "return [...document.querySelectorAll('#matrix tbody tr')].map(r => r.cells[0].textContent)"
        )
        == ["model017"] * 3
    )
    _type(browser, "model017 fill-mask")
    assert browser.script(SHOWN) == "1"
    _type(browser, "")
    _status(browser, "fail")
    failing = int(browser.script(SHOWN))
    assert 0 < failing < 162
    rows = browser.script(
        "return [...document.querySelectorAll('#matrix tbody tr')].map(r => r.querySelectorAll('td.s-fail').length)"
    )
    assert all(n > 0 for n in rows)
    _status(browser, "changed")
    assert "status=changed" in browser.script("return location.hash")
    browser.open(big_page.as_uri() + "#status=changed&cols=torchscript,dynamo,optimum")
    marks = "return [...document.querySelectorAll('#matrix td .mark')].map(m => m.className)"
    assert (
        sorted(browser.script(marks))
        == ["mark v-new-pass"] * 2 + ["mark v-regression"] * 2 + ["mark v-unrecorded"] * 2
    )
    assert 1 <= int(browser.script(SHOWN)) <= 6  # the rows holding them


def test_a_cell_opens_its_details_with_error_record_versions_commit_and_seconds(browser, big_page):
    browser.open(big_page.as_uri() + "#status=fail&cols=torchscript,dynamo,optimum")
    browser.script(
        "const cell = [...document.querySelectorAll('#matrix td.s-fail')]"
        ".find(td => td.title.startsWith('optimum run')); cell.click();"
    )
    assert browser.script("return document.getElementById('details').hidden") is False
    text = browser.script("return document.getElementById('details').innerText")
    assert "optimum run" in text and "run: KeyError:" in text
    assert re.search(
        r"first divergent module\s+model\d+\.encoder\.layer\.1\.attention \(BertAttention\)", text
    )
    assert "record: first_divergence" in text and "local_max_abs" in text and "0.0312" in text
    assert re.search(r"tag checks\s+ok: root ", text) and "record: tags" in text
    assert "0123456789abcdef0123456789abcdef01234567" in text and "4.57.6" in text
    assert re.search(r"whole cell\s+\d+\.\d s", text) and re.search(r"export\s+\d+\.\d s", text)
    assert "cell=" in browser.script("return location.hash")
    box = browser.script(
        "const r = document.querySelector('#details .status').getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]"
    )
    badge = browser.screenshot().crop(tuple(round(v) for v in box))
    assert _colours(badge).get(FAIL, 0) > badge.width * badge.height // 2, (
        "the status badge shows the fail colour"
    )
    browser.script("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))")
    assert browser.script("return document.getElementById('details').hidden") is True


def test_a_regression_shows_what_the_record_expected(browser, big_page):
    browser.open(big_page.as_uri() + "#status=changed&cols=torchscript,dynamo,optimum")
    browser.script("document.querySelector('#matrix td .mark.v-regression').parentElement.click()")
    text = browser.script("return document.getElementById('details').innerText")
    assert re.search(r"against the record\s+regression", text) and re.search(r"recorded\s+pass", text)


def test_clicking_a_column_header_sorts_failures_first(browser, big_page):
    browser.open(big_page.as_uri() + "#envs=optimum-latest")
    browser.script("document.querySelectorAll('#matrix thead tr')[1].cells[1].click()")  # its optimum column
    statuses = browser.script(
        "return [...document.querySelectorAll('#matrix tbody tr')].map(r => r.cells[3].className)"
    )
    failing = [i for i, c in enumerate(statuses) if "s-fail" in c]
    assert failing and failing == list(range(len(failing)))


def test_a_failure_in_the_list_opens_its_cell(browser, golden_page):
    browser.open(golden_page.as_uri())
    browser.script("document.querySelector('#failures li').click()")
    text = browser.script("return document.getElementById('details').innerText")
    assert (
        "transformers-latest · bert-text-classification-dynamo" in text and "max|Δ| beyond tolerance" in text
    )
    assert "no record for this env" in text


def test_a_cell_under_a_shared_cause_opens_with_its_own_model_type(browser, tmp_path):
    """The cause is stored once with ``‹model›``; the details of each cell under it name its model
    type, and a search for one model type keeps the cause shown over that cell only."""
    rows = [unsupported(m, "feature-extraction", env) for m in ("altclip", "bros") for env in ENVS[:2]]
    page = tmp_path / "index.html"
    page.write_text(render_html(merge(rows)), encoding="utf-8")
    browser.open(page.as_uri())
    browser.script("document.querySelectorAll('#failures li.group li[data-cell]')[2].click()")
    text = browser.script("return document.getElementById('details').innerText")
    assert "Trying to export a bros model" in text and "‹model›" not in text
    browser.open(page.as_uri() + "#q=altclip")
    shown = browser.script(
        "return [...document.querySelectorAll('#failures li[data-cell]')].filter(li => !li.hidden).map(li => li.textContent)"
    )
    assert len(shown) == 2 and all("altclip" in s for s in shown)
    assert browser.script("return document.querySelector('#failures li.group').hidden") is False
    browser.open(page.as_uri() + "#q=nothing-like-it")
    assert browser.script("return document.querySelector('#failures li.group').hidden") is True
