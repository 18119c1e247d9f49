"""The four rollback triggers: pure functions over synthetic samples, failing closed on thin data."""

from __future__ import annotations

import pytest

from pytest_athalia.config._rollout import (
    ErrorRateTrigger,
    ExternalTrigger,
    HealthTrigger,
    LatencyTrigger,
    TriggersSpec,
)
from pytest_athalia.release._traffic import ProbeSample
from pytest_athalia.release._triggers import (
    CheckSample,
    TriggerState,
    error_rate_trigger,
    evaluate_triggers,
    external_trigger,
    health_trigger,
    latency_trigger,
)

MS = 1_000_000
NOW = 10_000 * MS


def probe(end_ms: float, status: int | None = 200, color: str | None = "green", latency_ms: float = 5) -> ProbeSample:
    """A probe sample that ended at `end_ms` (before NOW = 10 s) and took `latency_ms`."""
    end = int(end_ms * MS)
    return ProbeSample(end - int(latency_ms * MS), end, status, color, "" if status else "ConnectionResetError")


def check(end_ms: float, ok: bool | None, source: str = "health") -> CheckSample:
    """A health or external check that ended at `end_ms`."""
    end = int(end_ms * MS)
    return CheckSample(source, end - MS, end, ok, "answered 503" if ok is False else "answered 200")


def test_error_rate_fires_above_the_threshold_and_names_the_numbers() -> None:
    """10 failures out of 100 in the window is 0.1 > 0.05: it fires and says value, threshold and samples."""
    samples = [probe(9_001 + i * 5, 500 if i % 10 == 0 else 200) for i in range(100)]
    result = error_rate_trigger(samples, color="green", now_ns=NOW, window_ms=1000, max_ratio=0.05, min_samples=50)
    assert result.state is TriggerState.FIRED
    assert result.value == pytest.approx(0.1)
    assert result.samples == 100
    assert result.first_bad_ns == samples[0].end_ns
    assert result.describe() == (
        "error_rate trigger fired: measured 0.1 ratio, threshold > 0.05 ratio, 100 samples in the last 1000 ms"
    )


def test_error_rate_at_the_threshold_stays_quiet() -> None:
    """Exactly the threshold does not fire: the trigger fires strictly above it."""
    samples = [probe(9_500 + i, 500 if i < 5 else 200) for i in range(100)]
    result = error_rate_trigger(samples, color="green", now_ns=NOW, window_ms=1000, max_ratio=0.05, min_samples=50)
    assert result.state is TriggerState.QUIET
    assert result.value == pytest.approx(0.05)


def test_error_rate_never_fires_on_too_few_samples() -> None:
    """49 all-failed samples with min_samples 50 are insufficient: no rollback on thin data, and no value."""
    samples = [probe(9_500 + i, 500) for i in range(49)]
    result = error_rate_trigger(samples, color="green", now_ns=NOW, window_ms=1000, max_ratio=0.05, min_samples=50)
    assert result.state is TriggerState.INSUFFICIENT
    assert result.value is None
    assert "too few samples: 49 < 50 required" in result.describe()


def test_error_rate_counts_the_color_and_unattributed_failures_only() -> None:
    """Blue's failures do not count against green; transport errors (no color) do."""
    samples = [probe(9_500 + i, 500, color="blue") for i in range(50)]
    samples += [probe(9_600 + i, 200) for i in range(45)] + [probe(9_700 + i, None, color=None) for i in range(5)]
    result = error_rate_trigger(samples, color="green", now_ns=NOW, window_ms=1000, max_ratio=0.01, min_samples=50)
    assert result.samples == 50
    assert result.value == pytest.approx(0.1)
    assert result.fired


def test_error_rate_forgets_samples_outside_the_window() -> None:
    """Failures that ended before the window do not count."""
    samples = [probe(8_000 + i, 500) for i in range(100)] + [probe(9_500 + i) for i in range(60)]
    result = error_rate_trigger(samples, color="green", now_ns=NOW, window_ms=1000, max_ratio=0.05, min_samples=50)
    assert result.state is TriggerState.QUIET
    assert result.samples == 60


def test_latency_fires_on_p95_above_threshold() -> None:
    """p95 of 20 samples, 2 of them 400 ms, is 400 ms > 250 ms: fires; first bad is the first slow one."""
    samples = [probe(9_100 + i * 40, latency_ms=400 if i in (3, 11) else 20) for i in range(20)]
    result = latency_trigger(samples, color="green", now_ns=NOW, window_ms=1000, max_p95_ms=250, min_samples=10)
    assert result.state is TriggerState.FIRED
    assert result.value == pytest.approx(400)
    assert result.first_bad_ns == samples[3].end_ns


