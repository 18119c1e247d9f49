"""Blue-green releases: the rollout's state machine, driven through a :class:`Router` and a color stack.

::

    idle → baseline → deploying → smoke-testing → switching → live → rolling back → rolled back
              │            │             │    │            │                      │
              │            └─────────────┴────┼────────────┴──────────────────────┴──→ failed
              └───────────────────────────────┴──→ inconclusive (the live version already fails)

``reset()`` returns from any state to idle with blue live (weight 100) and green idle (weight 0).
Any other transition raises :class:`~pytest_athalia._errors.RolloutError`.

First the live version is watched (``baseline``) by the probe and the health triggers: if it already
breaches one, nothing is deployed and the release is inconclusive. The candidate goes to the idle
color (``deploy_color`` recreates only that service), is smoke-tested directly on every judged path
beside the live color (bypassing the router), and takes all traffic in two weight changes: the
candidate's weight to 100 first, then the old color's to 0, so at no instant both weigh 0 (which
would make the router answer 503). Both go in one round trip where the router can
(:func:`~pytest_athalia.release._router.apply_weights`). While it is live, a
:class:`~pytest_athalia.release._traffic.TrafficProbe` and the pollers of :mod:`pytest_athalia.release._signals` feed
the triggers of :mod:`pytest_athalia.release._triggers`; when one fires the rollout rolls back at once, the
same two changes in the other direction. Times come from the probe's request timestamps
(:mod:`pytest_athalia.release._timing`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from .. import _http
from .._errors import AthaliaError, RolloutError, RouterError
from ..config._rollout import ExternalTrigger, TriggersSpec
from ._faults import FaultInjector
from ._release import (
    BaselineReport,
    Candidate,
    Phase,
    Plan,
    ReleaseReport,
    RollbackReport,
    SmokeReport,
    SmokeResult,
    Stop,
    SwitchReport,
)
from ._router import (
    COLORS,
    INITIAL_WEIGHTS,
    Color,
    ColorStack,
    Relocatable,
    Router,
    apply_weights,
    wait_until_serving,
)
from ._signals import Poller, external_check, http_check, router_status_check
from ._smoke import judge_path
from ._timing import cutover, detection_ms, failed_between, stray_after
from ._traffic import Clock, ProbeLog, ProbeSample, TrafficProbe
from ._triggers import CheckSample, TriggerResult, evaluate_triggers

__all__ = ["BlueGreen", "start_probe"]


_NEXT: Mapping[Phase, frozenset[Phase]] = {
    Phase.IDLE: frozenset({Phase.BASELINE, Phase.DEPLOYING}),
    Phase.BASELINE: frozenset({Phase.DEPLOYING, Phase.INCONCLUSIVE}),
    Phase.DEPLOYING: frozenset({Phase.SMOKE_TESTING, Phase.FAILED}),
    Phase.SMOKE_TESTING: frozenset({Phase.SWITCHING, Phase.FAILED, Phase.INCONCLUSIVE}),
    Phase.SWITCHING: frozenset({Phase.LIVE, Phase.FAILED}),
    Phase.LIVE: frozenset({Phase.ROLLING_BACK}),
    Phase.ROLLING_BACK: frozenset({Phase.ROLLED_BACK, Phase.FAILED}),
    Phase.ROLLED_BACK: frozenset(),
    Phase.FAILED: frozenset(),
    Phase.INCONCLUSIVE: frozenset(),
}


@dataclass
class _Watch:
    """What is running while the candidate is live."""

    probe: TrafficProbe
    color: Color
    since_ns: int = 0  # set to the end of the switch's router calls
    health: list[Poller] = field(default_factory=list)
    external: Poller | None = None

    def health_checks(self) -> tuple[CheckSample, ...]:
        return tuple(c for p in self.health for c in p.samples())

    def external_checks(self) -> tuple[CheckSample, ...]:
        return self.external.samples() if self.external is not None else ()

    @property
    def pollers(self) -> tuple[Poller, ...]:
        return (*self.health, *([self.external] if self.external else []))

    def stop(self) -> ProbeLog:
        for poller in self.pollers:
            poller.stop()
        return self.probe.stop()


def _without_external(plan: Plan) -> TriggersSpec:
    return plan.triggers.model_copy(update={"external": ExternalTrigger()})


def _breach(baseline: BaselineReport) -> str:
    """The trigger that fired on the live version: name, measured value, threshold and samples."""
    fired = baseline.fired
    assert fired is not None
    return (
        f"{fired.describe()} on {baseline.color} before anything was deployed ({baseline.failed} failed of "
        f"{baseline.probe.count} probe requests). The release was not judged: fix the live version, or the path "
        "the rehearsal watches (rollout.probe.path, rollout.triggers.health.path), then run again"
    )


_COMPOSE_SAID = "compose said:\n"
_LOGS_HINT = re.compile(r"\(docker compose -p \S+ logs \S+\)")


def _deploy_error(candidate: Candidate, color: Color, exc: AthaliaError) -> str:
    """One paragraph: the candidate, where its image and settings came from, the fix; then compose's output once."""
    text = str(exc).removeprefix("athalia: ")
    head, said, tail = text.partition(_COMPOSE_SAID)
    # The stack's own advice names the environment file; the candidate knows where it really came from.
    cause = head.split(" Check the candidate's", 1)[0].strip().rstrip(".")
    logs = _LOGS_HINT.search(head)
    source = candidate.source or candidate.name
    message = (
        f"athalia: deploying {candidate.describe()} to {color} failed: {cause}. The candidate takes {source}: "
        "check them there" + (f", and the service's log {logs.group(0)}" if logs else "") + "."
    )
    return message + (f"\n{_COMPOSE_SAID}{tail.strip()}" if said else "")


