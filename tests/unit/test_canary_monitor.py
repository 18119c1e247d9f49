"""Post-deploy monitoring: the pure window verdict, and the loop with a fake source, clock and notifier."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from pytest_athalia._errors import RouterError
from pytest_athalia.canary._metrics import ColorWindow, Mark
from pytest_athalia.canary._monitor import MonitorResult, PostDeployMonitor, WindowJudgement, judge_window
from pytest_athalia.config._canary import JudgeSpec, PostDeploySpec
from pytest_athalia.report._slo import Outcome
from pytest_athalia.testing import FakeNotifier

SPEC = JudgeSpec(min_samples=10)
SECOND = 1_000_000_000


def window(requests: int, errors: int = 0, latency: float = 100.0, n: int | None = None) -> ColorWindow:
    """`requests` with `errors` among them; `n` latencies (default: one per request) all at `latency` ms."""
    return ColorWindow("blue", requests, errors, (latency,) * (requests if n is None else n), 10.0)


def check(judgement: WindowJudgement, metric: str) -> tuple[object, ...]:
    """(outcome, baseline, current, limit) of one metric."""
    found = next(c for c in judgement.checks if c.metric == metric)
    return found.outcome, found.baseline, found.current, found.limit


# -- the pure verdict ----------------------------------------------------------------------------------


def test_within_both_limits_is_a_pass() -> None:
    """Errors under baseline + 10 points and p95 under baseline x 1.2 pass, with the figures."""
    judgement = judge_window(window(100, 5, 100.0), window(100, 10, 110.0), SPEC)
    assert judgement.outcome is Outcome.PASS
    assert judgement.breach is None
    assert check(judgement, "error_rate") == (Outcome.PASS, 0.05, 0.10, pytest.approx(0.15))
    assert check(judgement, "latency_p95") == (Outcome.PASS, 100.0, 110.0, pytest.approx(120.0))


def test_errors_above_baseline_plus_the_increase_breach() -> None:
    """16 % errors against 5 % + 10 points is a breach of error_rate, named with both values and the limit."""
    judgement = judge_window(window(100, 5), window(100, 16), SPEC)
    assert judgement.outcome is Outcome.FAIL
    assert judgement.breach is not None
    assert judgement.breach.metric == "error_rate"
    assert judgement.breach.describe() == (
        "error_rate: current 16.00%, limit 15.00% (baseline 5.00%; samples 100 current, 100 baseline): BREACH"
    )


def test_p95_above_baseline_times_the_increase_breaches() -> None:
    """A p95 of 121 ms against 100 ms x 1.2 is a breach of latency_p95; errors alone are within."""
    judgement = judge_window(window(100, 0, 100.0), window(100, 0, 121.0), SPEC)
    assert judgement.outcome is Outcome.FAIL
    assert check(judgement, "latency_p95") == (Outcome.FAIL, 100.0, 121.0, pytest.approx(120.0))
    assert check(judgement, "error_rate")[0] is Outcome.PASS
    assert "latency_p95: current 121 ms, limit 120 ms (baseline 100 ms" in judgement.describe()


def test_p95_is_judged_not_the_mean() -> None:
    """Six slow requests in a hundred move the p95 past the limit although the mean barely moves."""
    slow = ColorWindow("green", 100, 0, (100.0,) * 94 + (500.0,) * 6)
    assert judge_window(window(100), slow, SPEC).outcome is Outcome.FAIL
    few_slow = ColorWindow("green", 100, 0, (100.0,) * 96 + (500.0,) * 4)
    assert judge_window(window(100), few_slow, SPEC).outcome is Outcome.PASS


@pytest.mark.parametrize(
    ("baseline", "current"),
    [(window(100, 5, 100.0), window(100, 15, 120.0)), (window(200, 10, 50.0), window(200, 10, 50.0))],
    ids=["exactly-at-the-limits", "equal-values"],
)
def test_values_at_the_limit_or_equal_to_the_baseline_are_within(baseline: ColorWindow, current: ColorWindow) -> None:
    """A breach is strictly above the limit: 0.05 + 0.10 against 15/100 is no breach, whatever floats say."""
    assert judge_window(baseline, current, SPEC).outcome is Outcome.PASS


def test_the_error_limit_never_exceeds_one() -> None:
    """A baseline at 95 % errors gives a limit of 100 %, not 105 %: every request failing is still within."""
    judgement = judge_window(window(100, 95), window(100, 100), SPEC)
    assert check(judgement, "error_rate") == (Outcome.PASS, 0.95, 1.0, 1.0)


@pytest.mark.parametrize(
    ("baseline", "current", "missing"),
    [
        (window(100), window(9), "(current 9 < 10 required)"),
        (window(9), window(100), "(baseline 9 < 10 required)"),
        (window(5), window(0), "(baseline 5 and current 0 < 10 required)"),
    ],
    ids=["current", "baseline", "both"],
)
def test_too_few_samples_is_not_enough_data_never_a_pass(
    baseline: ColorWindow, current: ColorWindow, missing: str
) -> None:
    """Below min_samples on either side: inconclusive ("not enough data yet"), even when far within the limits."""
    judgement = judge_window(baseline, current, SPEC)
    assert judgement.outcome is Outcome.INCONCLUSIVE
    assert judgement.breach is None
    assert "not enough data yet" in judgement.describe()
    assert missing in judgement.describe()


def test_too_few_samples_is_never_a_breach_either() -> None:
    """Nine requests that all failed are not enough data: no breach on them."""
    judgement = judge_window(window(100, 0), window(9, 9), SPEC)
    assert check(judgement, "error_rate")[0] is Outcome.INCONCLUSIVE
    assert judgement.breach is None


def test_a_breach_wins_over_a_metric_short_of_data() -> None:
    """Enough requests to see errors breach, too few latencies to judge p95: still a breach."""
    judgement = judge_window(window(100, 0), window(100, 50, n=3), SPEC)
    assert judgement.outcome is Outcome.FAIL
    assert check(judgement, "latency_p95")[0] is Outcome.INCONCLUSIVE


# -- the loop ------------------------------------------------------------------------------------------


@dataclass
class Clock:
    """Monotonic ns that only sleep() moves, plus the sleeps asked for."""

    ns: int = 1_000 * SECOND
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> int:
        return self.ns

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.ns += round(seconds * SECOND)


@dataclass
class Source:
    """A metric source whose green counters at `t` seconds are `counts(t)` (requests, errors); `fail(t)` raises."""

    clock: Clock
    counts: Callable[[float], tuple[float, float]]
    fail: Callable[[float], bool] = lambda t: False
    name: str = "fake"
    marks: int = 0

    def mark(self) -> Mark:
        self.marks += 1
        t = (self.clock.ns - Clock.ns) / SECOND
        if self.fail(t):
            raise RouterError(f"the fake source does not answer at {t:g} s")
        requests, errors = self.counts(t)
        return Mark(self.clock.ns, {"green": (round(requests), round(errors)), "blue": (0, 0)})

    def window(self, start: Mark, end: Mark) -> Mapping[str, ColorWindow]:
        return {
            color: ColorWindow(color, end.counters[color][0] - r0, end.counters[color][1] - e0)
            for color, (r0, e0) in start.counters.items()
        }


def latencies(
    clock: Clock, ms: Callable[[float], float], per_second: int = 50
) -> Callable[[int], Mapping[str, Sequence[float]]]:
    """The probe's latencies since an instant: `per_second` requests a second at `ms(t)`."""

    def since(start_ns: int) -> Mapping[str, Sequence[float]]:
        seconds = (clock.ns - start_ns) / SECOND
        t = (clock.ns - Clock.ns) / SECOND
        return {"green": [ms(t)] * round(per_second * seconds)}

    return since


