"""run_record: which report field feeds which history column, and reports that do not fit."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import pytest

from pytest_athalia._errors import HistoryError
from pytest_athalia.history import CheckValue, RunRecord, rolled_back_by_gate, run_record
from pytest_athalia.history._sql import RUN_COLUMNS
from tests.support.reports import BLUE_GREEN, check, v2_report


def test_identity_fields_come_from_the_run_object() -> None:
    """Run id, environment, candidate, commit, CI job and URL, times, status: as the report says."""
    rec = run_record(v2_report(run_id="abc", environment="staging", version="2.0.0", status="failed", exit_status=1))
    assert (rec.run_id, rec.environment, rec.candidate_version, rec.candidate_image) == (
        "abc",
        "staging",
        "2.0.0",
        "athalia-demo-app:2.0.0",
    )
    assert (rec.git_commit, rec.ci_job, rec.ci_url) == (
        "08a51f1d2c",
        "deploy/staging",
        "https://github.com/o/r/actions/runs/1",
    )
    assert rec.started_at == datetime(2026, 12, 5, 6, 11, 12, 123000, tzinfo=UTC)
    assert rec.finished_at == datetime(2026, 12, 5, 6, 15, 2, 456000, tzinfo=UTC)
    assert (rec.duration_s, rec.status, rec.exit_status, rec.succeeded) == (230.3, "failed", 1, False)


def test_a_local_run_has_nulls_for_what_is_unknown() -> None:
    """No CI, no git, no candidate, no environment: None, not an error."""
    report = v2_report(environment=None)
    report["run"].update(candidate={"version": None, "image": None, "previous": None}, git=None, ci=None)
    rec = run_record(report)
    assert (rec.environment, rec.candidate_version, rec.git_commit, rec.ci_job, rec.ci_url) == (None,) * 5


def test_times_with_an_offset_are_kept_in_utc() -> None:
    """+02:00 becomes UTC, so runs from anywhere sort together."""
    rec = run_record(v2_report(started_at="2026-12-05T08:11:12+02:00"))
    assert rec.started_at == datetime(2026, 12, 5, 6, 11, 12, tzinfo=UTC)


def test_deploy_time_is_the_deploy_check() -> None:
    """The `deploy` check (s) is the deploy time, and deploy_check says so."""
    rec = run_record(v2_report(deploy_s=8.4, startup_s=3.0))
    assert (rec.deploy_s, rec.deploy_check) == (8.4, "deploy")


def test_without_a_deploy_check_the_startup_check_is_the_deploy_time() -> None:
    """A run with no release (the ci suite alone): the stack's `startup` check."""
    rec = run_record(v2_report(deploy_s=None, startup_s=5.5))
    assert (rec.deploy_s, rec.deploy_check) == (5.5, "startup")


def test_without_any_check_the_run_startup_is_the_deploy_time() -> None:
    """No deploy or startup check: run.startup.startup_s."""
    report = v2_report(deploy_s=None, startup_s=None)
    report["run"]["startup"] = {"project": "p", "build_s": 1.0, "startup_s": 4.25, "deadline_s": 120, "error": None}
    assert (run_record(report).deploy_s, run_record(report).deploy_check) == (4.25, "startup")


def test_an_unmeasured_deploy_check_is_skipped_for_the_next_source() -> None:
    """A deploy that measured nothing (not measured) does not hide the startup."""
    report = v2_report(deploy_s=None, startup_s=6.0)
    report["tests"][1]["checks"].insert(0, check("deploy", None, "s", threshold=120, verdict="not measured"))
    assert (run_record(report).deploy_s, run_record(report).deploy_check) == (6.0, "startup")


def test_no_deploy_time_at_all_is_none() -> None:
    """Nothing measured anywhere: None, never 0."""
    rec = run_record(v2_report(deploy_s=None, startup_s=None))
    assert (rec.deploy_s, rec.deploy_check) == (None, None)


def test_switch_time_is_the_measured_switch_ms() -> None:
    """switch_ms in ms; None when no switch was measured."""
    assert run_record(v2_report(switch_ms=2.5)).switch_ms == 2.5
    assert run_record(v2_report(switch_ms=None)).switch_ms is None


