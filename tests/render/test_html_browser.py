"""index.html in a real headless Chromium: it draws colour-coded tables, its script filters and sorts.

Needs Debian's ``chromium`` and ``chromium-driver`` (CI installs them:
``apt-get update && apt-get install -y chromium chromium-driver``). Without them these tests fail
with that line rather than skip: the HTML page is a published artefact and is checked every run.
"""

from __future__ import annotations

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

from modelexport.render import load_results, render_html

INPUT = Path(__file__).parents[1] / "golden" / "render" / "input"
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


def _tool(*names: str) -> str:
    for name in names:
        if path := shutil.which(name):
            return path
    pytest.fail(f"{names[0]} is not installed; run: {INSTALL}")


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("html") / "index.html"
    path.write_text(render_html(load_results([INPUT])), encoding="utf-8")
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


def test_screenshot_shows_colour_coded_cells(page, tmp_path):
    shot = tmp_path / "index.png"
    _chromium(tmp_path, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", page.as_uri())
    image = Image.open(shot).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    colours = dict((rgb, n) for n, rgb in image.getcolors(WIDTH * HEIGHT))
    assert len(colours) > 50, "the screenshot is nearly blank"
    # The stylesheet's pass / ORT-only / fail backgrounds each cover a visible area.
    for rgb in ((0xD4, 0xF4, 0xDD), (0xDB, 0xE9, 0xFF), (0xFF, 0xD9, 0xD6)):
        assert colours.get(rgb, 0) > 1000, f"colour {rgb} missing from the screenshot"


@pytest.mark.parametrize(
    ("fragment", "shown"),
    [("", 12), ("#q=bert", 6), ("#status=fail", 5), ("#q=vit%20dynamo&status=fail", 2), ("#q=nomatch", 0)],
)
def test_script_filters_from_the_url_hash(page, tmp_path, fragment, shown):
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri() + fragment)
    assert 'data-ready="true"' in dom
    assert _row_count(dom) == (shown, 12)
    assert f"Showing {shown} of 12 cells" in dom
    cells = dom.split('id="cells"')[1].split("</table>")[0]
    visible = re.findall(r'<tr data-status="[^"]+" id="[^"]+">', cells)  # hidden rows carry hidden=""
    assert len(visible) == shown


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


@pytest.fixture
def browser(tmp_path) -> Iterator[WebDriver]:
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
        options = {
            "binary": _tool("chromium", "chromium-browser"),
            "args": [*FLAGS, "--window-size=1400,1000"],
        }
        options["args"].append(f"--user-data-dir={tmp_path / 'profile'}")
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}}
        client.session = client.call("POST", "/session", caps)["sessionId"]
        yield client
        client.call("DELETE", "/session/{s}")
    finally:
        driver.terminate()
        driver.wait(timeout=30)


def test_clicking_a_header_sorts_and_typing_filters(browser, page):
    browser.call("POST", "/session/{s}/url", {"url": page.as_uri()})
    column = (
        "return [...document.querySelectorAll('#cells tbody tr:not([hidden])')]"
        ".map(r => r.cells[arguments[0]].textContent.trim())"
    )
    header = "document.querySelectorAll('#cells thead th')[arguments[0]].click()"
    # Column 6 is "ORT max|Δ|": numeric sort, ascending then descending, blanks after numbers.
    browser.script(header, 6)
    ascending = browser.script(column, 6)
    numbers = [float(v) for v in ascending if v]
    assert numbers == sorted(numbers) and ascending[: len(numbers)] == [v for v in ascending if v]
    browser.script(header, 6)
    assert [float(v) for v in browser.script(column, 6) if v] == sorted(numbers, reverse=True)
    # Typing in the filter box narrows the rows and updates the count and the hash.
    browser.script(
        "const q = document.getElementById('q'); q.value = 'clip'; q.dispatchEvent(new Event('input'))"
    )
    assert browser.script(column, 1) == ["clip"]
    count = browser.script("return document.getElementById('row-count').textContent")
    assert count == "Showing 1 of 12 cells"
    assert browser.script("return location.hash") == "#q=clip"
