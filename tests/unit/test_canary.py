"""Canary releases without Docker: steps, judgements, rollbacks, dry runs and the router left as it was.

The router and colors are the blue-green tests' doubles (tests/support/local_router.py): a real HTTP
server on loopback, so the traffic probe runs for real. The metric source counts the double's
per-color requests and errors (deltas of ``stats()``, as HAProxy's source does); the judge is a fake:
either scripted (one outcome per call) or a plain threshold over the window.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from pytest_athalia._errors import RolloutError, RouterError
from pytest_athalia.canary._canary import Canary, Promoted, live_breach
from pytest_athalia.canary._checks import (
    before_traffic_verdicts,
    canary_drill_verdict,
    canary_post_deploy_verdict,
    canary_promoted_verdict,
    canary_rollback_verdicts,
    canary_step_verdicts,
    step_figures,
)
from pytest_athalia.canary._judge import Judgement, MetricJudgement
from pytest_athalia.canary._metrics import ColorWindow, Mark
from pytest_athalia.canary._report import CanaryPhase
from pytest_athalia.canary._timeline import canary_timeline
from pytest_athalia.config._canary import CanarySpec, JudgeSpec
from pytest_athalia.config._rollout import ProbeSpec, RollbackSLO, TriggersSpec
from pytest_athalia.release._faults import FakeFaultInjector, Fault
from pytest_athalia.release._release import Candidate, Plan
from pytest_athalia.report._slo import Outcome
from tests.support.local_router import LocalColors, LocalRouter, local_router

__all__ = ["local_router"]  # the fixture, imported to be found here

PLAN = Plan(
    probe_path="/version",
    smoke_paths=("/health",),
    health_path="/ready",
    probe=ProbeSpec(rate=300.0, clients=6, max_seconds=30.0),
    triggers=TriggersSpec(window_ms=1000.0),
    settle_s=0.2,
    baseline_s=0.3,
)
SPEC = CanarySpec(steps=(5, 25, 50, 100), step_s=0.6, max_step_s=1.5, judge=JudgeSpec(min_samples=10))
GOOD = Candidate("good", None, (("APP_VERSION", "2.0.0"),))
SLO = RollbackSLO(max_ms=500.0)


# --------------------------------------------------------------------------- fakes


class StatsSource:
    """A MetricSource over the double's per-color counters (deltas between two marks)."""

    name = "fake-stats"

    def __init__(self, router: LocalRouter) -> None:
        self.router = router
        self.failing = False
        self.marks = 0

    def mark(self) -> Mark:
        self.marks += 1
        if self.failing:
            raise RouterError("athalia: the fake source cannot reach the router")
        return Mark(time.monotonic_ns(), {s.server: (s.requests, s.responses_5xx) for s in self.router.stats()})

    def window(self, start: Mark, end: Mark) -> Mapping[str, ColorWindow]:
        seconds = (end.at_ns - start.at_ns) / 1e9
        return {
            color: ColorWindow(
                color, requests - start.counters[color][0], errors - start.counters[color][1], seconds=seconds
            )
            for color, (requests, errors) in end.counters.items()
        }


def metric(outcome: Outcome, baseline: ColorWindow, canary: ColorWindow) -> MetricJudgement:
    return MetricJudgement(
        "error_rate",
        outcome,
        baseline.error_rate,
        canary.error_rate,
        (baseline.error_rate or 0) + 0.05,
        "fisher-exact",
        2.5,
        0.004,
        baseline.requests,
        canary.requests,
        f"fake judge said {outcome.value}",
    )


@dataclass
class ScriptedJudge:
    """Returns the next outcome of `script` at each call (the last one once the script is used up)."""

    script: Sequence[Outcome]
    calls: list[tuple[ColorWindow, ColorWindow]] = field(default_factory=list)

    def __call__(self, baseline: ColorWindow, canary: ColorWindow, spec: JudgeSpec) -> Judgement:
        self.calls.append((baseline, canary))
        outcome = self.script[min(len(self.calls), len(self.script)) - 1]
        return Judgement(outcome, (metric(outcome, baseline, canary),))


