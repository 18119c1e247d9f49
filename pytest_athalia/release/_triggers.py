"""The four automatic-rollback triggers, as pure functions over frozen samples.

Each trigger judges the samples that *ended* within a sliding window ``(now - window, now]`` and
returns a :class:`TriggerResult`:

- ``FIRED``: the candidate breached the threshold; the rollout rolls back.
- ``QUIET``: enough samples, no breach.
- ``INSUFFICIENT``: fewer samples than the trigger's minimum. A trigger never fires on too little
  data (one slow request must not roll back a release), and a release is never judged healthy on
  it either: the gates treat ``INSUFFICIENT`` as inconclusive, which fails (fail closed).

Probe samples count for a color when that color answered them, and also when nothing did (a
transport error, or a router error without the color header): once the candidate takes traffic,
an unattributed failure is the release's too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from ..config._rollout import TriggersSpec
from ..report._slo import format_number, percentile
from ._traffic import ProbeSample

__all__ = [
    "CheckSample",
    "TriggerResult",
    "TriggerState",
    "error_rate_trigger",
    "evaluate_triggers",
    "external_trigger",
    "health_trigger",
    "latency_trigger",
]


class TriggerState(Enum):
    FIRED = "fired"
    QUIET = "quiet"
    INSUFFICIENT = "insufficient"


@dataclass(frozen=True)
class CheckSample:
    """One health check or external-signal poll; `ok` is None when it got no usable answer."""

    source: str  # "health", "router" or "external"
    start_ns: int
    end_ns: int
    ok: bool | None
    detail: str = ""


@dataclass(frozen=True)
class TriggerResult:
    """A trigger's judgement at `at_ns`: the measured value against its threshold over the window."""

    trigger: str
    state: TriggerState
    value: float | None
    threshold: float
    unit: str
    samples: int
    window_ms: float
    at_ns: int
    first_bad_ns: int | None = None  # when the first bad observation ended (for the detection time)
    reason: str = ""

    @property
    def fired(self) -> bool:
        return self.state is TriggerState.FIRED

    def describe(self) -> str:
        """One line: trigger, measured value, threshold, unit, sample count and window."""
        value = "nothing" if self.value is None else f"{format_number(self.value, 1)} {self.unit}"
        threshold = format_number(self.threshold, 1)
        text = (
            f"{self.trigger} trigger {self.state.value}: measured {value}, threshold > {threshold} "
            f"{self.unit}, {self.samples} sample{'' if self.samples == 1 else 's'} in the last "
            f"{format_number(self.window_ms, 1)} ms"
        )
        return f"{text} ({self.reason})" if self.reason else text


def _windowed(samples: Sequence[ProbeSample], color: str, now_ns: int, window_ms: float) -> list[ProbeSample]:
    start = now_ns - int(window_ms * 1e6)
    return [s for s in samples if start < s.end_ns <= now_ns and s.color in (color, None)]


def error_rate_trigger(
    samples: Sequence[ProbeSample],
    *,
    color: str,
    now_ns: int,
    window_ms: float,
    max_ratio: float,
    min_samples: int,
) -> TriggerResult:
    """Fires when the share of failed requests of `color` in the window exceeds `max_ratio`."""
    window = _windowed(samples, color, now_ns, window_ms)
    first_bad = next((s.end_ns for s in samples if s.color in (color, None) and not s.ok), None)
    if len(window) < min_samples:
        return TriggerResult(
            "error_rate",
            TriggerState.INSUFFICIENT,
            None,
            max_ratio,
            "ratio",
            len(window),
            window_ms,
            now_ns,
            first_bad,
            f"too few samples: {len(window)} < {min_samples} required",
        )
    ratio = sum(not s.ok for s in window) / len(window)
    state = TriggerState.FIRED if ratio > max_ratio else TriggerState.QUIET
    return TriggerResult("error_rate", state, ratio, max_ratio, "ratio", len(window), window_ms, now_ns, first_bad)


def latency_trigger(
    samples: Sequence[ProbeSample],
    *,
    color: str,
    now_ns: int,
    window_ms: float,
    max_p95_ms: float,
    min_samples: int,
) -> TriggerResult:
    """Fires when the p95 latency of `color`'s requests in the window exceeds `max_p95_ms`."""
    window = _windowed(samples, color, now_ns, window_ms)
    first_bad = next((s.end_ns for s in samples if s.color in (color, None) and s.latency_ms > max_p95_ms), None)
    if len(window) < min_samples:
        return TriggerResult(
            "latency",
            TriggerState.INSUFFICIENT,
            None,
            max_p95_ms,
            "ms",
            len(window),
            window_ms,
            now_ns,
            first_bad,
            f"too few samples: {len(window)} < {min_samples} required",
        )
    p95 = percentile([s.latency_ms for s in window], 95)
    assert p95 is not None  # the window is not empty
    state = TriggerState.FIRED if p95 > max_p95_ms else TriggerState.QUIET
    return TriggerResult("latency", state, p95, max_p95_ms, "ms", len(window), window_ms, now_ns, first_bad)


