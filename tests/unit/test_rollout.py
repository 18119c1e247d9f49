"""Blue-green rollouts without Docker: the state machine, releases, triggers and rollbacks.

The doubles (`LocalRouter`, `LocalColors`) live in tests/support/local_router.py, shared with the canary's tests.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest

from pytest_athalia._errors import RolloutError
from pytest_athalia.config._rollout import ExternalTrigger, ProbeSpec, RollbackSLO, TriggersSpec
from pytest_athalia.release._bluegreen import BlueGreen
from pytest_athalia.release._checks import (
    baseline_verdict,
    deploy_verdict,
    drill_verdict,
    probe_verdict,
    rollback_verdicts,
    smoke_verdict,
    switch_verdicts,
    trigger_verdicts,
)
from pytest_athalia.release._release import Candidate, Phase, Plan
from pytest_athalia.release._router import COLOR_HEADER
from pytest_athalia.release._triggers import TriggerState
from pytest_athalia.report._slo import Outcome
from tests.support.local_router import ColorState, LocalColors, LocalRouter, local_router

__all__ = ["local_router"]  # the fixture, imported to be found here


def test_local_router_splits_by_weight(local_router: LocalRouter) -> None:
    """The double routes by weight (3:1) and answers 503 without a color when every weight is 0."""
    import urllib.error
    import urllib.request

    local_router.set_weight("green", 300)
    seen = []
    for _ in range(8):
        with urllib.request.urlopen(local_router.url("/x"), timeout=5) as response:
            seen.append(response.headers[COLOR_HEADER])
    assert seen.count("green") == 6
    assert seen.count("blue") == 2
    local_router.set_weight("green", 0)
    local_router.set_weight("blue", 0)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(local_router.url("/x"), timeout=5)
    info.value.close()
    assert info.value.code == 503
    assert info.value.headers[COLOR_HEADER] is None


# --------------------------------------------------------------------------- the rollout

PLAN = Plan(
    probe_path="/version",
    smoke_paths=("/health",),
    health_path="/ready",
    probe=ProbeSpec(rate=300.0, clients=6, max_seconds=20.0),
    triggers=TriggersSpec(window_ms=1000.0),
    observe_s=1.0,
    settle_s=0.2,
    baseline_s=0.5,
)
GOOD = Candidate("good", None, (("APP_VERSION", "2.0.0"),))
SLO = RollbackSLO(max_ms=200.0)


@pytest.fixture
def rollout(local_router: LocalRouter) -> BlueGreen:
    """A BlueGreen over the local doubles: blue live, green idle."""
    return BlueGreen(local_router, LocalColors(local_router), PLAN)


def test_switch_before_deploy_is_an_invalid_transition(rollout: BlueGreen) -> None:
    """switch() from idle raises RolloutError naming the phase and leaves the weights alone."""
    with pytest.raises(
        RolloutError, match="switch\\(\\) needs a candidate that passed its smoke test; the rollout is idle"
    ):
        rollout.switch()
    assert rollout.router.weights() == {"blue": 100, "green": 0}


def test_rollback_from_idle_and_second_deploy_are_invalid(rollout: BlueGreen) -> None:
    """Rolling back from idle, or deploying twice, raises RolloutError listing the allowed next phases."""
    with pytest.raises(
        RolloutError, match="cannot go from idle to rolling back; from idle it can go to: baseline, deploying"
    ):
        rollout.rollback()
    rollout.deploy(GOOD)
    with pytest.raises(RolloutError, match="cannot go from smoke-testing to deploying"):
        rollout.deploy(GOOD)


def test_terminal_phases_need_reset(rollout: BlueGreen) -> None:
    """After a rollback nothing but reset() is allowed; reset restores blue=100, green=0 and idle."""
    rollout.deploy(GOOD)
    rollout.smoke_test()
    rollout.switch()
    rollout.rollback()
    assert rollout.phase is Phase.ROLLED_BACK
    assert rollout.live == "blue"
    with pytest.raises(RolloutError, match="it can go to: none \\(call reset\\(\\)\\)"):
        rollout.deploy(GOOD)
    rollout.reset()
    assert rollout.phase is Phase.IDLE
    assert rollout.router.weights() == {"blue": 100, "green": 0}


def test_step_by_step_phases_and_weight_order(rollout: BlueGreen, local_router: LocalRouter) -> None:
    """The steps walk idle → deploying → smoke-testing → switching → live; the new color gets 100 before the old 0."""
    rollout.deploy(GOOD)
    assert rollout.smoke_test().passed
    rollout.switch()
    assert rollout.history == [Phase.IDLE, Phase.DEPLOYING, Phase.SMOKE_TESTING, Phase.SWITCHING, Phase.LIVE]
    assert local_router.routing.weight_calls[-2:] == [("green", 100), ("blue", 0)]
    assert rollout.live == "green"
    assert rollout.idle == "blue"


def test_good_candidate_switches_without_failures(rollout: BlueGreen) -> None:
    """A good candidate goes live: 0 failed requests, every later response from green, triggers quiet."""
    report = rollout.release(GOOD)
    assert report.phase is Phase.LIVE, report.describe()
    assert report.switch is not None
    assert report.switch.ms is not None
    assert report.switch.failed == ()
    assert report.switch.stray == ()
    assert report.switch.after >= PLAN.min_after
    assert report.rollback is None
    assert {t.trigger: t.state for t in report.triggers} == {
        "error_rate": TriggerState.QUIET,
        "latency": TriggerState.QUIET,
        "health": TriggerState.QUIET,
    }
    assert report.probe is not None
    assert report.probe.rate is not None
    assert report.probe.rate > 150
    assert all(v.passed for v in (*trigger_verdicts(report), *switch_verdicts(report, SLO))), report.describe()


def test_a_router_that_keeps_sending_to_the_old_color_fails_the_stray_gate(
    rollout: BlueGreen, local_router: LocalRouter
) -> None:
    """A router still sending every 10th request to blue at weight 0: switch_stray_responses fails, naming blue."""
    local_router.routing.leak_every = 10
    report = rollout.release(GOOD)
    assert report.switch is not None
    assert len(report.switch.stray) >= 10, report.describe()
    assert {s.color for s in report.switch.stray} == {"blue"}
    stray = next(v for v in switch_verdicts(report, SLO) if v.measurement.check == "switch_stray_responses")
    assert stray.outcome is Outcome.FAIL
    assert "200 from blue (sent " in stray.message()


def test_slow_old_color_answers_in_flight_at_the_switch_are_not_stray(
    rollout: BlueGreen, local_router: LocalRouter
) -> None:
    """Blue answers in 20 ms: requests sent before the router returned end after it, from blue, and are not stray."""
    local_router.routing.colors["blue"].latency_ms = 20
    report = rollout.release(GOOD, observe_s=0.5)
    assert report.switch is not None
    assert report.switch.in_flight >= 1, report.describe()
    assert report.switch.stray == (), report.describe()
    assert "0 stray of" in report.describe()
    assert f"({report.switch.in_flight} in flight across them, not judged)" in report.describe()


def test_manual_rollback_is_timed_from_the_request(rollout: BlueGreen) -> None:
    """A manual rollback returns traffic to blue; its time runs from the call to the cutover, with 0 failed."""
    report = rollout.release(GOOD, manual_rollback=True)
    assert report.phase is Phase.ROLLED_BACK
    rb = report.rollback
    assert rb is not None
    assert not rb.automatic
    assert rb.detection_ms is None
    assert rb.ms is not None
    assert 0 <= rb.ms < SLO.max_ms, report.describe()
    assert rb.failed == ()
    assert report.probe is not None
    late = [s for s in report.probe.samples if s.start_ns > rb.cutover.at_ns]
    assert late
    assert all(s.color == "blue" for s in late)
    assert all(v.passed for v in rollback_verdicts(report, SLO))


@pytest.mark.parametrize(
    ("env", "trigger"),
    [
        ((("FAULT_ERROR_RATE", "0.5"),), "error_rate"),
        ((("FAULT_LATENCY_MS", "400"),), "latency"),
        ((("FAULT_READY_FAIL", "true"),), "health"),
    ],
)
def test_bad_candidate_is_rolled_back_by_its_trigger(
    rollout: BlueGreen, env: tuple[tuple[str, str], ...], trigger: str
) -> None:
    """Each kind of bad candidate fires its trigger and is rolled back automatically within the SLO."""
    report = rollout.release(Candidate("bad", None, env), observe_s=5.0)
    assert report.fired is not None, report.describe()
    assert report.fired.trigger == trigger, report.describe()
    assert report.phase is Phase.ROLLED_BACK
    assert rollout.live == "blue"
    rb = report.rollback
    assert rb is not None
    assert rb.automatic
    assert rb.ms is not None
    assert rb.ms <= SLO.max_ms, report.describe()
    assert rb.detection_ms is not None
    assert report.switch is not None
    # The first bad answer came after the switch began and before the firing.
    assert 0 < rb.detection_ms <= (rb.fired_ns - report.switch.started_ns) / 1e6, report.describe()
    assert rb.failed == (), [s.describe() for s in rb.failed]
    assert drill_verdict(report, trigger).passed
    failing = [v for v in trigger_verdicts(report) if v.outcome is Outcome.FAIL]
    assert [v.check for v in failing] == [f"trigger_{trigger}"]
    assert "fired" in failing[0].message()
    assert "sample" in failing[0].message()


def test_external_signal_rolls_back(rollout: BlueGreen, local_router: LocalRouter) -> None:
    """A URL whose answer matches `match` rolls a good candidate back (the users complain)."""
    complaints = ExternalTrigger(url=local_router.url("/__color/blue/version"), match="blue", interval_ms=20)
    report = rollout.release(GOOD, external=complaints)
    assert report.fired is not None
    assert report.fired.trigger == "external", report.describe()
    assert "the signal answered" in report.fired.reason
    assert report.rollback is not None
    assert report.rollback.ms is not None


def test_external_command_that_exits_zero_keeps_the_candidate(rollout: BlueGreen) -> None:
    """An external command exiting 0 says all is well: the candidate stays live and the trigger is quiet."""
    quiet = ExternalTrigger(command=(sys.executable, "-c", "pass"), interval_ms=100)
    report = rollout.release(GOOD, external=quiet)
    assert report.phase is Phase.LIVE, report.describe()
    external = report.trigger("external")
    assert external is not None
    assert external.state is TriggerState.QUIET


def test_failed_smoke_test_never_switches(rollout: BlueGreen, local_router: LocalRouter) -> None:
    """A candidate failing its smoke test ends failed, with no traffic moved and the reason in the report."""
    plan = replace(PLAN, smoke_paths=("/health", "/ready"))
    rollout = BlueGreen(local_router, LocalColors(local_router), plan)
    report = rollout.release(Candidate("bad", None, (("FAULT_READY_FAIL", "true"),)))
    assert report.phase is Phase.FAILED
    assert report.switch is None
    assert "the smoke test of green stopped the release before any traffic moved" in report.error
    assert "GET /ready on green answered 503 where blue (live) answers 200" in report.error
    assert local_router.weights() == {"blue": 100, "green": 0}
    assert smoke_verdict(report).outcome is Outcome.FAIL
    assert {v.outcome for v in switch_verdicts(report, SLO)} == {Outcome.NOT_MEASURED}
    assert "stopped at the smoke check" in switch_verdicts(report, SLO)[0].message()


def test_failed_deploy_is_reported(local_router: LocalRouter) -> None:
    """A deploy that raises ends failed; the report carries the stack's error."""
    rollout = BlueGreen(local_router, LocalColors(local_router, deploy_error="image not found"), PLAN)
    report = rollout.release(GOOD)
    assert report.phase is Phase.FAILED
    assert "deploying good" in report.error
    assert "image not found" in report.error