BASELINE = ColorWindow("blue", 1000, 10, (100.0,) * 1000, 20.0)  # 1 % errors, p95 100 ms
WHEN = datetime(2026, 12, 4, 21, 30, 5, 123000, tzinfo=UTC)


def monitor(
    clock: Clock,
    source: Source,
    *,
    ms: Callable[[float], float] = lambda t: 100.0,
    notifier: FakeNotifier | None = None,
    rollback: bool = True,
    seen: list[WindowJudgement] | None = None,
) -> MonitorResult:
    spec = PostDeploySpec(window_s=10, interval_s=1, rollback=rollback)
    return PostDeployMonitor(
        source,
        latencies(clock, ms),
        baseline=BASELINE,
        color="green",
        spec=spec,
        judge=SPEC,
        environment="dev",
        candidate="v2 on green",
        notifier=notifier,
        clock=clock,
        sleep=clock.sleep,
        now=lambda: WHEN,
        on_check=None if seen is None else seen.append,
    ).watch()


def test_a_clean_window_is_watched_to_its_end_and_passes_with_the_figures() -> None:
    """Ten checks a second apart, no alert, a pass whose judgement covers the whole 10 s."""
    clock, notifier, seen = Clock(), FakeNotifier(), list[WindowJudgement]()
    result = monitor(clock, Source(clock, lambda t: (50 * t, 0)), notifier=notifier, seen=seen)
    assert result.outcome is Outcome.PASS
    assert (result.checks, result.seconds, clock.sleeps) == (10, 10.0, [1.0] * 10)
    assert result.judgement is not None
    assert result.judgement.seconds == 10.0
    assert check(result.judgement, "error_rate") == (Outcome.PASS, 0.01, 0.0, pytest.approx(0.11))
    assert [j.outcome for j in seen] == [Outcome.PASS] * 10
    assert notifier.alerts == []
    assert (result.alert, result.delivery, result.breached, result.should_roll_back) == (None, None, False, False)
    assert result.describe().startswith("post-deploy monitoring: pass: no breach (10 s since 100 % judged, 10 checks)")