def threshold_judge(baseline: ColorWindow, canary: ColorWindow, spec: JudgeSpec) -> Judgement:
    """Too few samples: inconclusive; the canary's error rate 5 points above the baseline's: fail."""
    if min(baseline.requests, canary.requests) < spec.min_samples:
        outcome = Outcome.INCONCLUSIVE
    elif (canary.error_rate or 0) > (baseline.error_rate or 0) + 0.05:
        outcome = Outcome.FAIL
    else:
        outcome = Outcome.PASS
    return Judgement(outcome, (metric(outcome, baseline, canary),))


@pytest.fixture
def source(local_router: LocalRouter) -> StatsSource:
    return StatsSource(local_router)


def make(
    router: LocalRouter,
    source: StatsSource,
    judge: object,
    *,
    spec: CanarySpec = SPEC,
    **kwargs: object,
) -> Canary:
    return Canary(router, LocalColors(router), PLAN, spec, source, judge=judge, **kwargs)  # type: ignore[arg-type]


def green_weights(router: LocalRouter) -> list[int]:
    return [w for c, w in router.routing.weight_calls if c == "green"]


def assert_restored(router: LocalRouter) -> None:
    assert router.weights() == {"blue": 100, "green": 0}


# --------------------------------------------------------------------------- paths


def test_a_good_candidate_is_promoted_step_by_step(local_router: LocalRouter, source: StatsSource) -> None:
    """Every step passes: green takes 5, 25, 50 and 100 %, each step judged once on both colors' windows."""
    judge = ScriptedJudge([Outcome.PASS])
    canary = make(local_router, source, judge)
    report = canary.release(GOOD)
    assert report.phase is CanaryPhase.PROMOTED
    assert [s.percent for s in report.steps] == [5, 25, 50, 100]
    # deploy sets green to 0 first; then the steps; then the way out restores blue=100, green=0.
    assert green_weights(local_router) == [0, 5, 25, 50, 100, 0]
    assert all(s.outcome is Outcome.PASS and s.judged == 1 for s in report.steps)
    first = judge.calls[0]
    assert first[0].color == "blue"
    assert first[1].color == "green"
    assert first[1].requests > 0
    assert first[1].latencies_ms, "the canary's window carries the probe's latencies"
    assert report.rollback is None
    assert canary_promoted_verdict(report).outcome is Outcome.PASS
    assert canary_post_deploy_verdict(report).outcome is Outcome.NOT_MEASURED  # no hook given
    assert "not watched" in canary_post_deploy_verdict(report).reason
    assert all(v.outcome is Outcome.PASS for v in canary_step_verdicts(report))
    assert [v.check for v in canary_step_verdicts(report)][:2] == [
        "canary_step_5_error_rate",
        "canary_step_25_error_rate",
    ]
    timeline = canary_timeline(report)
    assert [e.event for e in timeline] == [
        "baseline", "deploy", "deployed", "smoke", *["step", "verdict"] * 4, "promote",
    ]  # fmt: skip
    assert [e.detail for e in timeline if e.event == "step"] == [f"{p} % (weight {p})" for p in (5, 25, 50, 100)]
    assert [e.t_s for e in timeline] == sorted(e.t_s for e in timeline)
    assert timeline[0].t_s == 0.0
    assert_restored(local_router)


def test_at_100_percent_the_pre_deploy_watch_is_the_baseline(local_router: LocalRouter, source: StatsSource) -> None:
    """At 100 % blue takes nothing: the judge gets blue's pre-deploy window (the same load alone), not step 50's."""
    judge = ScriptedJudge([Outcome.PASS])
    report = make(local_router, source, judge).release(GOOD)
    assert report.baseline is not None
    last = report.steps[-1]
    assert last.percent == 100
    baseline, _ = judge.calls[-1]
    watched = [s for s in report.baseline.probe.samples if s.status is not None]
    assert baseline.color == "blue"
    assert baseline.requests == len(report.baseline.probe.samples)
    assert len(baseline.latencies_ms) == len(watched)
    assert baseline != report.steps[-2].baseline
    assert "pre-deploy watch" in last.baseline_from


