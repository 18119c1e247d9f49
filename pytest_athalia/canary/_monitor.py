"""Post-deploy monitoring (seed §5.2): after 100 %, the release against the pre-deploy baseline.

:func:`judge_window` is pure: the release since it reached 100 % against the live version before the
deploy, on the seed's absolute limits alone (error rate at most baseline + ``max_error_increase``, p95
at most baseline p95 * (1 + ``max_latency_increase``)). A metric with fewer than ``min_samples`` on
either side is "not enough data yet": never a breach, never a pass.

:class:`PostDeployMonitor` judges that window every ``interval_s`` for ``window_s``. On the first
breach it sends an :class:`~pytest_athalia.canary._alert.Alert` and returns; rolling back is the
caller's job (the result says whether ``rollback`` is configured). Time is bounded: the loop ends at
``window_s`` (plus the one check under way), the webhook at twice its timeout.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import final

from .._errors import AthaliaError
from ..config._canary import JudgeSpec, PostDeploySpec
from ..report._slo import Outcome, format_number, percentile
from ._alert import Action, Alert, Delivery, MonitorMetric, Notifier, format_metric, utc_now
from ._metrics import ColorWindow, Mark, MetricSource

__all__ = [
    "LatenciesSince",
    "MonitorCheck",
    "MonitorResult",
    "PostDeployMonitor",
    "WindowJudgement",
    "judge_window",
]

# The probe's latencies (ms) by serving color, of requests started at or after a monotonic instant (ns):
# lambda since: latencies_by_color(probe.recent(since), since, time.monotonic_ns())
LatenciesSince = Callable[[int], Mapping[str, Sequence[float]]]

_STATE = {Outcome.PASS: "within limit", Outcome.FAIL: "BREACH", Outcome.INCONCLUSIVE: "not enough data yet"}


@final
@dataclass(frozen=True)
class MonitorCheck:
    """One metric of one post-deploy window: both values, the limit and the sample counts."""

    metric: MonitorMetric
    outcome: Outcome  # FAIL: breach; PASS: within the limit; INCONCLUSIVE: not enough data yet
    baseline: float | None  # ratio for error_rate, ms for latency_p95; None when there was nothing to measure
    current: float | None
    limit: float | None  # a breach is `current` above this
    baseline_samples: int
    current_samples: int
    min_samples: int

    @property
    def unit(self) -> str:
        return "ratio" if self.metric == "error_rate" else "ms"

    @property
    def breached(self) -> bool:
        return self.outcome is Outcome.FAIL

    def describe(self) -> str:
        figures = (
            f"{self.metric}: current {_figure(self.current, self.unit)}, limit {_figure(self.limit, self.unit)} "
            f"(baseline {_figure(self.baseline, self.unit)}; samples {self.current_samples} current, "
            f"{self.baseline_samples} baseline): {_STATE[self.outcome]}"
        )
        if self.outcome is Outcome.INCONCLUSIVE:
            sides = (("baseline", self.baseline_samples), ("current", self.current_samples))
            short = [f"{side} {count}" for side, count in sides if count < self.min_samples]
            figures += f" ({' and '.join(short)} < {self.min_samples} required)" if short else ""
        return figures


@final
@dataclass(frozen=True)
class WindowJudgement:
    """Every metric of one window: FAIL if any breached, else INCONCLUSIVE if any lacks data, else PASS."""

    outcome: Outcome
    checks: tuple[MonitorCheck, ...]
    seconds: float  # how long the current window is (since 100 %)

    @property
    def breach(self) -> MonitorCheck | None:
        """The first breached metric, or None."""
        return next((check for check in self.checks if check.breached), None)

    def describe(self) -> str:
        head = f"post-deploy window of {format_number(self.seconds)} s: {_STATE[self.outcome]}"
        return "; ".join([head, *(check.describe() for check in self.checks)])


def judge_window(
    baseline: ColorWindow, current: ColorWindow, spec: JudgeSpec, *, seconds: float = 0.0
) -> WindowJudgement:
    """The release since 100 % (`current`) against the pre-deploy live version (`baseline`), on absolute limits."""
    checks = (_error_rate(baseline, current, spec), _latency_p95(baseline, current, spec))
    if any(check.breached for check in checks):
        outcome = Outcome.FAIL
    elif any(check.outcome is Outcome.INCONCLUSIVE for check in checks):
        outcome = Outcome.INCONCLUSIVE
    else:
        outcome = Outcome.PASS
    return WindowJudgement(outcome, checks, seconds or current.seconds)


def _error_rate(baseline: ColorWindow, current: ColorWindow, spec: JudgeSpec) -> MonitorCheck:
    base, now = baseline.error_rate, current.error_rate
    limit = None if base is None else min(1.0, base + spec.max_error_increase)
    return _check("error_rate", base, now, limit, baseline.requests, current.requests, spec.min_samples)


def _latency_p95(baseline: ColorWindow, current: ColorWindow, spec: JudgeSpec) -> MonitorCheck:
    base, now = percentile(baseline.latencies_ms, 95), percentile(current.latencies_ms, 95)
    limit = None if base is None else base * (1 + spec.max_latency_increase)
    return _check(
        "latency_p95", base, now, limit, len(baseline.latencies_ms), len(current.latencies_ms), spec.min_samples
    )


def _check(
    metric: MonitorMetric,
    base: float | None,
    now: float | None,
    limit: float | None,
    base_n: int,
    now_n: int,
    min_samples: int,
) -> MonitorCheck:
    if base is None or now is None or limit is None or base_n < min_samples or now_n < min_samples:
        outcome = Outcome.INCONCLUSIVE
    # isclose: 0.05 + 0.10 is 0.15000000000000002, and a release exactly at its limit is within it
    elif now > limit and not math.isclose(now, limit, rel_tol=1e-9, abs_tol=1e-12):
        outcome = Outcome.FAIL
    else:
        outcome = Outcome.PASS
    return MonitorCheck(metric, outcome, base, now, limit, base_n, now_n, min_samples)


@final
@dataclass(frozen=True)
class MonitorResult:
    """How the post-deploy window ended.

    FAIL: a breach (``judgement.breach``), alerted; the caller rolls back when ``rollback`` is true.
    PASS: the whole window was watched and its final judgement, over all of it, was within every limit.
    INCONCLUSIVE: the window ended without a breach but without that final judgement (too few samples,
    or the metric source failing at the end): fail closed, never a pass.
    """

    outcome: Outcome
    judgement: WindowJudgement | None  # the breach's, or the last one taken
    checks: int  # judgements taken
    seconds: float  # how long the monitor ran
    window_s: float
    rollback: bool  # rollout.canary.post_deploy.rollback: what the caller does on a breach
    reason: str
    alert: Alert | None = None
    delivery: Delivery | None = None  # None: no webhook configured (the alert is only reported)
    source_errors: tuple[str, ...] = ()  # at most the first and the last few, with how many in `reason`

    @property
    def breached(self) -> bool:
        return self.outcome is Outcome.FAIL

    @property
    def should_roll_back(self) -> bool:
        return self.breached and self.rollback

    def describe(self) -> str:
        lines = [f"post-deploy monitoring: {self.outcome.value}: {self.reason}"]
        if self.judgement is not None:
            lines.append(self.judgement.describe())
        if self.alert is not None:
            lines.append(self.delivery.describe() if self.delivery else "alert not sent: no webhook is configured")
        lines.extend(f"metric source: {error}" for error in self.source_errors)
        return "\n".join(lines)


_KEPT_ERRORS = 5


@final
class PostDeployMonitor:
    """Watches the release (all traffic on `color`) against `baseline` for ``spec.window_s``.

    `source` counts requests and errors; `latencies` gives the probe's latencies since an instant
    (:data:`LatenciesSince`). `clock` is monotonic ns (the marks' and the probe's clock), `sleep` takes
    seconds, `now` gives the UTC time for the alert: all injectable for tests. `on_check` sees each
    judgement (a progress line).
    """

    def __init__(
        self,
        source: MetricSource,
        latencies: LatenciesSince,
        *,
        baseline: ColorWindow,
        color: str,
        spec: PostDeploySpec,
        judge: JudgeSpec,
        environment: str,
        candidate: str,
        notifier: Notifier | None,
        clock: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = utc_now,
        on_check: Callable[[WindowJudgement], None] | None = None,
    ) -> None:
        self._source = source
        self._latencies = latencies
        self._baseline = baseline
        self._color = color
        self._spec = spec
        self._judge = judge
        self._environment = environment
        self._candidate = candidate
        self._notifier = notifier
        self._clock = clock
        self._sleep = sleep
        self._now = now
        self._on_check = on_check

    def watch(self, start: Mark | None = None) -> MonitorResult:
        """Judge every ``interval_s`` until ``window_s`` (counted from this call) has passed or a metric breaches.

        `start` is the source's mark when the release reached 100 %; without it, the mark taken now (or,
        if the source fails then, at the first check it answers).
        """
        began = self._clock()
        window_ns = int(self._spec.window_s * 1e9)
        interval_ns = max(1, int(self._spec.interval_s * 1e9))
        deadline = began + window_ns
        errors = _Errors()
        if start is None:
            start, error = self._mark()
            if error:
                errors.add(f"at the start: {error}")
        last: WindowJudgement | None = None
        last_at_end = False
        checks = 0
        # Bounded twice: by the deadline, and by a count of checks, so that a clock that stands still
        # (a broken fake, a suspended host) cannot keep it going.
        for _ in range(math.ceil(window_ns / interval_ns) + 1):
            now = self._clock()
            next_at = min(deadline, began + ((now - began) // interval_ns + 1) * interval_ns)
            if next_at > now:
                self._sleep((next_at - now) / 1e9)
            at_end = self._clock() >= deadline
            if start is None:  # the source failed at the start: the window begins when it answers
                start, error = self._mark()
                judgement = None
            else:
                judgement, error = self._check(start)
            if error:
                errors.add(error)
            if judgement is not None:
                checks += 1
                last, last_at_end = judgement, at_end
                if self._on_check is not None:
                    self._on_check(judgement)
                if judgement.breach is not None:
                    return self._breached(judgement, checks, began, errors.kept())
            if at_end:
                break
        return self._ended(last, last_at_end, checks, began, errors.kept(), errors.count)

    def _mark(self) -> tuple[Mark | None, str]:
        try:
            return self._source.mark(), ""
        except (AthaliaError, OSError) as exc:
            return None, f"{self._source.name}: {exc}"

    def _check(self, start: Mark) -> tuple[WindowJudgement | None, str]:
        try:
            end = self._source.mark()
            counted = self._source.window(start, end).get(self._color, ColorWindow(self._color, 0, 0))
            latencies = tuple(self._latencies(start.at_ns).get(self._color, ()))
        except (AthaliaError, OSError) as exc:
            return None, f"{self._source.name}: {exc}"
        seconds = max(0, end.at_ns - start.at_ns) / 1e9
        current = replace(counted, latencies_ms=latencies, seconds=seconds)
        return judge_window(self._baseline, current, self._judge, seconds=seconds), ""

    def _breached(self, judgement: WindowJudgement, checks: int, began: int, errors: tuple[str, ...]) -> MonitorResult:
        breach = judgement.breach
        if breach is None or breach.baseline is None or breach.current is None or breach.limit is None:
            raise RuntimeError(f"a breach has both values and a limit (see _check), found {breach!r}")
        action: Action = "rollback" if self._spec.rollback else "none"
        alert = Alert(
            environment=self._environment,
            candidate=self._candidate,
            metric=breach.metric,
            baseline=breach.baseline,
            current=breach.current,
            limit=breach.limit,
            baseline_samples=breach.baseline_samples,
            current_samples=breach.current_samples,
            watched_s=judgement.seconds,
            source=self._source.name,
            action=action,
            time=self._now(),
        )
        delivery = self._deliver(alert)
        return MonitorResult(
            Outcome.FAIL,
            judgement,
            checks,
            self._since(began),
            self._spec.window_s,
            self._spec.rollback,
            alert.describe(),
            alert,
            delivery,
            errors,
        )

    def _deliver(self, alert: Alert) -> Delivery | None:
        if self._notifier is None:
            return None
        try:
            return self._notifier.send(alert)
        except Exception as exc:  # a notifier must not raise; if one does, the breach still stands
            return Delivery(repr(self._notifier), False, 1, error=f"the notifier raised {type(exc).__name__}: {exc}")

    def _ended(
        self,
        last: WindowJudgement | None,
        last_at_end: bool,
        checks: int,
        began: int,
        errors: tuple[str, ...],
        error_count: int,
    ) -> MonitorResult:
        watched = f"{format_number(self._spec.window_s)} s watched, {checks} checks"
        times = "once" if error_count == 1 else f"{error_count} times"
        failures = f", the metric source failed {times}" if error_count else ""
        if last is None:
            outcome, reason = Outcome.INCONCLUSIVE, f"nothing could be judged ({watched}{failures})"
        elif not last_at_end:
            outcome = Outcome.INCONCLUSIVE
            reason = (
                f"the window's end was not judged: the last check covers {format_number(last.seconds)} s "
                f"({watched}{failures})"
            )
        elif last.outcome is Outcome.INCONCLUSIVE:
            outcome = Outcome.INCONCLUSIVE
            reason = f"not enough data by the window's end ({watched}{failures}); lengthen window_s or add load"
        else:
            judged = f"{format_number(last.seconds)} s since 100 % judged, {checks} checks"
            outcome, reason = Outcome.PASS, f"no breach ({judged}{failures})"
        return MonitorResult(
            outcome, last, checks, self._since(began), self._spec.window_s, self._spec.rollback, reason,
            source_errors=errors,
        )  # fmt: skip

    def _since(self, began: int) -> float:
        return max(0, self._clock() - began) / 1e9


@final
class _Errors:
    """The metric source's failures: a source down for an hour fails thousands of times, so keep how it
    began (the first) and how it stands (the last few), and the count."""

    def __init__(self) -> None:
        self.count = 0
        self._first: str | None = None
        self._latest: deque[str] = deque(maxlen=_KEPT_ERRORS - 1)

    def add(self, error: str) -> None:
        self.count += 1
        if self._first is None:
            self._first = error
        else:
            self._latest.append(error)

    def kept(self) -> tuple[str, ...]:
        first = () if self._first is None else (self._first,)
        skipped = self.count - len(first) - len(self._latest)
        return (*first, *([f"... {skipped} more ..."] if skipped else []), *self._latest)


def _figure(value: float | None, unit: str) -> str:
    return "none" if value is None else format_metric(value, unit)