def test_failed_deploy_adds_no_progress_line_of_the_rollouts_own(local_router: LocalRouter) -> None:
    """A deploy that raises prints nothing from the rollout: only the stack's deploy phase reports it (see
    test_stack_unit's failed deploy, which prints "failed after", never "done")."""
    lines: list[str] = []
    colors = LocalColors(local_router, deploy_error="image not found")
    report = BlueGreen(local_router, colors, PLAN, say=lines.append).release(GOOD)
    assert report.phase is Phase.FAILED
    assert [line for line in lines if not line.startswith("watching blue (live)")] == []


def test_release_asks_the_stack_once_for_the_color_address(local_router: LocalRouter) -> None:
    """color_url runs compose on ComposeStack: one call per deploy serves every smoke path and the health poller.

    The deploy's progress line is the stack's own (ComposeStack.deploy_color opens a phase): the rollout adds none.
    """

    class Counting(LocalColors):
        def __init__(self, router: LocalRouter) -> None:
            super().__init__(router)
            self.asked: list[tuple[str, str]] = []

        def color_url(self, color: str, path: str = "") -> str:
            self.asked.append((color, path))
            return super().color_url(color, path)

    lines: list[str] = []
    colors = Counting(local_router)
    plan = replace(PLAN, smoke_paths=("/health", "/version"), observe_s=0.3)
    report = BlueGreen(local_router, colors, plan, say=lines.append).release(GOOD)
    assert report.phase is Phase.LIVE, report.describe()
    assert report.smoke is not None
    assert [r.path for r in report.smoke.results] == ["/health", "/version", "(router)"]
    # Blue once for the baseline's health poller (and the smoke test's live answers), green once after its deploy.
    assert colors.asked == [("blue", ""), ("green", "")]
    assert not [line for line in lines if line.startswith("deploying")], lines


