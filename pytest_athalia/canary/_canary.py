"""Canary releases: the candidate takes 5 → 25 → 50 → 100 % of the traffic, each step judged first.

::

    idle → baseline → deploying → smoke-testing → stepping ─┬─→ promoted ──(post-deploy breach)──→ rolling back
              │            │             │                  ├─→ rolling back → rolled back
              │            └─────────────┴──→ failed        └─→ dry run
              └──→ inconclusive (the live version already fails)

Baseline, deploy and smoke test are :class:`~pytest_athalia.release._bluegreen.BlueGreen`'s, run by the
one it holds. Then, for each step ``w``, the weights become candidate=w, live=100-w in one
:func:`~pytest_athalia.release._router.apply_weights` call (the candidate raised first, so both never
weigh 0), under the release's traffic probe. A step holds ``step_s``, or ends early once both colors have
``judge.min_samples`` probe answers (after at least ``MIN_HOLD_S``). Its window (two marks of the metric
source, with the probe's latencies per color) is judged: canary against baseline, same window.

- **pass**: the next step; after 100 %, the post-deploy hook (when there is one).
- **inconclusive**: the step goes on and is judged again every ``RECHECK_S`` until ``max_step_s``,
  then it fails closed. A window in which the live color itself breaches the error-rate trigger is
  inconclusive whatever the judge says: a dead database fails both colors alike.
- **fail**: the candidate's weight goes to 0 at once (the live color's to 100 first), timed from the
  probe's samples as blue-green's rollback is (:func:`~pytest_athalia.release._timing.cutover`).

With ``dry_run``, every step is judged but no weight moves after the first, and the report says what
would have been decided. Every way out of :meth:`Canary.release` (exceptions too) leaves the router at
blue=100, green=0 with no fault injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from .._errors import AthaliaError, RolloutError, RouterError
from ..config._canary import CanarySpec, JudgeSpec
from ..release._bluegreen import BlueGreen, start_probe
from ..release._faults import FaultInjector
from ..release._release import BaselineReport, Candidate, Phase, Plan, Stop
from ..release._router import COLORS, INITIAL_WEIGHTS, Color, ColorStack, Router, apply_weights
from ..release._timing import cutover, failed_between
from ..release._traffic import Clock, ProbeSample, TrafficProbe
from ..report._slo import Outcome
from ._judge import Judgement
from ._judge import judge as default_judge
from ._metrics import ColorWindow, Mark, MetricSource, latencies_by_color
from ._report import CanaryPhase, CanaryReport, CanaryRollback, PostDeployResult, StepReport, describe_metric

__all__ = ["MIN_HOLD_S", "RECHECK_S", "Canary", "JudgeFunction", "PostDeployHook", "Promoted", "live_breach"]

JudgeFunction = Callable[[ColorWindow, ColorWindow, JudgeSpec], Judgement]

MIN_HOLD_S = 1.0  # a step never ends sooner, even with enough samples: a burst is not a trend
RECHECK_S = 0.5  # an inconclusive step is judged again this often, until max_step_s
POLL_S = 0.05  # how often a holding step counts its samples

_NEXT: Mapping[CanaryPhase, frozenset[CanaryPhase]] = {
    CanaryPhase.IDLE: frozenset({CanaryPhase.BASELINE}),
    CanaryPhase.BASELINE: frozenset({CanaryPhase.DEPLOYING, CanaryPhase.INCONCLUSIVE, CanaryPhase.FAILED}),
    CanaryPhase.DEPLOYING: frozenset({CanaryPhase.SMOKE_TESTING, CanaryPhase.FAILED}),
    CanaryPhase.SMOKE_TESTING: frozenset({CanaryPhase.STEPPING, CanaryPhase.FAILED, CanaryPhase.INCONCLUSIVE}),
    CanaryPhase.STEPPING: frozenset(
        {CanaryPhase.PROMOTED, CanaryPhase.ROLLING_BACK, CanaryPhase.DRY_RUN, CanaryPhase.FAILED}
    ),
    CanaryPhase.PROMOTED: frozenset({CanaryPhase.ROLLING_BACK}),
    CanaryPhase.ROLLING_BACK: frozenset({CanaryPhase.ROLLED_BACK, CanaryPhase.FAILED}),
    CanaryPhase.ROLLED_BACK: frozenset(),
    CanaryPhase.DRY_RUN: frozenset(),
    CanaryPhase.FAILED: frozenset(),
    CanaryPhase.INCONCLUSIVE: frozenset(),
}


@dataclass(frozen=True)
class Promoted:
    """What the post-deploy hook watches: the candidate at 100 %, the pre-deploy baseline and the tools."""

    candidate: Candidate
    color: Color
    previous: Color
    baseline: ColorWindow  # the live color before the deploy (the baseline watch's probe answers)
    source: MetricSource
    router: Router
    probe: TrafficProbe  # still running: latencies per color for the monitor's windows
    clock: Clock


# ---------------------------------------------------------------------------------------------------
# POST-DEPLOY HOOK: `canary/_monitor.py`'s PostDeployMonitor plugs in here (the fixture passes it as
# `post_deploy=`). Called once after 100 % passed; a breached result rolls the candidate back.
PostDeployHook = Callable[[Promoted], PostDeployResult]
# ---------------------------------------------------------------------------------------------------


def live_breach(baseline: ColorWindow, max_ratio: float, min_samples: int) -> str:
    """Why a window says nothing of the candidate because the live color fails on its own ("" if it does not).

    Pure: the live color's error rate over the window against the error-rate trigger's limit.
    """
    rate = baseline.error_rate
    if rate is None or baseline.requests < min_samples or rate <= max_ratio:
        return ""
    return (
        f"the live version fails too: {baseline.errors} errors of {baseline.requests} requests on {baseline.color} "
        f"({rate:.1%} > {max_ratio:.1%}, rollout.triggers.error_rate.max_ratio), so the difference says nothing"
    )


def _window_from_probe(color: Color, samples: tuple[ProbeSample, ...], seconds: float) -> ColorWindow:
    answered = [s for s in samples if s.status is not None]
    errors = sum(1 for s in samples if not s.ok)
    return ColorWindow(color, len(samples), errors, tuple(s.latency_ms for s in answered), seconds)


class Canary:
    """Drives one canary release at a time through `router`, `colors` and `source`; see the module docstring."""

    def __init__(
        self,
        router: Router,
        colors: ColorStack,
        plan: Plan,
        spec: CanarySpec,
        source: MetricSource,
        *,
        judge: JudgeFunction = default_judge,
        post_deploy: PostDeployHook | None = None,
        say: Callable[[str], None] = lambda _: None,
        faults: FaultInjector | None = None,
    ) -> None:
        # The probe must outlive every step held to its maximum, and the baseline, deploy and settling.
        bound = min(600.0, len(spec.steps) * spec.max_step_s + 30.0)
        self.plan = replace(
            plan, probe=plan.probe.model_copy(update={"max_seconds": max(plan.probe.max_seconds, bound)})
        )
        self.bluegreen = BlueGreen(router, colors, self.plan, say=say, faults=faults)
        self.router = router
        self.spec = spec
        self.source = source
        self.judge = judge
        self.post_deploy = post_deploy
        self.phase = CanaryPhase.IDLE
        self.history: list[CanaryPhase] = [CanaryPhase.IDLE]
        self._say = say
        self._clock: Clock = time.monotonic_ns
        self._faulted = False
        self._mark_error = ""

    @property
    def faults(self) -> FaultInjector | None:
        return self.bluegreen.faults

    # -- transitions ----------------------------------------------------------------------------------
    def _to(self, phase: CanaryPhase) -> None:
        if phase not in _NEXT[self.phase]:
            allowed = ", ".join(sorted(p.value for p in _NEXT[self.phase])) or "none (call reset())"
            raise RolloutError(
                f"athalia: a canary cannot go from {self.phase.value} to {phase.value}; from {self.phase.value} it "
                f"can go to: {allowed}. Call reset() to start again from idle."
            )
        self.phase = phase
        self.history.append(phase)

    def reset(self) -> None:
        """Blue live at weight 100, green idle at weight 0, no fault, phase idle; from any phase."""
        self.bluegreen.reset()
        self._clear_faults(quiet=False)
        self.phase = CanaryPhase.IDLE
        self.history = [CanaryPhase.IDLE]

    # -- the whole release ------------------------------------------------------------------------------
    def release(self, candidate: Candidate, *, drill: bool = False) -> CanaryReport:
        """Baseline, deploy, smoke test, then the steps; see the module docstring.

        A `drill` (a candidate bad on purpose) is smoke-tested on ``plan.drill_smoke_paths`` only, so the
        judge, not the smoke test, must catch it. The router is back at blue=100, green=0 afterwards.
        """
        if self.phase is not CanaryPhase.IDLE:
            raise RolloutError(
                f"athalia: release() needs an idle canary, this one is {self.phase.value}; call reset()."
            )
        if candidate.fault is not None and self.faults is None:
            raise RolloutError(
                f"athalia: the drill {candidate.describe()} needs a router that injects faults, and "
                f"{type(self.router).__name__} does not (no inject/clear). Use the built-in router (rollout.enabled: "
                "true), or drill with the app's own faults (rollout.drills.<name>.env) instead of fault:."
            )
        try:
            report = self._release(candidate, drill=drill)
        except BaseException as exc:
            try:
                self._restore()
            except RolloutError as again:
                exc.add_note(str(again))  # the first error says more; this one says what is left
            raise
        self._restore()
        return report

    def _release(self, candidate: Candidate, *, drill: bool) -> CanaryReport:
        bg, plan = self.bluegreen, self.plan
        live, color = bg.live, bg.idle
        base = CanaryReport(candidate, color, live, self.phase, dry_run=self.spec.dry_run, source=self.source.name)
        self._to(CanaryPhase.BASELINE)
        self._say(f"watching {live} (live) for {plan.baseline_s:g} s through {plan.probe_entry} before the canary")
        baseline = bg.watch_live(plan)
        base = replace(base, baseline=baseline)
        if baseline.fired is not None:
            self._to(CanaryPhase.INCONCLUSIVE)
            message = (
                f"the live version already fails: {baseline.fired.describe()} on {live} before anything was deployed"
            )
            return replace(base, phase=self.phase, error=message, stop=Stop("baseline", True, message))
        self._to(CanaryPhase.DEPLOYING)
        try:
            deploy_seconds = bg.deploy(candidate)
        except RolloutError as exc:
            self._to(CanaryPhase.FAILED)
            return replace(base, phase=self.phase, error=str(exc), stop=Stop("deploy", False, str(exc)))
        self._to(CanaryPhase.SMOKE_TESTING)
        smoke = bg.smoke_test((plan.drill_smoke_paths or None) if drill else None)
        base = replace(base, deploy_seconds=deploy_seconds, smoke=smoke)
        if not smoke.passed:
            inconclusive = bg.phase is Phase.INCONCLUSIVE
            self._to(CanaryPhase.INCONCLUSIVE if inconclusive else CanaryPhase.FAILED)
            failed = "; ".join(r.detail for r in smoke.results if not r.ok)
            message = (
                f"the live version already fails: {failed}"
                if inconclusive
                else f"the smoke test of {color} stopped the canary before any traffic moved: {failed}"
            )
            return replace(base, phase=self.phase, error=message, stop=Stop("smoke", inconclusive, message))
        self._to(CanaryPhase.STEPPING)
        probe = start_probe(plan, self.router, self._clock)
        try:
            self._inject_fault(candidate, color)
            report = self._steps(probe, replace(base, phase=self.phase), baseline)
        except BaseException:
            probe.stop()
            raise
        log = probe.stop()
        rollback = report.rollback
        if rollback is not None:
            rollback = self._time_rollback(log.samples, rollback)
        return replace(report, phase=self.phase, probe=log, rollback=rollback)

    def _steps(self, probe: TrafficProbe, base: CanaryReport, baseline: BaselineReport) -> CanaryReport:
        live, color = base.previous, base.color
        steps: list[StepReport] = []
        # At 100 % the live color takes nothing: its pre-deploy watch stands in, when it carried the same load
        # alone (a step's window at 50 % would compare one container at full load with one at half).
        reference = _window_from_probe(live, baseline.probe.samples, baseline.seconds)
        first_ns = self._clock()
        weight = self.spec.steps[0]
        for index, percent in enumerate(self.spec.steps):
            if index == 0 or not self.spec.dry_run:
                weight = percent
                self._set_weights(color, weight, live)
            if index == 0:
                first_ns = self._clock()
            self._say(
                f"canary step {percent} %: {color}={weight}, {live}={100 - weight}"
                + (" (dry run: weights as in the first step)" if self.spec.dry_run and index else "")
            )
            step = self._hold(probe, percent, weight, color, live, reference)
            steps.append(step)
            self._say(
                f"step {percent} % {step.outcome.value} after {step.seconds:.1f} s "
                f"({step.canary_samples} canary / {step.baseline_samples} baseline requests)"
            )
            if step.outcome is Outcome.PASS or self.spec.dry_run:
                continue
            self._to(CanaryPhase.ROLLING_BACK)
            rollback = self._roll_back(probe, step, first_ns, live, color)
            self._to(CanaryPhase.ROLLED_BACK)
            self._say(f"rolled back {color} → {live} at step {percent} %: {rollback.reason}")
            return replace(base, steps=tuple(steps), rollback=rollback)
        if self.spec.dry_run:
            self._set_weights(live, 100, color)  # the dry run's end: the candidate back to 0
            self._to(CanaryPhase.DRY_RUN)
            return replace(base, steps=tuple(steps))
        self._to(CanaryPhase.PROMOTED)
        report = replace(base, steps=tuple(steps))
        if self.post_deploy is None:
            return report
        result = self.post_deploy(
            Promoted(
                base.candidate,
                color,
                live,
                _window_from_probe(live, baseline.probe.samples, baseline.seconds),
                self.source,
                self.router,
                probe,
                self._clock,
            )
        )
        report = replace(report, post_deploy=result)
        if result.breached:
            self._to(CanaryPhase.ROLLING_BACK)
            last = steps[-1]
            rollback = self._roll_back(probe, last, first_ns, live, color, reason=result.describe())
            self._to(CanaryPhase.ROLLED_BACK)
            report = replace(report, rollback=rollback)
        return report

    # -- one step ---------------------------------------------------------------------------------------------
    def _hold(
        self, probe: TrafficProbe, percent: int, weight: int, color: Color, live: Color, reference: ColorWindow
    ) -> StepReport:
        spec = self.spec
        start = self._mark()
        started = start.at_ns if start is not None else self._clock()
        hold_until = started + int(spec.step_s * 1e9)
        max_until = started + int(spec.max_step_s * 1e9)
        min_until = started + int(min(MIN_HOLD_S, spec.step_s) * 1e9)
        next_judge = started
        judged = 0
        while True:
            now = self._clock()
            final = now >= max_until or not probe.running
            enough = now >= min_until and self._enough(probe, started, now, (color,) if weight >= 100 else COLORS)
            due = now >= next_judge and (now >= hold_until or enough)
            if due or final:
                if start is None:  # the source could not tell at the step's start: this window starts now
                    start = self._mark()
                step = self._judge(
                    probe, percent, weight, (color, live), reference, start, started, judged + 1, now > hold_until
                )
                judged += 1
                if step.outcome is not Outcome.INCONCLUSIVE or final:
                    return step
                next_judge = self._clock() + int(RECHECK_S * 1e9)
            time.sleep(POLL_S)

    def _enough(self, probe: TrafficProbe, start_ns: int, now_ns: int, colors: tuple[Color, ...]) -> bool:
        counts = latencies_by_color(probe.recent(start_ns), start_ns, now_ns)
        need = self.spec.judge.min_samples
        return all(len(counts.get(c, ())) >= need for c in colors)

    def _judge(
        self,
        probe: TrafficProbe,
        percent: int,
        weight: int,
        colors: tuple[Color, Color],
        reference: ColorWindow,
        start: Mark | None,
        started: int,
        judged: int,
        extended: bool,
    ) -> StepReport:
        color, live = colors
        end = self._mark()
        ended = end.at_ns if end is not None else self._clock()
        if start is None or end is None:
            note = f"the metric source ({self.source.name}) could not tell: {self._mark_error}"
            return StepReport(
                percent, weight, started, ended, None, None, Judgement(Outcome.INCONCLUSIVE, ()), judged, extended, note
            )
        try:
            windows = self.source.window(start, end)
        except RouterError as exc:
            note = f"the metric source ({self.source.name}) could not tell: {exc}"
            return StepReport(
                percent, weight, started, ended, None, None, Judgement(Outcome.INCONCLUSIVE, ()), judged, extended, note
            )
        latencies = latencies_by_color(probe.recent(start.at_ns), start.at_ns, end.at_ns)
        seconds = (end.at_ns - start.at_ns) / 1e9

        probed = [s for s in probe.recent(start.at_ns) if start.at_ns <= s.start_ns < end.at_ns]

        def window(c: Color) -> ColorWindow:
            found = windows.get(c) or ColorWindow(c, 0, 0)
            # The probe's own answers are a floor: the router's drill faults rewrite statuses after HAProxy's
            # per-server counters, so a source may not see errors the probe was answered with.
            mine = [s for s in probed if s.color == c]
            requests, errors = max(found.requests, len(mine)), max(found.errors, sum(1 for s in mine if not s.ok))
            return replace(
                found,
                requests=requests,
                errors=errors,
                latencies_ms=latencies.get(c, ()),
                seconds=found.seconds or seconds,
            )

        canary, baseline, baseline_from = window(color), window(live), ""
        if weight >= 100:
            baseline = reference
            baseline_from = (
                f"{live} takes no traffic at 100 %: its pre-deploy watch ({reference.seconds:.1f} s at the same load) "
                "stands in"
            )
        judgement = self.judge(baseline, canary, self.spec.judge)
        error_rate = self.plan.triggers.error_rate
        note = live_breach(baseline, error_rate.max_ratio, error_rate.min_samples) if error_rate.enabled else ""
        if note and judgement.outcome is not Outcome.INCONCLUSIVE:
            judgement = Judgement(Outcome.INCONCLUSIVE, judgement.metrics)
        return StepReport(
            percent, weight, started, ended, canary, baseline, judgement, judged, extended, note, baseline_from
        )

    def _mark(self) -> Mark | None:
        # A router being restarted cannot be read: the step is then inconclusive, never a pass.
        try:
            return self.source.mark()
        except AthaliaError as exc:
            self._mark_error = str(exc)
            return None

    # -- weights, rollback, faults ------------------------------------------------------------------------------
    def _set_weights(self, raised: Color, weight: int, lowered: Color) -> None:
        try:
            # The raised color first: at no instant do both colors weigh 0.
            apply_weights(self.router, ((raised, weight), (lowered, 100 - weight)))
        except RouterError as exc:
            self._to(CanaryPhase.FAILED)
            raise RolloutError(
                f"athalia: setting {raised}={weight}, {lowered}={100 - weight} on the router failed ({exc}); the "
                "canary stopped and the router is being restored to blue=100, green=0. Check the router's log."
            ) from exc

    def _roll_back(
        self, probe: TrafficProbe, step: StepReport, first_ns: int, live: Color, color: Color, *, reason: str = ""
    ) -> CanaryRollback:
        asked = self._clock()
        try:
            apply_weights(self.router, ((live, 100), (color, 0)))  # the live color first: never both at 0
        except RouterError as exc:
            self._to(CanaryPhase.FAILED)
            raise RolloutError(
                f"athalia: rolling the canary back at step {step.percent} % failed ({exc}); the router is being "
                "restored to blue=100, green=0. Check the router's log."
            ) from exc
        done = self._clock()
        self._clear_faults(quiet=True)
        self._settle(probe, done)
        if not reason:
            failing = step.failing
            reason = describe_metric(failing) if failing is not None and step.outcome is Outcome.FAIL else ""
            if not reason:
                why = step.note or (describe_metric(failing) if failing is not None else "no metric could be judged")
                limit = f"max_step_s {self.spec.max_step_s:g}"
                reason = f"inconclusive after {step.seconds:.1f} s ({limit}), failed closed: {why}"
        empty = cutover((), from_color=color, since_ns=asked, weights_ns=done, min_after=0)
        return CanaryRollback(step.percent, color, live, asked, done, empty, (), 0, (asked - first_ns) / 1e9, reason)

    def _settle(self, probe: TrafficProbe, after_ns: int) -> None:
        # Long enough to show the cutover: settle_s, and at least min_after requests after it (bounded).
        plan = self.plan
        deadline = time.monotonic() + plan.settle_s + 2.0
        until = after_ns + int(plan.settle_s * 1e9)
        while time.monotonic() < deadline and probe.running:
            if self._clock() >= until and len(probe.recent(after_ns)) >= plan.min_after * 2:
                return
            time.sleep(0.01)

    def _time_rollback(self, samples: tuple[ProbeSample, ...], rollback: CanaryRollback) -> CanaryRollback:
        cut = cutover(
            samples,
            from_color=rollback.bad_color,
            since_ns=rollback.asked_ns,
            weights_ns=rollback.weights_ns,
            min_after=self.plan.min_after,
        )
        end = max((s.start_ns for s in samples), default=cut.at_ns)
        failed = failed_between(samples, rollback.asked_ns, end, exclude_color=rollback.bad_color)
        requests = sum(1 for s in samples if rollback.asked_ns <= s.start_ns <= end)
        return replace(rollback, cutover=cut, failed=failed, requests=requests)

    def _inject_fault(self, candidate: Candidate, color: Color) -> None:
        if candidate.fault is None or self.faults is None:
            return
        self._faulted = True  # set first: a fault half-applied must be cleared too
        try:
            self.faults.inject(color, candidate.fault)
        except RouterError as exc:
            self._to(CanaryPhase.FAILED)
            raise RolloutError(
                f"athalia: could not inject the drill's router fault ({candidate.fault.describe()}) into {color} "
                f"({exc}); no traffic moved."
            ) from exc

    def _clear_faults(self, *, quiet: bool) -> None:
        if not self._faulted or self.faults is None:
            return
        try:
            self.faults.clear()
        except RouterError as exc:
            if quiet:  # _restore() and reset() try again
                return
            raise RolloutError(
                f"athalia: could not clear the drill's router faults ({exc}); the next release would inherit them. "
                "Check the router container's log."
            ) from exc
        self._faulted = False

    def _restore(self) -> None:
        """blue=100, green=0 and no fault, however the release ended; retried while the router restarts."""
        deadline = time.monotonic() + RESTORE_S
        while True:
            try:
                apply_weights(self.router, tuple(INITIAL_WEIGHTS.items()))
                self._clear_faults(quiet=False)
                self.bluegreen.live = COLORS[0]
                return
            except AthaliaError as exc:
                if time.monotonic() >= deadline:
                    weights = ", ".join(f"{c}={w}" for c, w in INITIAL_WEIGHTS.items())
                    raise RolloutError(
                        f"athalia: could not restore {weights} with no fault on the router within {RESTORE_S:g} s "
                        f"after the canary ({exc}). The next test would start from an unknown state; check the "
                        "router container's log."
                    ) from exc
                time.sleep(0.2)


RESTORE_S = 15.0  # a restarted router answers again within a few seconds
