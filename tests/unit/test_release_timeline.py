"""A release's timeline for the JSON report: deploy, smoke, switch, triggers fired, rollback, seconds from its start."""

from __future__ import annotations

from dataclasses import replace

from pytest_athalia.release._release import (
    BaselineReport,
    Phase,
    SmokeReport,
    SmokeResult,
    Stop,
)
from pytest_athalia.release._timeline import release_timeline
from pytest_athalia.release._traffic import ProbeLog
from pytest_athalia.release._triggers import TriggerState
from pytest_athalia.report._series import TimelineEvent
from tests.unit.test_rollout_checks import MS, report, rollback, switch, trigger

S = 1000 * MS
BASELINE = BaselineReport("blue", 2.0, (), ProbeLog("http://r/version", 100 * S, 102 * S, ()))
SMOKE = SmokeReport("green", (SmokeResult("/health", "u", True, "200"), SmokeResult("(router)", "u", True, "up")))


def test_a_rolled_back_release_tells_deploy_smoke_switch_trigger_and_rollback_in_order() -> None:
    """Times are seconds from the baseline's start; the trigger and the rollback carry what fired."""
    fired = replace(trigger("error_rate", TriggerState.FIRED, 0.5, 0.05), at_ns=110 * S)
    sw = replace(switch(1.5), started_ns=105 * S)
    rb = replace(rollback(12.0, fired=fired), fired_ns=110 * S, weights_ns=110 * S + 5 * MS)
    probe = ProbeLog("http://r/version", 104 * S, 112 * S, ())
    release = report(
        baseline=BASELINE,
        deploy_seconds=2.5,
        smoke=SMOKE,
        switch=sw,
        triggers=(fired,),
        rollback=rb,
        probe=probe,
        phase=Phase.ROLLED_BACK,
    )
    events = release_timeline(release)
    assert [(e.t_s, e.event) for e in events] == [
        (0.0, "baseline"),
        (2.0, "deploy"),
        (4.5, "deployed"),
        (4.5, "smoke"),
        (5.0, "switch"),
        (10.0, "trigger"),
        (10.005, "rollback"),
        (12.0, "end"),
    ]
    detail = {e.event: e.detail for e in events}
    assert detail["deploy"] == "green rollout.candidate 1.1.0"
    assert detail["smoke"] == "1 paths passed"
    assert detail["switch"] == "blue -> green in 1.5 ms"
    assert detail["trigger"].startswith("error_rate trigger fired: measured 0.5 ratio")
    assert detail["rollback"] == "automatic (error_rate trigger): green -> blue in 12.0 ms"
    assert detail["end"] == "rolled back"


def test_a_release_stopped_at_the_deploy_ends_with_the_stop() -> None:
    """No switch: the timeline ends with the stop and its message, shortened to one line."""
    stop = Stop("deploy", False, "compose said:\n" + "x" * 500)
    events = release_timeline(report(baseline=BASELINE, stop=stop, phase=Phase.FAILED))
    assert [e.event for e in events] == ["baseline", "deploy", "stop"]
    assert len(events[-1].detail) == 200
    assert "\n" not in events[-1].detail


def test_a_live_version_that_already_fails_stops_before_the_deploy() -> None:
    """Stopped by the baseline: nothing deployed, the stop says why."""
    events = release_timeline(report(baseline=BASELINE, stop=Stop("baseline", True, "the live version already fails")))
    assert events == (
        TimelineEvent(0.0, "baseline", "blue live watched 2.0 s, 0 failed of 0 requests"),
        TimelineEvent(2.0, "stop", "the live version already fails"),
    )


def test_nothing_ran_gives_no_timeline() -> None:
    """A report with no time at all has no events (never a made-up origin)."""
    assert release_timeline(report()) == ()
