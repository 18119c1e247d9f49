"""Verdicts of a release from hand-made reports: what passes, what fails, and what is inconclusive."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pytest_athalia.config._rollout import RollbackSLO
from pytest_athalia.release._checks import (
    drill_verdict,
    probe_verdict,
    rollback_verdicts,
    switch_verdicts,
    trigger_verdicts,
)
from pytest_athalia.release._release import Candidate, Phase, ReleaseReport, RollbackReport, SwitchReport
from pytest_athalia.release._timing import Cutover
from pytest_athalia.release._traffic import ProbeLog, ProbeSample
from pytest_athalia.release._triggers import TriggerResult, TriggerState
from pytest_athalia.report._slo import Outcome

MS = 1_000_000
SLO = RollbackSLO(max_ms=50, max_switch_ms=80, max_failed_requests=0)
CANDIDATE = Candidate("rollout.candidate", None, (("APP_VERSION", "1.1.0"),))


def cut(ms: float | None, after: int = 100, reason: str = "") -> Cutover:
    return Cutover("blue", 0, 1 * MS, None, int((ms or 0) * MS), after, ms, reason)


def trigger(name: str, state: TriggerState, value: float | None, threshold: float) -> TriggerResult:
    return TriggerResult(name, state, value, threshold, "ratio", 120, 1000, 5 * MS, None, "")


def report(**changes: Any) -> ReleaseReport:
    return replace(ReleaseReport(CANDIDATE, "green", "blue", Phase.LIVE), **changes)


def switch(ms: float | None, failed: int = 0, stray: int = 0) -> SwitchReport:
    bad = tuple(ProbeSample(i, i + 1, 503, None) for i in range(failed))
    strays = tuple(ProbeSample(i, i + 1, 200, "blue") for i in range(stray))
    return SwitchReport("blue", "green", 0, 1 * MS, cut(ms), bad, 300, strays, 250)


def rollback(ms: float | None, failed: int = 0, fired: TriggerResult | None = None, reason: str = "") -> RollbackReport:
    bad = tuple(ProbeSample(i, i + 1, None, None, "ConnectionResetError") for i in range(failed))
    return RollbackReport("green", "blue", 0, 1 * MS, fired, cut(ms, reason=reason), 12.0, bad, 90)


def test_clean_switch_passes_every_check() -> None:
    """0 failed, 1.2 ms, no stray response: three passing verdicts with their sample counts."""
    verdicts = switch_verdicts(report(switch=switch(1.2)), SLO)
    assert [(v.check, v.outcome) for v in verdicts] == [
        ("switch_failed_requests", Outcome.PASS),
        ("switch_ms", Outcome.PASS),
        ("switch_stray_responses", Outcome.PASS),
    ]
    assert verdicts[0].measurement.samples == 300


def test_switch_failures_slowness_and_strays_fail() -> None:
    """A failed request, a switch over max_switch_ms and a response from the old color each fail."""
    verdicts = switch_verdicts(report(switch=switch(95.0, failed=1, stray=2)), SLO)
    assert [v.outcome for v in verdicts] == [Outcome.FAIL] * 3
    assert verdicts[1].message() == "switch_ms: measured 95 ms, threshold <= 80 ms (100 samples over switch): fail"


def test_unshown_cutover_is_inconclusive_with_the_reason() -> None:
    """A switch time that could not be shown is inconclusive and says why."""
    sw = SwitchReport("blue", "green", 0, MS, cut(None, after=3, reason="only 3 probe request(s)"), (), 10, (), 3)
    verdict = switch_verdicts(report(switch=sw), SLO)[1]
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "only 3 probe request(s)" in verdict.message()


def test_no_switch_fails_with_the_release_error() -> None:
    """A release that never switched fails its switch check with the error (e.g. the smoke test)."""
    verdicts = switch_verdicts(report(phase=Phase.FAILED, error="the smoke test of green failed"), SLO)
    assert len(verdicts) == 1
    assert verdicts[0].outcome is Outcome.FAIL
    assert "the smoke test of green failed" in verdicts[0].message()


def test_rollback_within_slo_and_over_it() -> None:
    """Rollback time against max_ms and its failed requests against max_failed_requests."""
    ok = rollback_verdicts(report(rollback=rollback(3.5)), SLO)
    assert [v.outcome for v in ok] == [Outcome.PASS, Outcome.PASS]
    slow = rollback_verdicts(report(rollback=rollback(51.0, failed=1)), SLO)
    assert [v.outcome for v in slow] == [Outcome.FAIL, Outcome.FAIL]
    assert "rollback_failed_requests: measured 1 requests, threshold <= 0 requests" in slow[1].message()


def test_missing_rollback_fails() -> None:
    """A drill without rollback fails its rollback_ms check: nothing was measured."""
    verdicts = rollback_verdicts(report(), SLO)
    assert verdicts[0].outcome is Outcome.FAIL
    assert "measured nothing" in verdicts[0].message()
    assert "no rollback happened" in verdicts[0].message()


def test_trigger_verdicts_map_fired_quiet_and_insufficient() -> None:
    """Quiet passes, fired fails naming the trigger, insufficient is inconclusive."""
    results = (
        trigger("error_rate", TriggerState.FIRED, 0.4, 0.05),
        trigger("latency", TriggerState.QUIET, 0.01, 0.05),
        trigger("health", TriggerState.INSUFFICIENT, None, 2),
    )
    verdicts = trigger_verdicts(report(triggers=results))
    assert [v.outcome for v in verdicts] == [Outcome.FAIL, Outcome.PASS, Outcome.INCONCLUSIVE]
    assert verdicts[0].message() == (
        "trigger_error_rate: measured 0.4 ratio, threshold <= 0.05 ratio (120 samples over 1000 ms): fail "
        "(the error_rate trigger fired and rolled the candidate back)"
    )


def test_drill_passes_only_when_its_own_trigger_fired() -> None:
    """The drill passes when its trigger fired; another trigger firing first fails it, naming that one."""
    fired = trigger("error_rate", TriggerState.FIRED, 0.4, 0.05)
    done = report(phase=Phase.ROLLED_BACK, triggers=(fired,), rollback=rollback(2.0, fired=fired))
    passed = drill_verdict(done, "error_rate")
    assert passed.passed
    assert "threshold > 0.05 ratio" in passed.message()  # the condition under which the trigger fires
    other = report(
        phase=Phase.ROLLED_BACK,
        triggers=(fired, trigger("latency", TriggerState.QUIET, 0.01, 0.05)),
        rollback=rollback(2.0, fired=fired),
    )
    verdict = drill_verdict(other, "latency")
    assert not verdict.passed
    assert "another trigger fired first: error_rate trigger fired" in verdict.message()
    assert "was not evaluated" in drill_verdict(report(), "external").message()


def test_probe_rate_below_200_is_inconclusive_and_no_probe_fails_closed() -> None:
    """300 requests over 1 s pass; 150 over 1 s are inconclusive (never a pass); no probe fails with its error."""
    samples = tuple(ProbeSample(i * MS, i * MS + 4 * MS, 200, "green") for i in range(300))
    fast = report(probe=ProbeLog("http://127.0.0.1:1/", 0, 1_000 * MS, samples))
    assert probe_verdict(fast).passed
    slow = probe_verdict(report(probe=ProbeLog("http://127.0.0.1:1/", 0, 1_000 * MS, samples[:150])))
    assert slow.outcome is Outcome.INCONCLUSIVE
    assert not slow.passed
    assert slow.message() == (
        "probe_rate: measured 150 req/s, threshold >= 200 req/s (150 samples over 1.0 s): inconclusive "
        "(probe could not reach 200 req/s (150 requests over 1.0 s, mean answer 4.0 ms); raise "
        "rollout.probe.clients (each client waits for its answer) or run on a less loaded machine)"
    )
    none = probe_verdict(report(phase=Phase.FAILED, error="deploying failed"))
    assert none.outcome is Outcome.FAIL
    assert "deploying failed" in none.message()


def test_gate_records_not_measured_checks_without_listing_them_and_fails_closed_on_them_alone() -> None:
    """apply_all lists only judged checks; a list of nothing but not-measured checks still fails (never a pass)."""
    import pytest

    from pytest_athalia.report._gate import Gate
    from pytest_athalia.report._slo import Comparison, Measurement, Threshold, Verdict

    def verdict(check: str, outcome: Outcome) -> Verdict:
        value = 1.0 if outcome is Outcome.PASS else None
        return Verdict(Measurement(check, value, "s", 1), Threshold(5, Comparison.AT_MOST, "s"), outcome, "why")

    recorded: list[tuple[str, object]] = []
    gate = Gate(lambda name, value: recorded.append((name, value)))
    gate.apply_all([verdict("a", Outcome.PASS), verdict("b", Outcome.NOT_MEASURED)])
    assert ("athalia.b.verdict", "not measured") in recorded
    with pytest.raises(pytest.fail.Exception, match="1 of 1 checks did not pass:\nc: measured nothing"):
        gate.apply_all([verdict("c", Outcome.NOT_MEASURED)])