def health_trigger(checks: Sequence[CheckSample], *, now_ns: int, window_ms: float, max_failures: int) -> TriggerResult:
    """Fires when the last `max_failures` checks of one source in the window all failed.

    Sources are judged apart: the direct health check (where no answer at all is a failure, see
    :func:`pytest_athalia.release._signals.http_check`) and the router's status (DOWN or MAINT). Checks with
    ``ok`` None (the router's stats could not be read) are left out. Value: the longest run of
    failed checks at the end of any source's window; samples: the checks counted.
    """
    start = now_ns - int(window_ms * 1e6)
    ordered = sorted((c for c in checks if c.ok is not None), key=lambda c: c.end_ns)
    window = [c for c in ordered if start < c.end_ns <= now_ns]
    first_bad = next((c.end_ns for c in ordered if c.ok is False), None)
    by_source: dict[str, list[CheckSample]] = {}
    for check in window:
        by_source.setdefault(check.source, []).append(check)
    if not any(len(series) >= max_failures for series in by_source.values()):
        return TriggerResult(
            "health",
            TriggerState.INSUFFICIENT,
            None,
            max_failures - 1,
            "failed checks",
            len(window),
            window_ms,
            now_ns,
            first_bad,
            f"too few checks: fewer than {max_failures} from any source",
        )
    streak, worst = 0, None
    for series in by_source.values():
        run = 0
        for check in reversed(series):
            if check.ok:
                break
            run += 1
        if run > streak:
            streak, worst = run, series[-1]
    state = TriggerState.FIRED if streak >= max_failures else TriggerState.QUIET
    reason = f"last failure: {worst.detail}" if state is TriggerState.FIRED and worst is not None else ""
    return TriggerResult(
        "health",
        state,
        float(streak),
        max_failures - 1,
        "failed checks",
        len(window),
        window_ms,
        now_ns,
        first_bad,
        reason,
    )


def external_trigger(checks: Sequence[CheckSample], *, now_ns: int, window_ms: float) -> TriggerResult:
    """Fires when the newest answered poll of the external signal in the window says roll back.

    Polls without an answer (`ok` None) are not counted: a broken complaints desk is no reason to
    roll back, but with no answered poll in the window the trigger is INSUFFICIENT (fail closed).
    Value: 1 when the signal says roll back, else 0.
    """
    start = now_ns - int(window_ms * 1e6)
    answered = sorted((c for c in checks if start < c.end_ns <= now_ns and c.ok is not None), key=lambda c: c.end_ns)
    first_bad = next((c.end_ns for c in sorted(checks, key=lambda c: c.end_ns) if c.ok is False), None)
    if not answered:
        return TriggerResult(
            "external",
            TriggerState.INSUFFICIENT,
            None,
            0,
            "signal",
            0,
            window_ms,
            now_ns,
            first_bad,
            "no answered poll of the external signal in the window",
        )
    newest = answered[-1]
    fired = newest.ok is False
    return TriggerResult(
        "external",
        TriggerState.FIRED if fired else TriggerState.QUIET,
        1.0 if fired else 0.0,
        0,
        "signal",
        len(answered),
        window_ms,
        now_ns,
        first_bad,
        f"the signal answered: {newest.detail}" if fired and newest.detail else "",
    )


def evaluate_triggers(
    spec: TriggersSpec,
    *,
    color: str,
    samples: Sequence[ProbeSample],
    health: Sequence[CheckSample],
    external: Sequence[CheckSample],
    now_ns: int,
) -> tuple[TriggerResult, ...]:
    """Every enabled trigger of `spec` at `now_ns` (the external one only when a URL or command is set)."""
    results = []
    if spec.error_rate.enabled:
        results.append(
            error_rate_trigger(
                samples,
                color=color,
                now_ns=now_ns,
                window_ms=spec.window_ms,
                max_ratio=spec.error_rate.max_ratio,
                min_samples=spec.error_rate.min_samples,
            )
        )
    if spec.latency.enabled:
        results.append(
            latency_trigger(
                samples,
                color=color,
                now_ns=now_ns,
                window_ms=spec.window_ms,
                max_p95_ms=spec.latency.max_p95_ms,
                min_samples=spec.latency.min_samples,
            )
        )
    if spec.health.enabled:
        results.append(
            health_trigger(health, now_ns=now_ns, window_ms=spec.window_ms, max_failures=spec.health.max_failures)
        )
    if spec.external.configured:
        # A poll takes up to its timeout: the window holds a few of them whatever window_ms says.
        window = max(spec.window_ms, 4 * spec.external.interval_ms + spec.external.timeout_ms)
        results.append(external_trigger(external, now_ns=now_ns, window_ms=window))
    return tuple(results)
