"""The dashboard in headless Chromium (Debian's `chromium`): every chart renders, offline, without errors.

Skipped without Chromium or plotly, a failure under CI=true (.ci/run installs Chromium).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_athalia._cli import main
from pytest_athalia.dashboard import _command
from pytest_athalia.testing import unavailable
from tests.support.chromium import Browser, chromium_binary, open_browser
from tests.support.reports_v2 import EVIL, FakeHistory, history, hostile, require_plotly

CHARTS = 6  # rates, deploy, switch, rollback, load, timeline
RENDERED = (
    "Array.from(document.querySelectorAll('.js-plotly-plot')).filter(e => e.querySelector('svg.main-svg')).length"
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """Function: a headless Chromium with a fresh profile."""
    binary = chromium_binary()
    if binary is None:
        unavailable("no chromium on PATH (apt-get install chromium)")
    require_plotly()
    with open_browser(binary, tmp_path / "profile") as opened:
        yield opened


def dashboard(folder: Path, reports: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Path:
    """`athalia report` over `reports` (the history) and the newest of them (the last report)."""
    monkeypatch.setattr(_command, "_open_history", lambda location: FakeHistory(reports))
    (folder / "history.sqlite").touch()
    (folder / "last.json").write_text(json.dumps(reports[-1]), encoding="utf-8")
    out = folder / "dashboard.html"
    argv = ["report", "--history", str(folder / "history.sqlite"), "--report", str(folder / "last.json")]
    assert main([*argv, "--output", str(out)]) == 0
    return out


def test_every_chart_renders_offline_without_console_errors(
    browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six charts, each with its SVG; no console error or exception; no request but the file itself."""
    page = dashboard(tmp_path, history(), monkeypatch)
    browser.open(page.as_uri())
    assert browser.evaluate("document.querySelectorAll('figure.chart .plotly-graph-div').length") == CHARTS
    assert browser.poll(f"{RENDERED} === {CHARTS}", timeout=30), browser.evaluate(RENDERED)
    assert browser.evaluate("document.querySelectorAll('#chart-load .scatterlayer .trace').length") == 3
    assert browser.evaluate("document.querySelectorAll('#chart-timeline .point').length") == 3
    assert browser.evaluate("document.querySelectorAll('#history tbody tr').length") == 6
    browser.screenshot(tmp_path / "dashboard.png")
    assert (tmp_path / "dashboard.png").read_bytes().startswith(b"\x89PNG")
    assert browser.errors == []
    assert {url.split(":", 1)[0] for url in browser.requests} == {"file"}, browser.requests


def test_report_text_shows_as_text_and_runs_nothing(
    browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Markup in environment names, versions, checks and timeline details is shown, never run or drawn."""
    page = dashboard(tmp_path, hostile(), monkeypatch)
    browser.open(page.as_uri())
    assert browser.poll(f"{RENDERED} === {CHARTS}", timeout=30), browser.evaluate(RENDERED)
    assert browser.evaluate("document.querySelectorAll('img').length") == 0
    assert EVIL in browser.evaluate("document.querySelector('#history').textContent")
    assert EVIL in browser.evaluate("document.querySelector('#gates').textContent")
    # Plotly shows the names as written; it does not read them as its markup (<b>, <a href>, <br>).
    assert ticks(browser, "#chart-rates .xtick text") == [f"dev{EVIL}"]
    assert f"ev{EVIL}" in ticks(browser, "#chart-timeline .ytick text")
    assert not any(m.get("method") == "Page.javascriptDialogOpening" for m in browser._events)
    assert browser.errors == []


def ticks(browser: Browser, selector: str) -> list[str]:
    found: list[str] = browser.evaluate(f"Array.from(document.querySelectorAll('{selector}')).map(e => e.textContent)")
    return found