def test_several_releases_in_a_run_give_the_worst_time() -> None:
    """The deployment suite rehearses a release per test: deploy, switch and rollback are the largest."""
    report = v2_report(deploy_s=8.0, switch_ms=1.5, rollback="automatic", rollback_ms=30.0)
    report["tests"].append(
        {
            "nodeid": "suites/deployment/test_release.py::test_manual_rollback",
            "outcome": "passed",
            "reason": None,
            "duration_s": 10.0,
            "checks": [
                check("deploy", 9.5, "s", threshold=120),
                check("switch_ms", 1.0, "ms", threshold=1000),
                check("rollback_ms", 45.0, "ms", threshold=1000),
                check("deploy", None, "s", threshold=120, verdict="not measured"),
            ],
        }
    )
    rec = run_record(report)
    assert (rec.deploy_s, rec.switch_ms, rec.rollback_ms) == (9.5, 1.5, 45.0)


def test_the_gated_rollback_wins_over_a_recorded_one() -> None:
    """A recorded rollback_ms (no threshold) does not count when the release's rollback is gated, even if larger."""
    report = v2_report(status="failed", rollback="automatic", rollback_ms=40.0)
    report["tests"][0]["checks"].append(check("rollback_ms", 70.0, "ms"))  # recorded
    rec = run_record(report)
    assert (rec.rollback_ms, rec.rolled_back) == (40.0, True)


def test_a_recorded_rollback_time_alone_is_no_rollback() -> None:
    """Only a recorded rollback_ms: it is the rollback time, but no gate rolled the run back."""
    rec = run_record(v2_report(extra_checks=[check("rollback_ms", 7.0, "ms")]))
    assert (rec.rollback_ms, rec.rolled_back) == (7.0, False)


def test_an_automatic_rollback_of_a_failed_test_alone_marks_the_run_rolled_back() -> None:
    """The failed test's timeline says automatic rollback, though no rollback time was measured."""
    report = v2_report(status="failed")
    report["timeline"].append(
        {"t_s": 30.0, "event": "rollback", "detail": "automatic: green -> blue", "test": BLUE_GREEN}
    )
    rec = run_record(report)
    assert (rec.rollback_ms, rec.rolled_back) == (None, True)


def test_a_drill_or_a_manual_rollback_keeps_its_time_but_is_not_rolled_back() -> None:
    """A drill (automatic, its test passed) and a rehearsed manual rollback: timed, not counted."""
    drill = run_record(v2_report(rollback="automatic", rollback_ms=5.0))
    manual = run_record(v2_report(status="failed", rollback="manual", rollback_ms=6.0))
    assert [(r.rollback_ms, r.rolled_back) for r in (drill, manual)] == [(5.0, False), (6.0, False)]


def test_a_run_without_rollback_is_not_rolled_back() -> None:
    """No rollback event, no rollback time."""
    rec = run_record(v2_report())
    assert (rec.rollback_ms, rec.rolled_back) == (None, False)


def _rollback(detail: str, test: Any = BLUE_GREEN) -> dict[str, Any]:
    return {"t_s": 20.1, "event": "rollback", "detail": detail, "test": test}


CANARY = "suites/deployment/test_release.py::test_canary"


@pytest.mark.parametrize(
    ("outcome", "timeline", "expected"),
    [
        ("failed", [_rollback("automatic (error_rate trigger): green -> blue in 3.2 ms")], True),
        ("error", [_rollback("automatic: green -> blue")], True),
        ("passed", [_rollback("automatic (error_rate trigger): green -> blue in 3.2 ms")], False),  # a drill
        ("failed", [_rollback("manual: green -> blue in 3.2 ms")], False),  # a rehearsed manual rollback
        ("failed", [_rollback("automatic: green -> blue", test=CANARY)], False),  # another test's rollback
        ("failed", [{"t_s": 8.4, "event": "switch", "detail": "blue -> green", "test": BLUE_GREEN}], False),
        ("failed", ["rollback", None, {"event": "rollback"}], False),  # damaged: nothing to read
        ("failed", {"rollback": "automatic"}, False),
    ],
    ids=["gate", "error", "drill", "manual", "other-test", "no-rollback", "damaged-entries", "damaged-timeline"],
)
def test_rolled_back_by_gate(outcome: str, timeline: Any, expected: bool) -> None:
    """Only a failed (or error) test whose own timeline has an automatic rollback: a gate stopped the release."""
    report = v2_report()
    report["tests"][1]["outcome"] = outcome
    report["timeline"] = timeline
    assert rolled_back_by_gate(report) is expected