def _locator(plan: Plan, router: Router) -> Callable[[], str] | None:
    """Where the probe's URL is now, for a router whose published ports can move (restarted)."""
    if not isinstance(router, Relocatable):
        return None

    def locate() -> str:
        router.relocate()
        return plan.probe_url(router.url())

    return locate


def start_probe(plan: Plan, router: Router, clock: Clock, *, warm_up: bool = True) -> TrafficProbe:
    """The plan's probe, started through its entry (`router` unless ``plan.probe_base``), on `clock`.

    With `warm_up`, it returns once each client has sent a couple of requests (at most 2 s), so a
    weight change that follows is seen from both sides. Shared by blue-green and canary releases.
    """
    spec = plan.probe
    probe = TrafficProbe(
        plan.probe_url(router.url()),
        rate=spec.rate,
        clients=spec.clients,
        timeout_s=spec.timeout_ms / 1000,
        max_seconds=spec.max_seconds,
        clock=clock,
        locate=_locator(plan, router),
    ).start()
    deadline = time.monotonic() + (2.0 if warm_up else 0.0)
    while probe.count() < 2 * spec.clients and time.monotonic() < deadline:
        time.sleep(0.01)
    return probe


class BlueGreen:
    """Drives one blue-green release at a time through `router` and `colors`; see the module docstring."""

    def __init__(
        self,
        router: Router,
        colors: ColorStack,
        plan: Plan,
        *,
        say: Callable[[str], None] = lambda _: None,
        faults: FaultInjector | None = None,
    ) -> None:
        self.router = router
        # Drills with a router fault (Candidate.fault); HAProxyRouter is one.
        self.faults = faults if faults is not None else router if isinstance(router, FaultInjector) else None
        self._faulted = False
        self.colors = colors
        self.plan = plan
        self.live: Color = COLORS[0]
        self.phase = Phase.IDLE
        self.history: list[Phase] = [Phase.IDLE]
        self._clock: Clock = time.monotonic_ns  # the probe's clock: every timestamp of a release on one clock
        self._say = say
        self._smoke: SmokeReport | None = None
        self._bases: dict[Color, str] = {}  # each color's own address, asked once per deploy

    @property
    def idle(self) -> Color:
        return COLORS[1] if self.live == COLORS[0] else COLORS[0]

    # -- transitions ----------------------------------------------------------------------------------
    def _to(self, phase: Phase) -> None:
        if phase not in _NEXT[self.phase]:
            allowed = ", ".join(sorted(p.value for p in _NEXT[self.phase])) or "none (call reset())"
            raise RolloutError(
                f"athalia: a rollout cannot go from {self.phase.value} to {phase.value}; from {self.phase.value} "
                f"it can go to: {allowed}. The order is idle → (baseline →) deploying → smoke-testing → switching → "
                "live → rolling back → rolled back; call reset() to start again from idle."
            )
        self.phase = phase
        self.history.append(phase)

    def _fail(self, message: str, exc: BaseException | None = None) -> RolloutError:
        if Phase.FAILED in _NEXT[self.phase]:
            self._to(Phase.FAILED)
        detail = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
        return RolloutError(f"athalia: {message}{detail}")

    def reset(self) -> None:
        """Blue live at weight 100, green idle at weight 0, phase idle; from any phase."""
        try:
            # In INITIAL_WEIGHTS' order, blue (100) first: at no instant do both colors weigh 0.
            apply_weights(self.router, tuple(INITIAL_WEIGHTS.items()))
        except RouterError as exc:
            weights = ", ".join(f"{color}={weight}" for color, weight in INITIAL_WEIGHTS.items())
            raise RolloutError(
                f"athalia: could not restore {weights} on the router ({exc}). The next test would start "
                "from an unknown state; check the router container's log."
            ) from exc
        self._clear_faults()
        self.live = COLORS[0]
        self.phase = Phase.IDLE
        self.history = [Phase.IDLE]
        self._smoke = None
        self._bases = {}

    # -- steps ------------------------------------------------------------------------------------------
    def deploy(self, candidate: Candidate) -> float:
        """Deploy `candidate` to the idle color (weight 0 first) and wait until it is healthy; seconds taken."""
        self._to(Phase.DEPLOYING)
        color = self.idle
        self._bases.pop(color, None)  # a recreated container may be published on another port
        try:
            self.router.set_weight(color, 0)  # nothing may reach a container being replaced
            seconds = self.colors.deploy_color(
                color, image=candidate.image, env=dict(candidate.env), timeout=self.plan.deploy_timeout_s
            )
        except AthaliaError as exc:
            if Phase.FAILED in _NEXT[self.phase]:
                self._to(Phase.FAILED)
            raise RolloutError(_deploy_error(candidate, color, exc)) from exc
        self._to(Phase.SMOKE_TESTING)
        return seconds

    def watch_live(self, plan: Plan | None = None) -> BaselineReport:
        """Watch the live version for ``plan.baseline_s`` under the probe and the health triggers, before any deploy.

        Ends in phase baseline (ready to deploy), or inconclusive when a trigger fired on the live version.
        """
        plan = plan or self.plan
        self._to(Phase.BASELINE)
        color = self.live
        watch = self._start_probe(plan, color, warm_up=False)
        try:
            self._make_pollers(watch, plan, external=False)  # the external signal judges a release, not blue
            watch.since_ns = self._clock()
            for poller in watch.pollers:
                poller.start()
            fired, triggers = self._watch(watch, plan, plan.baseline_s)
        finally:
            log = watch.stop()
        report = BaselineReport(color, (self._clock() - watch.since_ns) / 1e9, triggers, log, watch.health_checks())
        if fired is not None:
            self._to(Phase.INCONCLUSIVE)
        return report

    def smoke_test(self, paths: tuple[str, ...] | None = None) -> SmokeReport:
        """GET each smoke path (default: the plan's) on both colors directly, then wait until the router sees it UP."""
        if self.phase is not Phase.SMOKE_TESTING:
            raise RolloutError(f"athalia: smoke_test() needs a deployed candidate; the rollout is {self.phase.value}.")
        color, live = self.idle, self.live
        results = []
        base, live_base = self._base_url(color), self._base_url(live)
        # Both colors, each path, redirects not followed: the candidate must answer as the live version does.
        with _http.HttpClient(timeout=self.plan.smoke_timeout_s, max_body=0) as client:
            for path in self.plan.smoke_paths if paths is None else paths:
                url = base + path
                answer, live_answer = client.get(url), client.get(live_base + path)
                judged = judge_path(
                    path,
                    live=live_answer,
                    candidate=answer,
                    live_color=live,
                    color=color,
                    expect=self.plan.smoke_expect,
                )
                results.append(SmokeResult(path, url, judged.ok, judged.detail, judged.live_fails))
        if all(r.ok for r in results):
            results.append(self._wait_router_up(color))
        report = self._smoke = SmokeReport(color, tuple(results))
        if not report.passed:
            blamed = [r for r in results if not r.ok and not r.live_fails]
            self._to(Phase.FAILED if blamed else Phase.INCONCLUSIVE)
        return report

    def _wait_router_up(self, color: Color) -> SmokeResult:
        # A switch to a server the router still holds DOWN would answer 503 to everyone.
        try:
            seconds = wait_until_serving(self.router, color, timeout=self.plan.deploy_timeout_s)
        except RouterError as exc:
            return SmokeResult("(router)", self.router.url(), False, str(exc))
        return SmokeResult("(router)", self.router.url(), True, f"the router holds {color} up after {seconds:.2f} s")

    def switch(self) -> tuple[int, int]:
        """Send all traffic to the smoke-tested candidate; returns (start, router calls done) in clock ns."""
        if self.phase is not Phase.SMOKE_TESTING or self._smoke is None or not self._smoke.passed:
            raise RolloutError(
                f"athalia: switch() needs a candidate that passed its smoke test; the rollout is {self.phase.value}"
                + ("" if self._smoke is None else f" and the smoke test said: {self._smoke.describe()}")
                + "."
            )
        self._to(Phase.SWITCHING)
        old, new = self.live, self.idle
        start = self._clock()
        try:
            # The new color first: at no instant do both colors weigh 0.
            apply_weights(self.router, ((new, 100), (old, 0)))
        except RouterError as exc:
            raise self._fail(f"switching from {old} to {new} failed", exc) from exc
        done = self._clock()
        self.live = new
        self._to(Phase.LIVE)
        return start, done

    def rollback(self) -> tuple[int, int]:
        """Send all traffic back to the previous color; returns (asked, router calls done) in clock ns."""
        asked = self._clock()
        self._to(Phase.ROLLING_BACK)
        bad, good = self.live, self.idle  # only a switch leads here, and it left the previous color idle
        try:
            apply_weights(self.router, ((good, 100), (bad, 0)))
        except RouterError as exc:
            raise self._fail(f"rolling back from {bad} to {good} failed", exc) from exc
        done = self._clock()
        self.live = good
        self._to(Phase.ROLLED_BACK)
        return asked, done

    # -- the whole release ------------------------------------------------------------------------------------
    def release(
        self,
        candidate: Candidate,
        *,
        observe_s: float | None = None,
        manual_rollback: bool = False,
        external: ExternalTrigger | None = None,
        drill: bool = False,
    ) -> ReleaseReport:
        """Deploy, smoke-test, switch under the probe, watch the triggers, and roll back when one fires.

        With `manual_rollback`, a release that stayed healthy for `observe_s` is rolled back by hand. A `drill`
        (a candidate bad on purpose, to fire a trigger) is smoke-tested on ``plan.drill_smoke_paths`` only.
        A release that fails before the switch returns a report with `error` set (phase failed).
        """
        plan = self.plan.with_external(external) if external is not None else self.plan
        observe = plan.observe_s if observe_s is None else observe_s
        color, previous = self.idle, self.live
        base = ReleaseReport(candidate, color, previous, self.phase)
        if candidate.fault is not None and self.faults is None:
            raise RolloutError(
                f"athalia: the drill {candidate.describe()} needs a router that injects faults, and "
                f"{type(self.router).__name__} does not (no inject/clear). Use the built-in router (rollout.enabled: "
                "true), or drill with the app's own faults (rollout.drills.<name>.env) instead of fault:."
            )
        self._say(f"watching {previous} (live) for {plan.baseline_s:g} s through {plan.probe_entry} before the deploy")
        baseline = self.watch_live(plan)
        base = replace(base, baseline=baseline)
        if baseline.fired is not None:
            message = f"the live version already fails: {_breach(baseline)}"
            self._say(f"stopped before the deploy: the live version already fails ({baseline.fired.describe()})")
            return replace(base, phase=self.phase, error=message, stop=Stop("baseline", True, message))
        # No progress line of its own: the stack's deploy_color reports the deploy (ComposeStack in a phase).
        try:
            deploy_seconds = self.deploy(candidate)
        except RolloutError as exc:
            return replace(base, phase=self.phase, error=str(exc), stop=Stop("deploy", False, str(exc)))
        smoke = self.smoke_test((plan.drill_smoke_paths or None) if drill else None)
        base = replace(base, deploy_seconds=deploy_seconds, smoke=smoke)
        if not smoke.passed:
            if self.phase is Phase.INCONCLUSIVE:
                first = smoke.live_fails[0]
                message = f"the live version already fails: {first.detail}"
                return replace(base, phase=self.phase, error=message, stop=Stop("smoke", True, message))
            failed = "; ".join(r.detail for r in smoke.results if not r.ok)
            message = f"the smoke test of {color} stopped the release before any traffic moved: {failed}"
            return replace(base, phase=self.phase, error=message, stop=Stop("smoke", False, message))
        watch = self._start_probe(plan, color)
        try:
            self._make_pollers(watch, plan)  # before the switch: finding the color's address runs compose
            self._say(f"switching {previous} → {color} under {plan.probe.rate:.0f} req/s")
            switch_start, switch_done = self.switch()
            watch.since_ns = switch_done
            # Not before: the smoke test and the router's UP check must see the healthy candidate.
            self._inject_fault(candidate)
            for poller in watch.pollers:
                poller.start()
            fired, triggers = self._watch(watch, plan, observe)
            rollback_at: tuple[int, int] | None = None
            if fired is not None or manual_rollback:
                rollback_at = self.rollback()
                self._clear_faults()
                if fired is not None:
                    rollback_at = (fired.at_ns, rollback_at[1])
                    self._say(f"rolled back {color} → {previous}: {fired.describe()}")
            self._settle(watch, plan, rollback_at[1] if rollback_at else switch_done)
        finally:
            self._clear_faults(quiet=True)
            log = watch.stop()
        samples = log.samples
        switch = self._switch_report(samples, plan, previous, color, switch_start, switch_done, rollback_at)
        rollback = None
        if rollback_at is not None:
            rollback = self._rollback_report(samples, plan, color, previous, rollback_at, fired)
        return replace(
            base,
            phase=self.phase,
            switch=switch,
            triggers=triggers,
            rollback=rollback,
            probe=log,
            health_checks=watch.health_checks(),
            external_checks=watch.external_checks(),
        )

    # -- router faults (drills) -----------------------------------------------------------------------------------
    def _inject_fault(self, candidate: Candidate) -> None:
        if candidate.fault is None or self.faults is None:
            return
        color = self.live  # the candidate's, just switched to
        self._faulted = True  # set first: a fault half-applied must be cleared too
        try:
            self.faults.inject(color, candidate.fault)
        except RouterError as exc:
            self.rollback()
            self._clear_faults(quiet=True)
            raise RolloutError(
                f"athalia: could not inject the drill's router fault ({candidate.fault.describe()}) into {color}, "
                f"so the candidate was rolled back at once ({exc})"
            ) from exc

    def _clear_faults(self, *, quiet: bool = False) -> None:
        if not self._faulted or self.faults is None:
            return
        try:
            self.faults.clear()
        except RouterError as exc:
            if quiet:  # an exception on its way out says more; reset() tries again
                return
            raise RolloutError(
                f"athalia: could not clear the drill's router faults ({exc}); the next release would inherit them. "
                "Check the router container's log."
            ) from exc
        self._faulted = False

    # -- internals ----------------------------------------------------------------------------------------------
    def _base_url(self, color: Color) -> str:
        # Once per deploy: on ComposeStack each color_url() runs a compose command.
        if color not in self._bases:
            self._bases[color] = self.colors.color_url(color)
        return self._bases[color]

    def _start_probe(self, plan: Plan, color: Color, *, warm_up: bool = True) -> _Watch:
        return _Watch(start_probe(plan, self.router, self._clock, warm_up=warm_up), color)

    def _make_pollers(self, watch: _Watch, plan: Plan, *, external: bool = True) -> None:
        bound = plan.probe.max_seconds
        health = plan.triggers.health
        if health.enabled:
            interval = health.interval_ms / 1000
            url = self._base_url(watch.color) + plan.health_path
            check = http_check(url, timeout_s=max(interval, 1.0))
            watch.health.append(Poller("health", check, interval_s=interval, max_seconds=bound, clock=self._clock))
            status = router_status_check(self.router, watch.color)
            watch.health.append(
                Poller("router", status, interval_s=max(interval, 0.1), max_seconds=bound, clock=self._clock)
            )
        signal = plan.triggers.external
        if external and signal.configured:
            check = external_check(
                url=signal.url, command=signal.command, match=signal.match, timeout_s=signal.timeout_ms / 1000
            )
            watch.external = Poller(
                "external", check, interval_s=signal.interval_ms / 1000, max_seconds=bound, clock=self._clock
            )

    def _watch(
        self, watch: _Watch, plan: Plan, observe_s: float
    ) -> tuple[TriggerResult | None, tuple[TriggerResult, ...]]:
        end = watch.since_ns + int(observe_s * 1e9)
        triggers: tuple[TriggerResult, ...] = ()
        while True:
            now = self._clock()
            samples = tuple(s for s in watch.probe.recent(watch.since_ns) if s.start_ns >= watch.since_ns)
            triggers = evaluate_triggers(
                plan.triggers if watch.external is not None else _without_external(plan),
                color=watch.color,
                samples=samples,
                health=watch.health_checks(),
                external=watch.external_checks(),
                now_ns=now,
            )
            fired = next((t for t in triggers if t.fired), None)
            if fired is not None:
                # The trigger fires when its judgement is made: now, after the evaluation.
                return replace(fired, at_ns=self._clock()), triggers
            if now >= end or not watch.probe.running:
                return None, triggers
            time.sleep(plan.poll_interval_s)

    def _settle(self, watch: _Watch, plan: Plan, after_ns: int) -> None:
        # Long enough to show the cutover: settle_s, and at least min_after requests after it.
        deadline = time.monotonic() + plan.settle_s + 2.0
        settle_until = after_ns + int(plan.settle_s * 1e9)
        while time.monotonic() < deadline and watch.probe.running:
            if self._clock() >= settle_until and len(watch.probe.recent(after_ns)) >= plan.min_after * 2:
                return
            time.sleep(0.01)

    def _switch_report(
        self,
        samples: tuple[ProbeSample, ...],
        plan: Plan,
        old: Color,
        new: Color,
        start: int,
        done: int,
        rollback_at: tuple[int, int] | None,
    ) -> SwitchReport:
        # Up to the rollback (if any): later requests belong to the rollback's measurement.
        upto = rollback_at[0] if rollback_at is not None else max((s.start_ns for s in samples), default=done)
        during = tuple(s for s in samples if s.start_ns <= upto)
        # Where a request went is known only for those answered before the rollback began: one in
        # flight across it may have been routed by the rollback's weights.
        routed = during if rollback_at is None else tuple(s for s in during if s.end_ns < upto)
        cut = cutover(routed, from_color=old, since_ns=start, weights_ns=done, min_after=plan.min_after)
        # Every request from the switch until the rollback (or the end of the observation) counts.
        failed = failed_between(during, start, upto)
        requests = sum(1 for s in during if start <= s.start_ns)
        stray = stray_after(routed, to_color=new, after_ns=done)
        after = sum(1 for s in routed if s.start_ns > done)
        in_flight = sum(1 for s in routed if s.start_ns <= done < s.end_ns)
        return SwitchReport(old, new, start, done, cut, failed, requests, stray, after, in_flight)

    def _rollback_report(
        self,
        samples: tuple[ProbeSample, ...],
        plan: Plan,
        bad: Color,
        good: Color,
        at: tuple[int, int],
        fired: TriggerResult | None,
    ) -> RollbackReport:
        fired_ns, done = at
        cut = cutover(samples, from_color=bad, since_ns=fired_ns, weights_ns=done, min_after=plan.min_after)
        # Every request from the firing to the probe's end (at least settle_s after the cutover) counts:
        # clients held by a slow color start their next request only after it answered.
        window_end = max((s.start_ns for s in samples), default=cut.at_ns)
        # An automatic rollback is not blamed for the bad color's own answers: they are the fault.
        failed = failed_between(samples, fired_ns, window_end, exclude_color=bad if fired else None)
        requests = sum(1 for s in samples if fired_ns <= s.start_ns <= window_end)
        detected = detection_ms(fired.first_bad_ns, fired_ns) if fired is not None else None
        return RollbackReport(bad, good, fired_ns, done, fired, cut, detected, failed, requests)
