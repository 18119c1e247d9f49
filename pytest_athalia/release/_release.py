"""What a release is and what it measured: the candidate, the resolved plan, and frozen reports.

:class:`~pytest_athalia.release._bluegreen.BlueGreen` fills these in; :mod:`pytest_athalia.release._checks`
turns them into verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING

from ..config._rollout import CandidateSpec, ExternalTrigger, ProbeSpec, TriggersSpec
from ._faults import Fault
from ._router import Color
from ._smoke import Expect
from ._timing import Cutover
from ._traffic import ProbeLog, ProbeSample
from ._triggers import CheckSample, TriggerResult

if TYPE_CHECKING:
    from ..config._environment import Environment

__all__ = [
    "BaselineReport",
    "Candidate",
    "Phase",
    "Plan",
    "ReleaseReport",
    "RollbackReport",
    "SmokeReport",
    "SmokeResult",
    "Stop",
    "SwitchReport",
]


class Phase(Enum):
    IDLE = "idle"
    BASELINE = "baseline"  # the live version watched before anything is deployed
    DEPLOYING = "deploying"
    SMOKE_TESTING = "smoke-testing"
    SWITCHING = "switching"
    LIVE = "live"
    ROLLING_BACK = "rolling back"
    ROLLED_BACK = "rolled back"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"  # stopped because the live version already fails: nothing judged


@dataclass(frozen=True)
class Candidate:
    """A version to release: an image (None: the service's own) and container environment variables."""

    name: str
    image: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    fault: Fault | None = None  # injected by the router into its answers once it is live (a drill)
    # Where the image and environment came from, for errors ("its image from the environment variable
    # ATHALIA_CANDIDATE_IMAGE and ..."); `image_source` names the image's alone. Not part of its identity.
    source: str = field(default="", compare=False)
    image_source: str = field(default="", compare=False)

    @classmethod
    def from_spec(
        cls,
        name: str,
        spec: CandidateSpec,
        extra_env: Mapping[str, str] | None = None,
        *,
        source: str = "",
        image_source: str = "",
    ) -> Candidate:
        env = {**spec.env, **(extra_env or {})}
        fault = Fault.from_spec(spec.fault) if spec.fault is not None else None
        return cls(
            name, spec.image, tuple(sorted(env.items())), fault, source=source or name, image_source=image_source
        )

    def describe(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.env)
        fault = f", router fault: {self.fault.describe()}" if self.fault is not None else ""
        return f"{self.name} (image {self.image or 'of the service'}{', ' + env if env else ''}{fault})"


@dataclass(frozen=True)
class Plan:
    """What a release does, resolved from the environment file (paths default to the stack's)."""

    probe_path: str
    smoke_paths: tuple[str, ...]  # every path the rehearsal judges, asked of both colors before the switch
    health_path: str
    probe: ProbeSpec = field(default_factory=ProbeSpec)
    triggers: TriggersSpec = field(default_factory=TriggersSpec)
    deploy_timeout_s: float = 120.0
    observe_s: float = 3.0
    smoke_timeout_s: float = 2.0
    settle_s: float = 0.3  # the probe keeps going this long after a cutover, to show it
    min_after: int = 20  # requests after a cutover needed to show it
    poll_interval_s: float = 0.005  # how often the triggers are evaluated
    baseline_s: float = 2.0  # the live version is watched this long before the candidate is deployed
    smoke_expect: Expect = ("2xx",)
    # Where users come in (a front service's published address); None: the router's own address.
    probe_base: str | None = None
    probe_entry: str = "the router"
    # A drill's candidate is bad on purpose: only these paths (rollout.smoke.paths, else the health path)
    # are smoke-tested, so its trigger, not the smoke test, catches it. Empty: the same as smoke_paths.
    drill_smoke_paths: tuple[str, ...] = ()

    @classmethod
    def from_environment(cls, environment: Environment) -> Plan:
        stack = environment.spec.stack
        rollout = environment.spec.rollout
        probe_path = rollout.probe.path or stack.version_path or stack.health_path
        health_path = rollout.triggers.health.path or stack.ready_path or stack.health_path
        # Every path the rehearsal judges, once each, in a stable order: a path the smoke test skipped
        # could fail only once users are on the candidate.
        judged = (
            *rollout.smoke.paths,
            stack.health_path,
            stack.ready_path,
            stack.version_path,
            probe_path,
            health_path if rollout.triggers.health.enabled else None,
        )
        return cls(
            probe_path=probe_path,
            smoke_paths=tuple(dict.fromkeys(p for p in judged if p)),
            drill_smoke_paths=rollout.smoke.paths or (stack.health_path,),
            health_path=health_path,
            probe=rollout.probe,
            triggers=rollout.triggers,
            deploy_timeout_s=rollout.deploy_timeout_s,
            observe_s=rollout.observe_s,
            smoke_timeout_s=rollout.smoke.timeout_ms / 1000,
            baseline_s=rollout.baseline_s,
            smoke_expect=rollout.smoke.expect_status,
        )

    def probe_url(self, router_url: str) -> str:
        """The probe's URL: through `probe_base` when set (a front service), else through `router_url`."""
        return (self.probe_base if self.probe_base is not None else router_url).rstrip("/") + self.probe_path

    def with_external(self, external: ExternalTrigger) -> Plan:
        return replace(self, triggers=self.triggers.model_copy(update={"external": external}))


@dataclass(frozen=True)
class SmokeResult:
    path: str
    url: str
    ok: bool
    detail: str
    live_fails: bool = False  # the live version did not answer as expected either: nothing to blame on the candidate


@dataclass(frozen=True)
class SmokeReport:
    color: Color
    results: tuple[SmokeResult, ...]

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def live_fails(self) -> tuple[SmokeResult, ...]:
        return tuple(r for r in self.results if r.live_fails)

    def describe(self) -> str:
        return "; ".join(f"{r.path}: {r.detail}" for r in self.results)


@dataclass(frozen=True)
class BaselineReport:
    """The live version under the probe and the triggers before anything was deployed."""

    color: Color
    seconds: float
    triggers: tuple[TriggerResult, ...]
    probe: ProbeLog
    health_checks: tuple[CheckSample, ...] = ()

    @property
    def fired(self) -> TriggerResult | None:
        return next((t for t in self.triggers if t.fired), None)

    @property
    def failed(self) -> int:
        return len(self.probe.failures())

    def describe(self) -> str:
        rate = f"{self.probe.rate:.0f}/s" if self.probe.rate else "n/a"
        head = (
            f"baseline on {self.color} (live) for {self.seconds:.1f} s: {self.failed} failed of {self.probe.count} "
            f"requests ({rate})"
        )
        return "\n".join([head, *(f"  {t.describe()}" for t in self.triggers)])


@dataclass(frozen=True)
class Stop:
    """Why a release stopped before the switch: the check that says so, and whether it is the candidate's fault."""

    check: str  # "baseline", "deploy" or "smoke"
    inconclusive: bool  # True: the live version already fails; nothing was judged of the candidate
    message: str


@dataclass(frozen=True)
class SwitchReport:
    """The switch to the candidate, as the probe saw it."""

    from_color: Color
    to_color: Color
    started_ns: int
    weights_ns: int  # when the router call that drained the old color returned
    cutover: Cutover
    failed: tuple[ProbeSample, ...]  # failed requests from the switch's start to the rollback or the probe's end
    requests: int  # requests started in that interval
    stray: tuple[ProbeSample, ...]  # requests after the router calls returned not answered by the candidate
    after: int  # requests after the router calls returned
    in_flight: int = 0  # requests sent before the router calls returned and answered after: never judged stray

    @property
    def ms(self) -> float | None:
        return self.cutover.ms


@dataclass(frozen=True)
class RollbackReport:
    """A rollback (automatic when `trigger` is set), timed from the probe's requests."""

    bad_color: Color
    good_color: Color
    fired_ns: int
    weights_ns: int
    trigger: TriggerResult | None
    cutover: Cutover
    detection_ms: float | None
    failed: tuple[ProbeSample, ...]
    requests: int

    @property
    def automatic(self) -> bool:
        return self.trigger is not None

    @property
    def ms(self) -> float | None:
        return self.cutover.ms


@dataclass(frozen=True)
class ReleaseReport:
    """One release from deploy to live (or rolled back), with everything measured on the way."""

    candidate: Candidate
    color: Color
    previous: Color
    phase: Phase
    deploy_seconds: float | None = None
    smoke: SmokeReport | None = None
    switch: SwitchReport | None = None
    triggers: tuple[TriggerResult, ...] = ()  # at the firing, else at the end of the observation
    rollback: RollbackReport | None = None
    probe: ProbeLog | None = None
    health_checks: tuple[CheckSample, ...] = ()
    external_checks: tuple[CheckSample, ...] = ()
    error: str = ""
    baseline: BaselineReport | None = None
    stop: Stop | None = None  # set when the release stopped before the switch (error holds the same message)

    @property
    def inconclusive(self) -> bool:
        return self.stop is not None and self.stop.inconclusive

    @property
    def fired(self) -> TriggerResult | None:
        return self.rollback.trigger if self.rollback is not None else None

    def trigger(self, name: str) -> TriggerResult | None:
        return next((t for t in self.triggers if t.trigger == name), None)

    def describe(self) -> str:
        """A few lines: what happened to the candidate, for failure messages."""
        lines = [f"candidate {self.candidate.describe()} on {self.color}: {self.phase.value}"]
        if self.stop is not None:
            # The full message (compose's output, say) is the stopping check's reason: said once, there.
            how = "the live version already fails" if self.stop.inconclusive else "the candidate failed it"
            lines.append(f"stopped by the {self.stop.check} check before any traffic moved ({how}): see that check")
        elif self.error:
            lines.append(f"error: {self.error}")
        if self.baseline is not None:
            lines.append(self.baseline.describe())
        if self.deploy_seconds is not None:
            lines.append(f"deployed in {self.deploy_seconds:.1f} s")
        if self.smoke is not None:
            lines.append(f"smoke test {'passed' if self.smoke.passed else 'FAILED'}: {self.smoke.describe()}")
        if self.switch is not None:
            ms = "not shown" if self.switch.ms is None else f"{self.switch.ms:.1f} ms"
            sw = self.switch
            lines.append(
                f"switch: {ms}, {len(sw.failed)} failed of {sw.requests} requests; {len(sw.stray)} stray of {sw.after} "
                f"sent after the router calls returned ({sw.in_flight} in flight across them, not judged)"
            )
        lines.extend(t.describe() for t in self.triggers)
        if self.rollback is not None:
            rb = self.rollback
            ms = "not shown" if rb.ms is None else f"{rb.ms:.1f} ms"
            how = "automatic" if rb.automatic else "manual"
            detected = (
                "" if rb.detection_ms is None else f", detected {rb.detection_ms:.0f} ms after the first bad answer"
            )
            lines.append(f"{how} rollback: {ms}, {len(rb.failed)} failed of {rb.requests} requests{detected}")
        if self.probe is not None:
            rate = f"{self.probe.rate:.0f}/s" if self.probe.rate else "n/a"
            lines.append(f"probe: {self.probe.count} requests, {rate} over {self.probe.seconds:.1f} s")
        return "\n".join(lines)