def test_drill_verdict_names_trigger_value_threshold_and_samples(rollout: BlueGreen) -> None:
    """When a drill's trigger does not fire, the verdict says so with measured value, threshold and samples."""
    report = rollout.release(GOOD, observe_s=0.6)
    verdict = drill_verdict(report, "error_rate")
    assert not verdict.passed
    text = verdict.message()
    assert "the error_rate trigger did not fire: error_rate trigger quiet: measured 0 ratio" in text
    assert "threshold > 0.05 ratio" in text
    assert "samples in the last 1000 ms" in text


# --------------------------------------------------------------------------- the live version first, smoke, deploy


def test_probe_path_failing_on_live_is_inconclusive_and_nothing_is_deployed(local_router: LocalRouter) -> None:
    """A probe path that 404s on blue: the baseline's error_rate trigger fires, nothing is deployed, inconclusive."""
    colors = LocalColors(local_router)
    report = BlueGreen(local_router, colors, replace(PLAN, probe_path="/missing")).release(GOOD)
    assert report.phase is Phase.INCONCLUSIVE, report.describe()
    assert report.inconclusive
    assert colors.deployed == []
    assert local_router.routing.weight_calls == []
    assert report.error.startswith("the live version already fails: error_rate trigger fired: measured 1 ratio")
    assert "threshold > 0.05 ratio" in report.error
    assert "on blue before anything was deployed" in report.error
    assert report.baseline is not None
    assert report.baseline.failed == report.baseline.probe.count > 50
    baseline = baseline_verdict(report)
    assert baseline.outcome is Outcome.INCONCLUSIVE
    assert baseline.measurement.value == 1.0
    assert "the live version already fails" in baseline.message()
    later = [deploy_verdict(report, 60), smoke_verdict(report), probe_verdict(report), *switch_verdicts(report, SLO)]
    assert {v.outcome for v in later} == {Outcome.NOT_MEASURED}
    assert "the release stopped at the baseline check (the live version already fails)" in later[0].reason
    assert trigger_verdicts(report) == ()
    assert "rolled the candidate back" not in report.describe()


