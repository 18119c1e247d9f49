"""What a canary release measured: each step, its judgement, the rollback, as frozen values.

:class:`~pytest_athalia.canary._canary.Canary` fills these in; :mod:`pytest_athalia.canary._checks` turns
them into verdicts. Metric values follow the judge: error rates are ratios (0.05 is 5 %), latencies ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from ..release._release import BaselineReport, Candidate, SmokeReport, Stop
from ..release._router import Color
from ..release._timing import Cutover
from ..release._traffic import ProbeLog, ProbeSample
from ..report._slo import Outcome, format_number

if TYPE_CHECKING:
    from ._judge import Judgement, MetricJudgement
    from ._metrics import ColorWindow

__all__ = [
    "CanaryPhase",
    "CanaryReport",
    "CanaryRollback",
    "PostDeployResult",
    "StepReport",
    "describe_metric",
]


class CanaryPhase(Enum):
    IDLE = "idle"
    BASELINE = "baseline"  # the live version watched before anything is deployed
    DEPLOYING = "deploying"
    SMOKE_TESTING = "smoke-testing"
    STEPPING = "stepping"  # the candidate takes a share of the traffic, step by step, each judged
    PROMOTED = "promoted"  # 100 % passed (and the post-deploy watch, when there is one)
    ROLLING_BACK = "rolling back"
    ROLLED_BACK = "rolled back"
    DRY_RUN = "dry run"  # every step judged, no weight moved after the first; the candidate back to 0
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"  # the live version already failed before the deploy: nothing judged


class PostDeployResult(Protocol):
    """What the post-deploy hook returns (``canary/_monitor.py``'s result): a breach or a clean watch."""

    @property
    def breached(self) -> bool: ...

    @property
    def outcome(self) -> Outcome:
        """PASS (watched to the end within limits), FAIL (a breach) or INCONCLUSIVE (not enough to tell)."""
        ...

    @property
    def checks(self) -> int:
        """How many times the window was judged."""
        ...

    @property
    def seconds(self) -> float:
        """How long the release was watched."""
        ...

    @property
    def reason(self) -> str: ...

    def describe(self) -> str: ...


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{format_number(value * 100)} %"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{format_number(value)} ms"


def describe_metric(metric: MetricJudgement) -> str:
    """One line: metric, both values and the limit, the test with its statistic and p-value, and the samples.

    Written from the fields alone, so it reads the same whatever the judge's own ``describe()`` says.
    """
    show = _percent if metric.metric == "error_rate" else _ms
    stat = "n/a" if metric.statistic is None else format_number(metric.statistic, 3)
    p = "n/a" if metric.p_value is None else f"{metric.p_value:.3g}"
    text = (
        f"{metric.metric} {metric.outcome.value}: canary {show(metric.canary)} against baseline "
        f"{show(metric.baseline)} (limit {show(metric.limit)}), {metric.test} statistic {stat}, p-value {p}, "
        f"samples {metric.canary_samples} canary / {metric.baseline_samples} baseline"
    )
    return f"{text}: {metric.reason}" if metric.reason else text


@dataclass(frozen=True)
class StepReport:
    """One step: the candidate's share, how long it held, both colors' windows and the judgement."""

    percent: int  # the step's share of traffic for the candidate
    weight: int  # the candidate's weight while it held (the first step's, in a dry run)
    started_ns: int
    ended_ns: int
    canary: ColorWindow | None  # None: the metric source could not tell (see `note`)
    baseline: ColorWindow | None
    judgement: Judgement
    judged: int  # how many times the window was judged (more than once: extended while inconclusive)
    extended: bool  # held past step_s because the judgement was inconclusive
    note: str = ""  # why the step is inconclusive without the judge (no source, the live version fails)
    baseline_from: str = ""  # set when the baseline is not the live color's window of this step (at 100 %)

    @property
    def seconds(self) -> float:
        return max(0, self.ended_ns - self.started_ns) / 1e9

    @property
    def outcome(self) -> Outcome:
        return self.judgement.outcome

    @property
    def canary_samples(self) -> int:
        return self.canary.requests if self.canary is not None else 0

    @property
    def baseline_samples(self) -> int:
        return self.baseline.requests if self.baseline is not None else 0

    @property
    def failing(self) -> MetricJudgement | None:
        """The first failing metric, else the first inconclusive one."""
        for outcome in (Outcome.FAIL, Outcome.INCONCLUSIVE):
            found = next((m for m in self.judgement.metrics if m.outcome is outcome), None)
            if found is not None:
                return found
        return None

    def describe(self) -> str:
        colors = (
            f"{self.canary_samples} requests on the canary ({self.canary.color if self.canary else '?'}), "
            f"{self.baseline_samples} on the baseline ({self.baseline.color if self.baseline else '?'})"
        )
        head = (
            f"step {self.percent} % (weight {self.weight}) held {self.seconds:.1f} s, {colors}, judged {self.judged}x: "
            f"{self.outcome.value}" + (f" ({self.note})" if self.note else "")
        )
        if self.baseline_from:
            head += f"; {self.baseline_from}"
        return "\n".join([head, *(f"    {describe_metric(m)}" for m in self.judgement.metrics)])


@dataclass(frozen=True)
class CanaryRollback:
    """The candidate's weight to 0 at one step, timed from the probe's requests as blue-green's rollback is."""

    step: int  # the step's percent
    bad_color: Color
    good_color: Color
    asked_ns: int  # the decision (the judgement's end)
    weights_ns: int  # the router calls returned
    cutover: Cutover
    failed: tuple[ProbeSample, ...]  # failed requests after the decision, the bad color's own excluded
    requests: int
    detected_s: float  # from the first step's start (the candidate's first traffic) to the decision
    reason: str  # the failing metric in words, or why the step failed closed

    @property
    def ms(self) -> float | None:
        return self.cutover.ms


@dataclass(frozen=True)
class CanaryReport:
    """One canary release from the baseline to promoted, rolled back or a dry run's end."""

    candidate: Candidate
    color: Color  # the candidate's
    previous: Color  # the live color, the judge's baseline
    phase: CanaryPhase
    dry_run: bool = False
    source: str = ""  # the metric source's name
    baseline: BaselineReport | None = None
    deploy_seconds: float | None = None
    smoke: SmokeReport | None = None
    steps: tuple[StepReport, ...] = ()
    rollback: CanaryRollback | None = None
    post_deploy: PostDeployResult | None = None  # None: not watched after 100 %
    probe: ProbeLog | None = None
    error: str = ""
    stop: Stop | None = None  # set when the release stopped before any traffic moved

    @property
    def promoted(self) -> bool:
        return self.phase is CanaryPhase.PROMOTED

    @property
    def decisive_step(self) -> StepReport | None:
        """The first step that did not pass (what stopped the canary, or would have in a dry run)."""
        return next((s for s in self.steps if s.outcome is not Outcome.PASS), None)

    @property
    def decision(self) -> str:
        """What was decided, in words; a dry run says what it would have decided."""
        step = self.decisive_step
        if step is None:
            verdict = "promote" if self.steps and self.steps[-1].percent == 100 else "nothing"
        elif step.outcome is Outcome.FAIL:
            verdict = f"roll back at step {step.percent} %"
        else:
            verdict = f"fail closed at step {step.percent} % (inconclusive after {step.seconds:.1f} s)"
        if self.dry_run:
            return f"dry run: would {verdict}"
        if self.stop is not None or self.error:
            return "stopped before any traffic moved" if self.stop is not None else "failed"
        if self.post_deploy is not None and self.post_deploy.breached:
            return f"rolled back after 100 %: {self.post_deploy.describe()}"
        return verdict

    def describe(self) -> str:
        """A few lines: what happened to the candidate, step by step, for failure messages."""
        lines = [
            f"canary {self.candidate.describe()} on {self.color} against {self.previous} "
            f"(metrics: {self.source or 'n/a'}): {self.phase.value}, decision: {self.decision}"
        ]
        if self.stop is not None:
            lines.append(f"stopped by the {self.stop.check} check before any traffic moved: see that check")
        elif self.error:
            lines.append(f"error: {self.error}")
        if self.baseline is not None:
            lines.append(self.baseline.describe())
        if self.deploy_seconds is not None:
            lines.append(f"deployed in {self.deploy_seconds:.1f} s")
        if self.smoke is not None:
            lines.append(f"smoke test {'passed' if self.smoke.passed else 'FAILED'}: {self.smoke.describe()}")
        lines.extend(step.describe() for step in self.steps)
        rb = self.rollback
        if rb is not None:
            ms = "not shown" if rb.ms is None else f"{rb.ms:.1f} ms"
            lines.append(
                f"rollback at step {rb.step} %: {rb.bad_color} to 0 in {ms} ({rb.cutover.reason or 'cutover shown'}), "
                f"{len(rb.failed)} failed of {rb.requests} requests, decided {rb.detected_s:.1f} s after the first "
                f"step began: {rb.reason}"
            )
        if self.post_deploy is not None:
            lines.append(f"post-deploy: {self.post_deploy.describe()}")
        if self.probe is not None:
            rate = f"{self.probe.rate:.0f}/s" if self.probe.rate else "n/a"
            lines.append(f"probe: {self.probe.count} requests, {rate} over {self.probe.seconds:.1f} s")
        return "\n".join(lines)
