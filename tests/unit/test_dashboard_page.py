"""The dashboard page: report text is escaped everywhere (tables, cards, chart labels); nothing loads from outside."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import pytest

from pytest_athalia.dashboard._data import prepare
from pytest_athalia.dashboard._page import render_page
from tests.support.reports_v2 import CLOSE, EVIL, check, history, hostile, report

NOW = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)


def page(docs: list[dict[str, Any]], charts: dict[str, str] | None = None) -> str:
    return render_page(prepare(docs), charts or {}, "/* plotly.js */", generated_at=NOW)


def test_report_text_is_escaped_in_every_table_and_card() -> None:
    """No tag from a report reaches the page: each shows as text."""
    text = page(hostile())
    assert "<img" not in text
    assert "alert(2)</script>" not in text
    assert "alert(3)</script>" not in text
    assert html.escape(EVIL) in text  # shown, as text
    assert html.escape(CLOSE) in text
    assert 'href="https://ci.example/run?a=1&amp;b=&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;"' in text


def test_a_javascript_link_is_not_a_link() -> None:
    doc = report(1, "dev")
    doc["run"]["ci"]["url"] = "javascript:alert(1)"
    text = page([doc])
    assert "javascript:" not in text
    assert "deploy/dev" in text  # the job still shows, as plain text


def test_the_page_loads_nothing_from_outside() -> None:
    """No script src, no stylesheet link, no CDN: plotly.js is inline, so the page works offline."""
    text = page(history(), {"rates": "<div>rates</div>"})
    assert "<script src" not in text
    assert "<link" not in text
    assert "cdn" not in text.lower()
    assert '<script type="text/javascript">/* plotly.js */</script>' in text


def test_charts_without_data_say_so_and_skip_plotly() -> None:
    """A chart with no data is a note, not an empty plot; a page without charts embeds no plotly.js."""
    text = page([report(1, "dev", deploy_s=None, switch_ms=None)])
    assert text.count("No data in these reports.") == 6
    assert "plotly.js" not in text


def test_history_is_newest_first_and_gates_failures_first() -> None:
    text = page(history())
    assert text.index("0000006aaa") < text.index("0000001aaa")
    failing = history()[-1]
    failing["tests"][0]["checks"].append(check("p95_ms", 900, "ms", threshold=500, comparison="<=", verdict="fail"))
    gates = page([failing]).split('id="gates"')[1]
    assert gates.index("p95_ms") < gates.index("switch_ms")


def test_chart_labels_are_escaped_before_plotly_reads_them() -> None:
    """Plotly reads pseudo-HTML in labels: environment names, events and details reach it escaped, and
    its JSON writes `<` as \\u003c, so a detail cannot close the page's script."""
    pytest.importorskip("plotly", reason="the report extra (plotly) is not installed")
    from pytest_athalia.dashboard._charts import build_charts

    charts = build_charts(prepare(hostile()))
    assert set(charts) == {"rates", "deploy", "switch_ms", "rollback_ms", "load", "timeline"}
    for chart in charts.values():
        body = chart.html.split("<script", 1)[1]
        assert "<img" not in body
        assert "</script><script>alert" not in body
    timeline = charts["timeline"].html
    assert "detail &lt;" in timeline
    assert "detail \\u003c" not in timeline
    assert "dev&lt;b&gt;bold" in charts["deploy"].html