def test_live_version_that_is_healthy_passes_the_baseline(rollout: BlueGreen) -> None:
    """A healthy blue: the baseline passes with its figures (requests, seconds) and the release goes on."""
    report = rollout.release(GOOD, observe_s=0.3)
    assert report.phase is Phase.LIVE, report.describe()
    assert report.baseline is not None
    assert report.baseline.color == "blue"
    assert report.baseline.failed == 0
    assert report.baseline.seconds >= PLAN.baseline_s
    verdict = baseline_verdict(report)
    assert verdict.passed, verdict.message()
    assert verdict.measurement.samples == report.baseline.probe.count > 50
    assert "baseline on blue (live) for" in report.describe()


def test_live_version_failing_readiness_is_inconclusive(local_router: LocalRouter) -> None:
    """Blue's readiness path answering 503: the health trigger fires on the live version before any deploy."""
    local_router.routing.colors["blue"].ready_fail = True
    colors = LocalColors(local_router)
    report = BlueGreen(local_router, colors, PLAN).release(GOOD)
    assert report.phase is Phase.INCONCLUSIVE, report.describe()
    assert colors.deployed == []
    assert "the live version already fails: health trigger fired" in report.error


def test_candidate_redirecting_its_health_path_is_stopped_by_the_smoke_test(local_router: LocalRouter) -> None:
    """Green answers /health with 308 where blue answers 200: stopped before any traffic moves, weights untouched."""
    colors = LocalColors(local_router)
    report = BlueGreen(local_router, colors, PLAN).release(Candidate("moved", None, (("HEALTH_REDIRECT", "true"),)))
    assert report.phase is Phase.FAILED, report.describe()
    assert report.stop is not None
    assert (report.stop.check, report.stop.inconclusive) == ("smoke", False)
    assert "GET /health on green answered 308 where blue (live) answers 200" in report.error
    assert "redirects not followed" in report.error
    assert "rollout.smoke.expect_status" in report.error
    # Only the deploy's own "green to 0": no switch, no weight ever given to green.
    assert local_router.routing.weight_calls == [("green", 0)]
    assert report.switch is None
    verdict = smoke_verdict(report)
    assert verdict.outcome is Outcome.FAIL
    assert (verdict.measurement.value, verdict.measurement.samples) == (1.0, 1)