def test_latency_quiet_below_threshold_and_insufficient_when_thin() -> None:
    """Fast answers are quiet; 9 slow answers with min_samples 10 do not fire."""
    fast = [probe(9_500 + i, latency_ms=20) for i in range(30)]
    assert latency_trigger(fast, color="green", now_ns=NOW, window_ms=1000, max_p95_ms=250, min_samples=10).state is (
        TriggerState.QUIET
    )
    slow = [probe(9_500 + i, latency_ms=900) for i in range(9)]
    result = latency_trigger(slow, color="green", now_ns=NOW, window_ms=1000, max_p95_ms=250, min_samples=10)
    assert result.state is TriggerState.INSUFFICIENT


def test_health_fires_after_consecutive_failures() -> None:
    """Three failed checks in a row fire with max_failures 3; the reason carries the last failure."""
    checks = [check(9_500, True), check(9_600, False), check(9_700, False), check(9_800, False)]
    result = health_trigger(checks, now_ns=NOW, window_ms=1000, max_failures=3)
    assert result.state is TriggerState.FIRED
    assert result.value == 3
    assert result.first_bad_ns == checks[1].end_ns
    assert "answered 503" in result.reason


def test_health_recovery_breaks_the_streak() -> None:
    """A success after two failures keeps the trigger quiet."""
    checks = [check(9_500, False), check(9_600, False), check(9_700, True)]
    result = health_trigger(checks, now_ns=NOW, window_ms=1000, max_failures=2)
    assert result.state is TriggerState.QUIET
    assert result.value == 0


def test_health_judges_each_source_apart() -> None:
    """The router saying UP does not hide failing direct checks, and unknown router states are left out."""
    checks = [check(9_100 + i * 100, False) for i in range(3)]
    checks += [check(9_150 + i * 100, True, "router") for i in range(3)] + [check(9_900, None, "router")]
    result = health_trigger(checks, now_ns=NOW, window_ms=1000, max_failures=3)
    assert result.state is TriggerState.FIRED
    assert result.samples == 6


def test_health_router_down_fires() -> None:
    """The router marking the candidate DOWN is a failed health check."""
    checks = [check(9_500 + i * 100, False, "router") for i in range(2)]
    assert health_trigger(checks, now_ns=NOW, window_ms=1000, max_failures=2).fired


def test_health_with_too_few_checks_is_insufficient() -> None:
    """Two checks cannot show three consecutive failures: insufficient, not quiet."""
    result = health_trigger([check(9_500, False), check(9_600, False)], now_ns=NOW, window_ms=1000, max_failures=3)
    assert result.state is TriggerState.INSUFFICIENT


def test_external_follows_the_newest_answer() -> None:
    """The newest answered poll decides; unanswered polls are skipped."""
    complained = [check(9_500, True, "external"), check(9_600, False, "external"), check(9_700, None, "external")]
    result = external_trigger(complained, now_ns=NOW, window_ms=1000)
    assert result.fired
    assert result.value == 1
    assert result.first_bad_ns == complained[1].end_ns
    calm = [check(9_500, False, "external"), check(9_600, True, "external")]
    assert external_trigger(calm, now_ns=NOW, window_ms=1000).state is TriggerState.QUIET


def test_external_without_an_answer_is_insufficient() -> None:
    """A complaints desk that never answers is no reason to roll back, nor to call the release healthy."""
    result = external_trigger([check(9_500, None, "external")], now_ns=NOW, window_ms=1000)
    assert result.state is TriggerState.INSUFFICIENT
    assert result.value is None


def test_evaluate_triggers_skips_disabled_and_unconfigured_triggers() -> None:
    """Disabled triggers and an external signal without url or command are not evaluated."""
    spec = TriggersSpec(
        error_rate=ErrorRateTrigger(enabled=False),
        latency=LatencyTrigger(min_samples=1),
        health=HealthTrigger(enabled=False),
    )
    results = evaluate_triggers(spec, color="green", samples=[probe(9_900)], health=[], external=[], now_ns=NOW)
    assert [r.trigger for r in results] == ["latency"]
    spec = TriggersSpec(external=ExternalTrigger(url="http://127.0.0.1:9/complaints"))
    results = evaluate_triggers(spec, color="green", samples=[], health=[], external=[], now_ns=NOW)
    assert [r.trigger for r in results] == ["error_rate", "latency", "health", "external"]