def test_candidate_is_raised_before_the_live_color_is_lowered(local_router: LocalRouter, source: StatsSource) -> None:
    """Each step's two weight changes go candidate first, so at no instant do both colors weigh 0."""
    make(local_router, source, ScriptedJudge([Outcome.PASS])).release(GOOD)
    calls = local_router.routing.weight_calls
    step = calls.index(("green", 100))
    assert calls[step + 1] == ("blue", 0)
    assert calls[-2:] == [("blue", 100), ("green", 0)]


def test_a_step_ends_early_once_both_colors_have_enough_samples(local_router: LocalRouter, source: StatsSource) -> None:
    """With step_s far away, a step ends after the minimum hold once min_samples answers came from each color."""
    spec = CanarySpec(steps=(50, 100), step_s=20.0, max_step_s=30.0, judge=JudgeSpec(min_samples=10))
    started = time.monotonic()
    report = make(local_router, source, ScriptedJudge([Outcome.PASS]), spec=spec).release(GOOD)
    assert report.promoted
    assert time.monotonic() - started < 10
    assert all(1.0 <= s.seconds < 3.0 for s in report.steps)


def test_a_fail_at_step_k_sends_the_candidate_to_zero_at_once(local_router: LocalRouter, source: StatsSource) -> None:
    """Step 25 fails: the live color goes back to 100 and the candidate to 0 in the next router call, timed."""
    judge = ScriptedJudge([Outcome.PASS, Outcome.FAIL])
    report = make(local_router, source, judge).release(GOOD)
    assert report.phase is CanaryPhase.ROLLED_BACK
    assert [s.percent for s in report.steps] == [5, 25]
    calls = local_router.routing.weight_calls
    failed_at = calls.index(("green", 25))
    assert calls[failed_at + 1 :] == [("blue", 75), ("blue", 100), ("green", 0), ("blue", 100), ("green", 0)]
    rb = report.rollback
    assert rb is not None
    assert rb.step == 25
    assert rb.bad_color == "green"
    assert rb.ms is not None, rb.cutover.reason
    assert rb.ms < 500
    assert "error_rate fail" in rb.reason
    assert "fisher-exact statistic 2.5" in rb.reason
    assert "p-value 0.004" in rb.reason
    promoted = canary_promoted_verdict(report)
    assert promoted.outcome is Outcome.FAIL
    assert promoted.measurement.value == 5
    assert "roll back at step 25 %" in promoted.reason
    assert canary_drill_verdict(report, "error_rate").outcome is Outcome.PASS
    assert all(v.outcome is Outcome.PASS for v in canary_rollback_verdicts(report, SLO))
    assert_restored(local_router)


def test_a_bad_candidate_is_caught_at_the_first_step_with_enough_data(
    local_router: LocalRouter, source: StatsSource
) -> None:
    """A candidate failing 40 % of its answers is rolled back at 5 %, the message naming step, metric and values."""
    bad = Candidate("bad", None, (("FAULT_ERROR_RATE", "0.4"),))
    report = make(local_router, source, threshold_judge).release(bad, drill=True)
    assert report.rollback is not None
    assert report.rollback.step == 5
    verdict = canary_drill_verdict(report, "error_rate")
    assert verdict.outcome is Outcome.PASS
    text = verdict.message()
    for part in ("step 5 %", "error_rate", "canary", "baseline", "statistic", "samples"):
        assert part in text, (part, text)
    rolled = canary_timeline(report)[-1]
    assert (rolled.event, rolled.detail.partition(" in ")[0]) == ("rollback", "at 5 %: green -> blue")
    step5 = canary_step_verdicts(report)[0]
    assert step5.check == "canary_step_5_error_rate"
    assert step5.outcome is Outcome.FAIL
    assert step5.measurement.window.startswith("step 5 %, ")  # a short label; the baseline is in the reason
    assert "against baseline" in step5.reason
    assert_restored(local_router)