def test_a_path_the_live_version_does_not_serve_is_inconclusive_at_the_smoke_test(local_router: LocalRouter) -> None:
    """A smoke path that 404s on blue too says nothing about the candidate: inconclusive, no traffic moved."""
    plan = replace(PLAN, smoke_paths=("/health", "/missing"))
    report = BlueGreen(local_router, LocalColors(local_router), plan).release(GOOD)
    assert report.phase is Phase.INCONCLUSIVE, report.describe()
    assert report.error.startswith("the live version already fails: GET /missing on blue (live) answered 404")
    assert smoke_verdict(report).outcome is Outcome.INCONCLUSIVE
    assert local_router.weights() == {"blue": 100, "green": 0}
    assert {v.outcome for v in switch_verdicts(report, SLO)} == {Outcome.NOT_MEASURED}


def test_expect_status_live_accepts_any_answer_of_the_live_class(local_router: LocalRouter) -> None:
    """With expect_status `live`, a 308 on both colors is fine: the candidate answers as blue does."""
    local_router.routing.colors["blue"].health_redirect = True
    plan = replace(PLAN, smoke_paths=("/health",), smoke_expect="live", observe_s=0.3)
    report = BlueGreen(local_router, LocalColors(local_router), plan).release(
        Candidate("moved", None, (("HEALTH_REDIRECT", "true"),))
    )
    assert report.smoke is not None
    assert report.smoke.passed, report.describe()


