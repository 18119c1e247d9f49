"""The dashboard's data step: v2 report documents in, frozen rows, rates, trends and the last run out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_athalia.dashboard._data import prepare, run_row
from pytest_athalia.history import rolled_back_by_gate as rolled_back
from tests.support.reports_v2 import automatic_rollback, check, history, report


def test_rates_count_passed_and_rolled_back_runs_per_environment() -> None:
    """Over completed runs: dev 4, 3 passed, 1 rolled back by a gate (the drill and the manual rollback do not
    count); staging 1 completed and passed (the interrupted run is left out), none rolled back."""
    data = prepare(history())
    rates = {r.environment: (r.runs, r.passed, r.rolled_back) for r in data.rates}
    assert rates == {"dev": (4, 3, 1), "staging": (1, 1, 0)}
    dev, staging = data.rates
    assert (dev.success_rate, dev.rollback_rate) == (0.75, 0.25)
    assert (staging.success_rate, staging.rollback_rate) == (1.0, 0.0)


def test_history_rows_carry_identity_status_and_times() -> None:
    """A row has time, environment, version, commit, CI job and link, status and its deploy/switch/rollback."""
    row = prepare(history()).runs[-1]
    assert row.started_at == datetime(2026, 12, 1, 6, 11, 12, 123000, tzinfo=UTC)
    assert (row.environment, row.version, row.commit) == ("dev", "1.3.0", "0000006" + "a" * 33)
    assert (row.ci_job, row.ci_url) == ("deploy/dev", "https://github.com/o/r/actions/runs/6")
    assert (row.status, row.rolled_back) == ("passed", False)  # a rehearsed manual rollback: timed, not counted
    assert (row.deploy_s, row.switch_ms, row.rollback_ms) == (10.2, 1.4, 1.9)
    failed = prepare(history()).runs[2]
    assert (failed.status, failed.failed_checks, failed.switch_ms) == ("failed", 2, None)
    assert failed.rolled_back  # a gate rolled it back


def test_trends_have_a_line_per_environment_oldest_first() -> None:
    """Each well-known check becomes a trend; runs without the check leave no point."""
    trends = {t.check: t for t in prepare(history()).trends}
    assert list(trends) == ["deploy", "switch_ms", "rollback_ms"]
    deploy = dict(trends["deploy"].lines)
    assert [p.value for p in deploy["dev"]] == [11.0, 70.0, 9.5, 10.2]
    assert [p.value for p in deploy["staging"]] == [14.0]  # the interrupted run measured nothing
    assert [p.value for p in dict(trends["rollback_ms"].lines)["dev"]] == [2.2, 1.9]
    assert "staging" not in dict(trends["rollback_ms"].lines)
    assert not trends["switch_ms"].empty


def test_a_run_takes_its_worst_value_and_converts_units() -> None:
    """Two deploys in a run: the larger counts; a deploy recorded in ms is shown in s."""
    doc = report(1, "dev", deploy_s=10.0)
    doc["tests"][0]["checks"].append(check("deploy", 12500, "ms", subject="canary"))
    doc["tests"][0]["checks"].append(check("deploy", None, "s", verdict="not measured"))
    assert run_row(doc).deploy_s == 12.5


def test_a_rollback_is_a_gates_automatic_rollback_of_a_failed_test() -> None:
    """The history's definition: a failed test with an automatic rollback event counts; a drill (its test
    passed), a manual rollback and a measured rollback_ms alone do not."""
    assert rolled_back(report(1, "dev", status="failed", timeline=[automatic_rollback(1.0)]))
    assert not rolled_back(report(1, "dev", timeline=[automatic_rollback(1.0)]))  # a drill
    manual = {**automatic_rollback(1.0), "detail": "manual: green -> blue"}
    assert not rolled_back(report(1, "dev", status="failed", timeline=[manual]))
    assert not rolled_back(report(1, "dev", status="failed", rollback_ms=3.0))


def test_the_last_report_joins_the_history_once() -> None:
    """A last report already stored is not counted twice; a new one is appended and is the last run."""
    runs = history()
    assert len(prepare(runs, runs[-1]).runs) == 6
    new = report(7, "staging", day=2)
    data = prepare(runs, new)
    assert [r.run_id for r in data.runs][-1] == new["run"]["id"]
    assert data.last is not None
    assert data.last.row.run_id == new["run"]["id"]


def test_without_a_report_the_last_run_is_the_newest_in_the_history() -> None:
    """Runs arrive in any order; they are sorted by start, and the newest is the last run."""
    runs = history()
    data = prepare([runs[3], runs[5], runs[0]])
    assert [r.run_id[-1] for r in data.runs] == ["1", "4", "6"]
    assert data.last is not None
    assert data.last.row.run_id == runs[5]["run"]["id"]


def test_an_environment_filter_keeps_its_runs_and_its_newest_last_run() -> None:
    """--env staging: only staging counts, and a last report of dev gives way to the newest staging run."""
    runs = history()
    data = prepare(runs, runs[-1], environment="staging")
    assert {r.environment for r in data.runs} == {"staging"}
    assert [r.environment for r in data.rates] == ["staging"]
    assert data.last is not None
    assert data.last.row.run_id == runs[4]["run"]["id"]
    assert prepare(runs, environment="prod").runs == ()


def test_a_limit_keeps_the_newest_runs() -> None:
    data = prepare(history(), limit=2)
    assert [r.run_id[-1] for r in data.runs] == ["5", "6"]


def test_the_last_run_has_its_gates_load_series_and_timeline() -> None:
    """Gates keep every field; the load series is read by column name; the timeline by time."""
    last = prepare(history()).last
    assert last is not None
    switch = next(g for g in last.gates if g.check == "switch_ms")
    assert (switch.verdict, switch.measured, switch.unit, switch.comparison, switch.threshold, switch.samples) == (
        "pass",
        1.4,
        "ms",
        "<=",
        1000.0,
        500,
    )
    recorded = next(g for g in last.gates if g.check == "rollback_ms")
    assert (recorded.verdict, recorded.threshold, recorded.window) == (None, None, "rollback")
    assert last.load is not None
    assert len(last.load.t_s) == 12
    assert (last.load.rps[0], last.load.p95_ms[0], last.load.failures_per_s[6]) == (94.0, 8.0, 2.0)
    assert [e.event for e in last.timeline] == ["deploy", "switch", "rollback"]
    assert (last.summary.checks, last.summary.passed, last.summary.tests) == (4, 3, 2)
    release, skipped = last.tests
    assert (release.outcome, release.duration_s, release.reason, len(release.gates)) == ("passed", 12.3, None, 4)
    assert (skipped.outcome, skipped.reason, skipped.gates) == ("skipped", "no scanner configured", ())
    assert last.gates == release.gates  # every check, in the report's order
    assert last.timeline[0].test == "suites/deployment/test_release.py::test_blue_green"


def test_load_columns_in_any_order_and_missing_ones_read_as_unknown() -> None:
    """A series without p95 still draws its rps; a row without a time is left out."""
    series = {"name": "load", "unit_of_t": "s", "columns": ["rps", "t_s"], "rows": [[5.0, 1], [6.0, None], [7.0, 3]]}
    other = {"name": "cpu", "unit_of_t": "s", "columns": ["t_s", "rps"], "rows": [[1, 99.0]]}
    last = prepare([report(1, "dev", series=[other, series])]).last
    assert last is not None
    assert last.load is not None
    assert (last.load.t_s, last.load.rps, last.load.p95_ms) == ((1.0, 3.0), (5.0, 7.0), (None, None))


def test_the_timeline_is_sorted_by_time() -> None:
    events = [{"t_s": 9.0, "event": "switch", "detail": "b"}, {"t_s": 1.0, "event": "deploy", "detail": "a"}]
    last = prepare([report(1, "dev", timeline=events)]).last
    assert last is not None
    assert [e.t_s for e in last.timeline] == [1.0, 9.0]


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "//evil.example/x", None])
def test_only_http_links_become_links(url: str | None) -> None:
    """A CI URL that is not http(s) is dropped: a report must not put script behind a link."""
    doc = report(1, "dev")
    doc["run"]["ci"]["url"] = url
    assert run_row(doc).ci_url is None


def test_unknown_fields_read_as_unknown() -> None:
    """No environment, no git, no CI, a started_at that is not a time: the row says unknown, nothing raises."""
    doc = report(1, None)
    doc["run"].update({"git": None, "ci": None, "candidate": None, "started_at": "yesterday", "status": None})
    row = run_row(doc)
    assert (row.environment, row.commit, row.ci_job, row.version, row.started_at, row.status) == (
        "(none)",
        None,
        None,
        None,
        None,
        "unknown",
    )


_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_keys = st.sampled_from(["run", "tests", "series", "timeline", "summary", "schema"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(_keys, _json, max_size=6), max_size=4), _json.filter(lambda v: isinstance(v, dict)))
def test_any_json_document_prepares_without_raising(docs: list[dict[str, Any]], last: dict[str, Any]) -> None:
    """A damaged or foreign document in a long history never stops the dashboard."""
    data = prepare(docs, last)
    assert len(data.runs) <= len(docs) + 1