def test_the_first_breach_alerts_once_and_returns_at_that_check() -> None:
    """Errors that start at 3 s cross the limit at the check where the rate since 100 % does: alert, stop."""
    clock, notifier = Clock(), FakeNotifier()
    # 50 requests a second, 20 of them failing from 3 s on: 10 % at the 4 s check (within 11 %), 16 % at 5 s
    source = Source(clock, lambda t: (50 * t, max(0, 20 * (t - 3))))
    result = monitor(clock, source, notifier=notifier)
    assert result.outcome is Outcome.FAIL
    assert result.checks == 5
    assert clock.sleeps == [1.0] * 5  # it stopped at the breach, not at the window's end
    assert result.should_roll_back
    assert len(notifier.alerts) == 1
    alert = notifier.alerts[0]
    figures: tuple[object, ...] = (alert.metric, alert.baseline, alert.current, alert.limit)
    assert figures == ("error_rate", 0.01, 0.16, pytest.approx(0.11))
    assert (alert.baseline_samples, alert.current_samples, alert.watched_s) == (1000, 250, 5.0)
    assert (alert.environment, alert.candidate, alert.source, alert.action, alert.time) == (
        "dev", "v2 on green", "fake", "rollback", WHEN,
    )  # fmt: skip
    assert result.alert == alert
    assert result.delivery is not None
    assert result.delivery.delivered
    assert "error_rate 16.00% > limit 11.00%" in result.describe()


def test_a_latency_breach_alerts_with_rollback_false_as_action_none() -> None:
    """p95 at 130 ms from 2 s on breaches at the next check; with rollback: false the alert says action none."""
    clock, notifier = Clock(), FakeNotifier()
    result = monitor(
        clock, Source(clock, lambda t: (50 * t, 0)), ms=lambda t: 130.0 if t >= 2 else 100.0, notifier=notifier,
        rollback=False,
    )  # fmt: skip
    assert result.outcome is Outcome.FAIL
    assert result.checks == 2
    assert (result.rollback, result.should_roll_back) == (False, False)
    assert notifier.alerts[0].metric == "latency_p95"
    assert notifier.alerts[0].action == "none"
    assert "not rolling back (rollback: false)" in result.describe()


def test_a_breach_without_a_webhook_is_reported_not_sent() -> None:
    """No notifier: the breach and its alert are in the result, and the result says it was not sent."""
    clock = Clock()
    result = monitor(clock, Source(clock, lambda t: (50 * t, 25 * t)))
    assert result.outcome is Outcome.FAIL
    assert (result.alert is not None, result.delivery) == (True, None)
    assert "alert not sent: no webhook is configured" in result.describe()


@pytest.mark.parametrize("delivered", [False, None], ids=["not-delivered", "notifier-raises"])
def test_a_failed_delivery_is_visible_but_the_breach_stands(delivered: bool | None) -> None:
    """A receiver that is down, or a notifier that raises, changes nothing in the verdict; the result shows it."""
    clock = Clock()
    notifier = (
        FakeNotifier(delivered=False) if delivered is False else FakeNotifier(error=RuntimeError("socket closed"))
    )
    result = monitor(clock, Source(clock, lambda t: (50 * t, 25 * t)), notifier=notifier)
    assert (result.outcome, result.should_roll_back) == (Outcome.FAIL, True)
    assert result.delivery is not None
    assert not result.delivery.delivered
    assert "alert NOT delivered" in result.describe()
    if delivered is None:
        assert "the notifier raised RuntimeError: socket closed" in result.describe()