def test_failed_deploy_is_one_deploy_check_with_composes_text_once(local_router: LocalRouter) -> None:
    """A failed deploy: the deploy check fails with compose's text; later checks are not measured and not listed."""
    from pytest_athalia.report._gate import Gate

    compose = "Error response from daemon: pull access denied for nope/app, repository does not exist"
    error = (
        "athalia: deploying green (service app-green) of project p failed (exit 1, wait timeout 60 s). Check the "
        "candidate's image and settings (rollout.candidate in envs/dev.yml) and the service's log "
        f"(docker compose -p p logs app-green). compose said:\n{compose}"
    )
    candidate = Candidate("rollout.candidate", "nope/app:1", source="its image from the environment variable X")
    report = BlueGreen(local_router, LocalColors(local_router, deploy_error=error), PLAN).release(candidate)
    assert report.phase is Phase.FAILED
    assert report.stop is not None
    assert report.stop.check == "deploy"
    verdicts = [
        baseline_verdict(report),
        deploy_verdict(report, 60),
        smoke_verdict(report),
        *switch_verdicts(report, SLO),
        probe_verdict(report),
    ]
    assert [v.check for v in verdicts if v.outcome is Outcome.FAIL] == ["deploy"]
    properties: list[tuple[str, object]] = []
    with pytest.raises(pytest.fail.Exception) as info:
        Gate(lambda name, value: properties.append((name, value))).apply_all(verdicts, detail=report.describe())
    text = str(info.value)
    assert text.count(compose) == 1, text
    assert text.startswith("1 of 7 checks did not pass:\ndeploy: measured nothing")
    assert "switch_failed_requests" not in text
    assert "rollout.candidate in envs/dev.yml" not in text  # the stack's advice, replaced by the real source
    assert "The candidate takes its image from the environment variable X: check them there" in text
    assert "(docker compose -p p logs app-green)" in text
    assert ("athalia.switch_ms.verdict", "not measured") in properties
    reason = dict(properties)["athalia.switch_ms.reason"]
    assert reason == "not reached: the release stopped at the deploy check"


def test_probe_enters_through_a_front_service_when_set(local_router: LocalRouter) -> None:
    """With probe_base set (rollout.probe.service), every probe request comes in through it, not the router."""
    plan = replace(PLAN, probe_base=local_router.url("/__front"), probe_entry="front:80", observe_s=0.3)
    report = BlueGreen(local_router, LocalColors(local_router), plan).release(GOOD)
    assert report.phase is Phase.LIVE, report.describe()
    assert report.probe is not None
    assert report.probe.url == local_router.url("/__front/version")
    assert report.baseline is not None
    assert report.baseline.probe.url == report.probe.url
    assert local_router.routing.front_hits >= report.probe.count + report.baseline.probe.count


def test_a_drill_is_smoke_tested_on_its_drill_paths_only(local_router: LocalRouter) -> None:
    """A readiness drill fails /ready on purpose: as a release the smoke test stops it, as a drill its trigger fires."""
    plan = replace(PLAN, smoke_paths=("/health", "/ready", "/version"), drill_smoke_paths=("/health",))
    bad = Candidate("drill health", None, (("FAULT_READY_FAIL", "true"),))
    stopped = BlueGreen(local_router, LocalColors(local_router), plan).release(bad)
    assert stopped.phase is Phase.FAILED, stopped.describe()
    assert stopped.stop is not None
    assert stopped.stop.check == "smoke"
    local_router.routing.colors["green"] = ColorState()
    drilled = BlueGreen(local_router, LocalColors(local_router), plan).release(bad, drill=True, observe_s=5.0)
    assert drilled.fired is not None, drilled.describe()
    assert drilled.fired.trigger == "health"
    assert drill_verdict(drilled, "health").passed