def test_an_inconclusive_step_is_extended_then_fails_closed(local_router: LocalRouter, source: StatsSource) -> None:
    """Inconclusive every time: the step is judged again until max_step_s, then the candidate goes to 0."""
    judge = ScriptedJudge([Outcome.INCONCLUSIVE])
    report = make(local_router, source, judge).release(GOOD)
    assert report.phase is CanaryPhase.ROLLED_BACK
    (step,) = report.steps
    assert step.judged >= 2
    assert step.extended
    assert SPEC.max_step_s <= step.seconds < SPEC.max_step_s + 1.0
    assert report.rollback is not None
    assert "failed closed" in report.rollback.reason
    assert canary_promoted_verdict(report).outcome is Outcome.INCONCLUSIVE
    assert "fail closed at step 5 %" in report.decision
    assert_restored(local_router)


def test_an_inconclusive_step_that_turns_pass_goes_on(local_router: LocalRouter, source: StatsSource) -> None:
    """Inconclusive once, then pass: the step is extended, not failed."""
    judge = ScriptedJudge([Outcome.INCONCLUSIVE, Outcome.PASS])
    report = make(local_router, source, judge).release(GOOD)
    assert report.promoted
    assert report.steps[0].judged == 2


def test_a_dry_run_judges_every_step_and_moves_no_weight_after_the_first(
    local_router: LocalRouter, source: StatsSource
) -> None:
    """Dry run: green stays at 5 % through all steps, a failure is reported as what would have been done."""
    spec = SPEC.model_copy(update={"dry_run": True})
    judge = ScriptedJudge([Outcome.PASS, Outcome.FAIL, Outcome.PASS])
    report = make(local_router, source, judge, spec=spec).release(GOOD)
    assert report.phase is CanaryPhase.DRY_RUN
    assert [s.percent for s in report.steps] == [5, 25, 50, 100]
    assert {s.weight for s in report.steps} == {5}
    assert green_weights(local_router) == [0, 5, 0, 0]  # deploy, step 1, the dry run's end, the restore
    assert report.rollback is None
    assert report.decision == "dry run: would roll back at step 25 %"
    assert_restored(local_router)


def test_the_metric_source_failing_makes_the_step_inconclusive_and_fail_closed(
    local_router: LocalRouter, source: StatsSource
) -> None:
    """A router being restarted cannot be read: never a pass; the step fails closed at max_step_s."""
    judge = ScriptedJudge([Outcome.PASS])
    canary = make(local_router, source, judge)
    source.failing = True
    report = canary.release(GOOD)
    assert report.phase is CanaryPhase.ROLLED_BACK
    assert judge.calls == []
    (step,) = report.steps
    assert "could not tell" in step.note
    assert canary_step_verdicts(report)[0].outcome is Outcome.INCONCLUSIVE
    assert_restored(local_router)


def test_a_window_where_the_live_color_fails_is_inconclusive(local_router: LocalRouter, source: StatsSource) -> None:
    """A dead database fails both colors: the judge's pass is overruled, the canary fails closed."""
    canary = make(local_router, source, ScriptedJudge([Outcome.PASS]))
    # Both colors fail 60 % of their answers once the canary is deployed (blue's baseline watch was clean).
    original = canary.bluegreen.deploy

    def deploy_and_break(candidate: Candidate) -> float:
        seconds = original(candidate)
        local_router.routing.colors["blue"].error_rate = 0.6
        local_router.routing.colors["green"].error_rate = 0.6
        return seconds

    canary.bluegreen.deploy = deploy_and_break  # type: ignore[method-assign]
    report = canary.release(Candidate("good", None, ()), drill=True)
    assert report.phase is CanaryPhase.ROLLED_BACK
    assert "the live version fails too" in report.steps[0].note
    assert report.rollback is not None
    assert "failed closed" in report.rollback.reason


def test_an_exception_still_restores_the_router_and_clears_the_fault(
    local_router: LocalRouter, source: StatsSource
) -> None:
    """A judge that raises: the error propagates, blue=100 green=0 and the injected fault is cleared."""

    def broken(baseline: ColorWindow, canary: ColorWindow, spec: JudgeSpec) -> Judgement:
        raise NotImplementedError("the judge is not merged yet")

    faults = FakeFaultInjector()
    canary = make(local_router, source, broken, faults=faults)
    with pytest.raises(NotImplementedError):
        canary.release(Candidate("bad", fault=Fault(error_ratio=0.05)), drill=True)
    assert [h.server for h in faults.history] == ["green", "*"]
    assert faults.active == {}
    assert_restored(local_router)
    canary.reset()
    assert canary.phase is CanaryPhase.IDLE