def test_too_little_traffic_ends_inconclusive_never_a_pass() -> None:
    """Half a request a second: 5 requests by the window's end, short of 10, so not enough data."""
    clock = Clock()
    result = monitor(clock, Source(clock, lambda t: (0.5 * t, 0)))
    assert result.outcome is Outcome.INCONCLUSIVE
    assert result.checks == 10
    assert "not enough data by the window's end" in result.reason


def test_source_errors_are_reported_and_the_checks_go_on() -> None:
    """The source fails from 3 to 6 s: those checks are skipped and reported; the window still passes at its end."""
    clock = Clock()
    result = monitor(clock, Source(clock, lambda t: (50 * t, 0), fail=lambda t: 3 <= t < 6))
    assert result.outcome is Outcome.PASS
    assert result.checks == 7
    assert "the metric source failed 3 times" in result.reason
    assert result.source_errors[0] == "fake: the fake source does not answer at 3 s"
    assert len(result.source_errors) == 3


def test_a_source_failing_at_the_end_leaves_the_window_unjudged() -> None:
    """Passing until 8 s then down: the last judgement covers 8 s of 10, so it is inconclusive, not a pass."""
    clock = Clock()
    result = monitor(clock, Source(clock, lambda t: (50 * t, 0), fail=lambda t: t >= 9))
    assert result.outcome is Outcome.INCONCLUSIVE
    assert "the window's end was not judged: the last check covers 8 s" in result.reason


def test_a_source_down_from_the_start_gives_nothing_judged_and_bounded_errors() -> None:
    """No mark ever: 11 failures (the start and 10 checks), kept as the first, a count, and the last four."""
    clock = Clock()
    result = monitor(clock, Source(clock, lambda t: (50 * t, 0), fail=lambda t: True))
    assert result.outcome is Outcome.INCONCLUSIVE
    assert result.checks == 0
    assert "nothing could be judged" in result.reason
    assert "failed 11 times" in result.reason
    assert result.source_errors[0].startswith("at the start: fake:")
    assert result.source_errors[1] == "... 6 more ..."
    assert len(result.source_errors) == 6


def test_a_source_back_after_the_start_begins_the_window_then() -> None:
    """The start mark fails; the next check takes it, and the window is judged from there."""
    clock = Clock()
    result = monitor(clock, Source(clock, lambda t: (50 * t, 0), fail=lambda t: t == 0))
    assert result.outcome is Outcome.PASS
    assert result.checks == 9
    assert result.judgement is not None
    assert result.judgement.seconds == 9.0
    assert result.reason == "no breach (9 s since 100 % judged, 9 checks, the metric source failed once)"


def test_a_clock_that_stands_still_cannot_keep_it_going() -> None:
    """A sleep that does not move the clock: the loop still ends, after window/interval + 1 checks."""
    clock = Clock()
    source = Source(clock, lambda t: (50 * t, 0))
    result = PostDeployMonitor(
        source, latencies(clock, lambda t: 100.0), baseline=BASELINE, color="green",
        spec=PostDeploySpec(window_s=10, interval_s=1), judge=SPEC, environment="dev", candidate="v2",
        notifier=None, clock=clock, sleep=lambda s: None,
    ).watch()  # fmt: skip
    assert result.checks == 11
    assert result.outcome is Outcome.INCONCLUSIVE  # never reached the window's end


def test_slow_checks_skip_missed_ticks_and_never_sleep_past_the_deadline() -> None:
    """A check that takes 2.5 s: the next one waits for the next whole interval, the last is at 10 s exactly."""
    clock = Clock()
    source = Source(clock, lambda t: (50 * t, 0))
    real_mark = source.mark

    def slow_mark() -> Mark:
        clock.ns += round(2.5 * SECOND)
        return real_mark()

    source.mark = slow_mark  # type: ignore[method-assign]
    result = PostDeployMonitor(
        source, latencies(clock, lambda t: 100.0), baseline=BASELINE, color="green",
        spec=PostDeploySpec(window_s=10, interval_s=1), judge=SPEC, environment="dev", candidate="v2",
        notifier=None, clock=clock, sleep=clock.sleep,
    ).watch(start=Mark(clock.ns, {"green": (0, 0)}))  # fmt: skip
    assert clock.sleeps == [1.0, 0.5, 0.5, 0.5]  # checks start at 1, 4, 7 and 10 s
    assert result.outcome is Outcome.PASS
    assert result.checks == 4