def test_a_canary_rollback_is_automatic() -> None:
    """A canary rollback event says at which step ("at 25 %: ..."): no "manual", so a failed canary counts."""
    report = v2_report()
    report["tests"][2].update(nodeid=CANARY, outcome="failed")
    report["timeline"] = [_rollback("at 25 %: green -> blue in 2.0 ms", test=CANARY)]
    assert rolled_back_by_gate(report)


def test_rolled_back_by_gate_reads_any_document() -> None:
    """The dashboard reads whatever it is given: tests or timeline missing or of another type is no rollback."""
    assert not rolled_back_by_gate({})
    assert not rolled_back_by_gate({"tests": "x", "timeline": [_rollback("automatic")]})
    assert not rolled_back_by_gate({"tests": [None, 3], "timeline": [_rollback("automatic", test=None)]})


def test_counts_come_from_the_verdicts_and_match_the_summary() -> None:
    """passed, failed, inconclusive count gated checks; recorded values have no verdict."""
    report = v2_report(
        extra_checks=[
            check("error_rate", 0.3, "%", threshold=0.1, verdict="fail"),
            check("p95_ms", None, "ms", threshold=500, verdict="inconclusive"),
        ]
    )
    rec = run_record(report)
    assert (rec.passed, rec.failed, rec.inconclusive) == (4, 1, 1)
    summary = report["summary"]
    assert (summary["passed"], summary["failed"], summary["inconclusive"]) == (rec.passed, rec.failed, rec.inconclusive)


def test_every_check_is_kept_with_its_test_in_report_order() -> None:
    """Gated and recorded values, each with nodeid, subject, measured, unit, samples, threshold, verdict."""
    report = v2_report(extra_checks=[check("trivy_critical", 0, "findings", threshold=0, subject="app:1.1.0")])
    rec = run_record(report)
    assert [c.name for c in rec.checks] == [
        "startup",
        "deploy",
        "switch_ms",
        "switch_failed_requests",
        "probe_requests",
        "trivy_critical",
    ]
    assert rec.checks[-1] == CheckValue(
        nodeid="suites/deployment/test_release.py::test_blue_green",
        name="trivy_critical",
        subject="app:1.1.0",
        measured=0.0,
        unit="findings",
        samples=1,
        threshold=0.0,
        comparison="<=",
        verdict="pass",
    )
    recorded = rec.checks[4]
    assert (recorded.measured, recorded.threshold, recorded.comparison, recorded.verdict) == (5210.0, None, None, None)


def test_the_runs_table_columns_follow_the_record() -> None:
    """The SQL column list and RunRecord's fields stay in step (checks go to their own table)."""
    assert tuple(f.name for f in fields(RunRecord) if f.name != "checks") == RUN_COLUMNS


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda r: r.update(schema="pytest-athalia/report/1"), "schema is 'pytest-athalia/report/1'"),
        (lambda r: r.pop("run"), "run is None, expected an object"),
        (lambda r: r["run"].update(id=""), "run.id is missing or empty"),
        (lambda r: r["run"].update(status="ok"), "run.status is 'ok', expected one of passed, failed"),
        (lambda r: r["run"].update(started_at=None), "run.started_at is missing"),
        (lambda r: r["run"].update(started_at="yesterday"), "run.started_at is 'yesterday', expected an RFC 3339"),
        (lambda r: r["run"].update(started_at="2026-12-05T06:11:12"), "with its offset"),
        (lambda r: r["run"].update(duration_s="230"), "run.duration_s is '230', expected a number or null"),
        (lambda r: r["run"].update(exit_status=True), "run.exit_status is True, expected an integer"),
        (lambda r: r["tests"][1]["checks"][0].update(measured="8.4"), "tests[1].checks[0].measured is '8.4'"),
        (lambda r: r["tests"][0].update(checks={}), "tests[0].checks is {}, expected a list"),
        (lambda r: r.update(timeline=["rollback"]), "timeline[0] is 'rollback', expected an object"),
    ],
)
def test_a_report_that_does_not_fit_names_the_field(change: Any, named: str) -> None:
    """One HistoryError naming the field, what it is and what was expected."""
    report = v2_report()
    change(report)
    with pytest.raises(HistoryError, match=r"^athalia: ") as info:
        run_record(report)
    assert named in str(info.value)


def test_a_report_that_is_not_an_object_is_refused() -> None:
    """A list, say."""
    with pytest.raises(HistoryError, match="must be a JSON object, got list"):
        run_record([])  # type: ignore[arg-type]