def test_the_post_deploy_hook_runs_after_100_percent_and_a_breach_rolls_back(
    local_router: LocalRouter, source: StatsSource
) -> None:
    """The hook gets the promoted candidate with the pre-deploy baseline; its breach sends green back to 0."""
    seen: list[Promoted] = []

    @dataclass(frozen=True)
    class Breach:
        breached: bool = True
        outcome: Outcome = Outcome.FAIL
        checks: int = 4
        seconds: float = 3.5
        reason: str = "error_rate beyond its limit"

        def describe(self) -> str:
            return "errors +12 % against the pre-deploy baseline"

    def hook(promoted: Promoted) -> Breach:
        seen.append(promoted)
        return Breach()

    report = make(local_router, source, ScriptedJudge([Outcome.PASS]), post_deploy=hook).release(GOOD)
    (promoted,) = seen
    assert promoted.color == "green"
    assert promoted.baseline.color == "blue"
    assert promoted.baseline.requests > 0
    assert report.phase is CanaryPhase.ROLLED_BACK
    assert report.rollback is not None
    assert report.rollback.step == 100
    assert "errors +12 %" in report.decision
    assert canary_promoted_verdict(report).outcome is Outcome.FAIL
    watched = canary_post_deploy_verdict(report)
    assert (watched.outcome, watched.measurement.value, watched.measurement.samples) == (Outcome.FAIL, 1.0, 4)
    assert watched.reason == "error_rate beyond its limit"
    assert_restored(local_router)


def test_release_twice_without_reset_is_refused(local_router: LocalRouter, source: StatsSource) -> None:
    """A finished canary must be reset before the next release."""
    canary = make(local_router, source, ScriptedJudge([Outcome.PASS]), spec=SPEC.model_copy(update={"steps": (100,)}))
    canary.release(GOOD)
    with pytest.raises(RolloutError, match="call reset"):
        canary.release(GOOD)


def test_a_failed_deploy_moves_no_traffic(local_router: LocalRouter, source: StatsSource) -> None:
    """The deploy check stops the canary; step and rollback checks are not measured."""
    canary = Canary(
        local_router, LocalColors(local_router, deploy_error="no image"), PLAN, SPEC, source, judge=threshold_judge
    )
    report = canary.release(GOOD)
    assert report.phase is CanaryPhase.FAILED
    assert report.stop is not None
    assert report.stop.check == "deploy"
    assert not report.steps
    outcomes = {v.check: v.outcome for v in before_traffic_verdicts(report, 120.0)}
    assert outcomes["deploy"] is Outcome.FAIL
    assert outcomes["baseline"] is Outcome.PASS
    assert canary_promoted_verdict(report).outcome is Outcome.NOT_MEASURED
    assert_restored(local_router)


# --------------------------------------------------------------------------- pure parts


def test_live_breach_only_above_the_trigger_with_enough_samples() -> None:
    """The live color's error rate above the trigger's limit, on enough samples, makes a window say nothing."""
    assert live_breach(ColorWindow("blue", 100, 30), 0.05, 50).startswith("the live version fails too: 30 errors")
    assert live_breach(ColorWindow("blue", 100, 5), 0.05, 50) == ""
    assert live_breach(ColorWindow("blue", 20, 20), 0.05, 50) == ""


def test_step_figures_name_every_step(local_router: LocalRouter, source: StatsSource) -> None:
    """Each step's seconds and samples per color are recorded, with stable names."""
    report = make(local_router, source, ScriptedJudge([Outcome.PASS, Outcome.FAIL])).release(GOOD)
    names = [name for name, *_ in step_figures(report)]
    assert "canary_step_5_seconds" in names
    assert "canary_step_25_canary_requests" in names
    assert "canary_detection_s" in names
    assert "canary_detected_step" in names
