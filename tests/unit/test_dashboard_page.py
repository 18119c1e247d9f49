"""The dashboard page: report text is escaped everywhere (tables, cards, chart labels); nothing loads from outside."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any

from pytest_athalia.dashboard._data import TimelineEvent, prepare, time_range
from pytest_athalia.dashboard._page import render_page
from tests.support.reports_v2 import BLUE_GREEN, CLOSE, EVIL, check, history, hostile, report, require_plotly

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


def test_history_is_newest_first() -> None:
    text = page(history())
    assert text.index("0000006aaa") < text.index("0000001aaa")


def gates_of(text: str) -> str:
    return text.split('<table id="gates">', 1)[1].split("</table>", 1)[0]


def test_gates_are_grouped_by_test_in_the_reports_order() -> None:
    """A header row per test (nodeid, outcome, duration; a skipped test's reason), then its checks, which
    carry no Test column; a failed check keeps its place in the report's order and is marked."""
    doc = history()[-1]
    doc["tests"][0]["checks"].append(check("p95_ms", 900, "ms", threshold=500, comparison="<=", verdict="fail"))
    gates = gates_of(page([doc]))
    head = gates.split("</thead>", 1)[0]
    assert "Test" not in head
    groups = gates.split('<tbody class="group">')[1:]
    assert len(groups) == 2  # one per test
    release, skipped = groups
    assert release.startswith('<tr class="test o-passed"><th colspan="6" scope="rowgroup">')
    assert "suites/deployment/test_release.py::test_blue_green</span>" in release
    assert "12.3 s" in release.split("</tr>", 1)[0]
    assert '<span class="badge s-skipped">skipped</span>' in skipped
    assert '<div class="why">no scanner configured</div>' in skipped
    rows = release.split("</tr>")[1:]
    checks = [r for r in rows if '<tr class="check' in r]
    assert [r.split("<code>")[1].split("</code>")[0] for r in checks] == [
        "deploy",
        "switch_ms",
        "trivy_image",
        "p95_ms",
    ]
    assert all("test_blue_green" not in r for r in checks)  # no Test column in a check row
    assert 'class="check g-fail"' in checks[-1]
    assert 'class="check g-pass"' in checks[0]


def test_recorded_values_are_folded_under_their_test() -> None:
    """A value without a threshold is not a gate: it is listed in a closed <details> of its test."""
    gates = gates_of(page([history()[-1]]))
    release = gates.split('<tbody class="group">')[1]
    assert '<tr class="recorded"><td colspan="6"><details><summary>1 recorded value, not gated</summary>' in release
    assert "<li><code>rollback_ms</code> 1.9 ms" in release
    assert "rollback_ms</code></td>" not in release  # not a gate row


def test_a_summary_line_counts_the_gates_above_the_table() -> None:
    doc = history()[-1]
    doc["tests"][0]["checks"].append(check("p95_ms", 900, "ms", threshold=500, comparison="<=", verdict="fail"))
    doc["tests"][0]["checks"].append(
        check("p99_ms", None, "ms", threshold=500, comparison="<=", verdict="inconclusive")
    )
    text = page([doc])
    line = text.split('<p class="gates-summary">', 1)[1].split("</p>", 1)[0]
    assert line.startswith("<strong>5 gate(s)</strong>")
    assert '<span class="badge v-fail">1 failed</span>' in line
    assert '<span class="badge v-inconclusive">1 inconclusive</span>' in line
    assert '<span class="badge v-pass">3 passed</span>' in line
    assert "1 recorded value(s), not gated · 2 test(s) · 1 skipped" in line
    assert text.index("gates-summary") < text.index('<table id="gates">')


def test_chart_labels_are_escaped_before_plotly_reads_them() -> None:
    """Plotly reads pseudo-HTML in labels: environment names, events and details reach it escaped, and
    its JSON writes `<` as \\u003c, so a detail cannot close the page's script."""
    require_plotly()
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


def test_a_single_run_trend_spans_a_day_not_milliseconds() -> None:
    """One point (or points within a minute): the x axis is padded to 12 h either side; many runs keep
    plotly's own range."""
    require_plotly()
    from pytest_athalia.dashboard._charts import trend_figure

    one = next(t for t in prepare([report(1, "dev")]).trends if t.check == "deploy")
    started = datetime(2026, 12, 1, 1, 11, 12, 123000, tzinfo=UTC)
    assert time_range(one) == (started - timedelta(hours=12), started + timedelta(hours=12))
    axis = trend_figure(one, {}).layout.xaxis
    assert [datetime.fromisoformat(str(x)) for x in axis.range] == [
        started - timedelta(hours=12),
        started + timedelta(hours=12),
    ]
    many = next(t for t in prepare(history()).trends if t.check == "deploy")
    assert time_range(many) is None
    assert trend_figure(many, {}).layout.xaxis.range is None


def test_a_timeline_of_several_release_tests_has_a_row_per_test() -> None:
    """Each test times its release from its own start: a row per test, named above its markers."""
    require_plotly()
    from pytest_athalia.dashboard._charts import timeline_figure

    other = "suites/deployment/test_canary.py::test_canary[errors]"
    events = (
        TimelineEvent(0.0, "deploy", "green 1.1.0", BLUE_GREEN),
        TimelineEvent(2.0, "switch", "blue -> green", BLUE_GREEN),
        TimelineEvent(0.5, "deploy", "green 1.1.0", other),
    )
    fig = timeline_figure(events)
    assert {tuple(trace.y) for trace in fig.data} == {(BLUE_GREEN, other), (BLUE_GREEN,)}
    assert [a.text for a in fig.layout.annotations] == ["test_blue_green", "test_canary[errors]"]
    single = timeline_figure(events[:2])
    assert [tuple(trace.y) for trace in single.data] == [("deploy",), ("switch",)]  # one release: a row per kind
