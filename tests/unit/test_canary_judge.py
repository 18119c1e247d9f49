"""The canary judge: published values of its tests, every outcome path, and simulated good and bad canaries."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from math import comb
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_athalia.canary import _judge
from pytest_athalia.canary._judge import (
    Judgement,
    MetricJudgement,
    fisher_greater,
    judge,
    lower_bound_rank,
    mann_whitney_greater,
    overall,
)
from pytest_athalia.canary._metrics import ColorWindow
from pytest_athalia.config._canary import JudgeSpec
from pytest_athalia.report._slo import Outcome

# confidence 0.98, min_samples 50, +0.10 errors, +20 % latency; no absolute floor, so the relative rule is seen
SPEC = JudgeSpec(min_latency_increase_ms=0)
UNIFORM_MS = tuple(10 + i * 0.01 for i in range(1000))  # 10.00 .. 19.99 ms: p95 19.49, p99 19.89


def window(color: str, requests: int, errors: int = 0, latencies: tuple[float, ...] | None = None) -> ColorWindow:
    return ColorWindow(color, requests, errors, UNIFORM_MS[:requests] if latencies is None else latencies)


def metric(judgement: Judgement, name: str) -> MetricJudgement:
    return next(m for m in judgement.metrics if m.metric == name)


# -- published values --------------------------------------------------------------------------------------


def test_fisher_matches_the_lady_tasting_tea() -> None:
    """Fisher (1935), *The Design of Experiments* §2: [[3, 1], [1, 3]] one-sided p = 17/70 = 0.243."""
    _, p = fisher_greater(3, 4, 1, 4)
    assert p == pytest.approx(float(Fraction(17, 70)), rel=1e-12)


def test_fisher_matches_scipys_documented_example() -> None:
    """scipy.stats.fisher_exact docs: [[8, 2], [1, 5]] has odds ratio 20 and two-sided p 0.034965.

    One-sided, the hypergeometric tail P(X >= 8) = (C(9,8)C(7,2) + C(9,9)C(7,1)) / C(16,10) = 196/8008;
    the two-sided value adds the opposite tail P(X = 3) = 84/8008, giving the documented 280/8008.
    """
    statistic, p = fisher_greater(8, 10, 1, 6)
    assert statistic == 20.0
    assert p == pytest.approx(196 / 8008, rel=1e-12)
    documented_two_sided = 0.034965034965034975
    assert documented_two_sided == pytest.approx((196 + 84) / 8008)


def test_mann_whitney_matches_the_published_diabetes_ages() -> None:
    """scipy.stats.mannwhitneyu docs (after Conover): males [19, 22, 16, 29, 24] vs females [20, 11, 17, 12].

    U_M = 17 and the exact two-sided p = 0.1111 are published; one-sided it is half: 7/126 = 1/18.
    """
    u, p = mann_whitney_greater([19, 22, 16, 29, 24], [20, 11, 17, 12])
    assert u == 17.0
    assert p == pytest.approx(1 / 18, rel=1e-12)


@given(n=st.integers(1, 400), q=st.sampled_from([0.5, 0.95, 0.99]), confidence=st.sampled_from([0.9, 0.98]))
@settings(max_examples=60, deadline=None)
def test_lower_bound_rank_is_the_largest_rank_below_the_quantile_with_confidence(
    n: int, q: float, confidence: float
) -> None:
    """The rank r has P(Binomial(n, q) >= r) >= confidence, and r + 1 does not (exact binomial sums)."""

    def at_least(r: int) -> Fraction:
        qf = Fraction(q).limit_denominator(1000)
        return sum((comb(n, k) * qf**k * (1 - qf) ** (n - k) for k in range(r, n + 1)), Fraction(0))

    r = lower_bound_rank(n, q, confidence)
    c = Fraction(confidence).limit_denominator(1000)
    assert r == 0 or at_least(r) >= c - Fraction(1, 10**9)
    assert r == n or at_least(r + 1) < c + Fraction(1, 10**9)


# -- error rate --------------------------------------------------------------------------------------------


def test_too_few_canary_requests_is_inconclusive_in_words() -> None:
    """12 canary requests of the 50 required: inconclusive, and the reason says so."""
    result = judge(window("blue", 2904), window("green", 12), SPEC)
    errors = metric(result, "error_rate")
    assert errors.outcome is Outcome.INCONCLUSIVE
    assert errors.reason == "12 of 50 canary requests"
    assert metric(result, "latency_p95").reason == "12 of 50 canary latency samples"
    assert result.outcome is Outcome.INCONCLUSIVE


def test_too_few_baseline_requests_is_inconclusive() -> None:
    """The baseline needs min_samples too: at 100 % the live color gets nothing to compare with."""
    result = judge(window("blue", 0, latencies=()), window("green", 900), SPEC)
    assert metric(result, "error_rate").reason == "0 of 50 baseline requests"
    assert result.outcome is Outcome.INCONCLUSIVE


def test_no_errors_in_either_color_passes_with_p_1() -> None:
    """Nothing to compare: the error metric passes with p = 1."""
    errors = metric(judge(window("blue", 900), window("green", 100), SPEC), "error_rate")
    assert (errors.outcome, errors.p_value, errors.statistic) == (Outcome.PASS, 1.0, None)


def test_significantly_more_errors_fails_and_explains_itself() -> None:
    """8/153 against 0/2904 is a significant increase: fail, with values, limit, test, p and counts."""
    errors = metric(judge(window("blue", 2904), window("green", 153, 8, UNIFORM_MS[:153]), SPEC), "error_rate")
    assert errors.outcome is Outcome.FAIL
    assert errors.p_value is not None
    assert errors.p_value < 1e-9
    text = errors.describe()
    assert text.startswith("error_rate: canary 0.052 (8/153) vs baseline 0.000 (0/2904), limit 0.100 (+0.10); ")
    assert "fisher-exact statistic inf, p=" in text
    assert text.endswith(" < 0.02: fail (significantly more errors)")


def test_one_stray_error_passes() -> None:
    """1/150 against 0/2850 (p = 0.05) is not proven: one error never rolls a release back."""
    errors = metric(judge(window("blue", 2850, 0, UNIFORM_MS), window("green", 150, 1), SPEC), "error_rate")
    assert errors.outcome is Outcome.PASS
    assert errors.p_value == pytest.approx(0.05)


def test_more_errors_not_yet_significant_are_inconclusive() -> None:
    """2/150 against 3/2850 (p = 0.03): suspicious, not proven; the step collects more before deciding."""
    errors = metric(judge(window("blue", 2850, 3, UNIFORM_MS), window("green", 150, 2), SPEC), "error_rate")
    assert errors.p_value is not None
    assert 0.02 <= errors.p_value < 0.1
    assert errors.outcome is Outcome.INCONCLUSIVE
    assert errors.reason == "more errors, not yet significant (p < 5 x 0.02)"


def test_a_significant_but_tiny_error_increase_passes() -> None:
    """6/2084 against 0/2034 is significant, but +0.003 is below the minimum effect of a tenth of +0.10."""
    errors = metric(judge(window("blue", 2034), window("green", 2084, 6, UNIFORM_MS), SPEC), "error_rate")
    assert errors.p_value is not None
    assert errors.p_value < 0.02
    assert errors.outcome is Outcome.PASS
    assert errors.reason == "significantly more errors, but +0.0029 is below the minimum effect 0.01"


def test_beyond_the_error_limit_fails_even_when_not_significant() -> None:
    """A degraded baseline (40 %) and a canary at 54 % of 50: not significant, but over the seed's +10 %."""
    errors = metric(judge(window("blue", 1000, 400), window("green", 50, 27), SPEC), "error_rate")
    assert errors.p_value is not None
    assert errors.p_value >= 0.02
    assert errors.outcome is Outcome.FAIL
    assert "beyond the limit +0.1" in errors.reason


def test_impossible_counts_are_inconclusive() -> None:
    """More errors than requests is no valid count: never a pass."""
    errors = metric(judge(window("blue", 900), window("green", 60, 61), SPEC), "error_rate")
    assert errors.outcome is Outcome.INCONCLUSIVE


@dataclass(frozen=True)
class _NanResult:
    statistic: float = math.nan
    pvalue: float = math.nan


class _NanStats:
    """scipy.stats as seen by the judge, with tests that give no p-value."""

    def __init__(self, real: Any) -> None:
        self.binom = real.binom

    def fisher_exact(self, *_: object, **__: object) -> _NanResult:
        return _NanResult()

    def mannwhitneyu(self, *_: object, **__: object) -> _NanResult:
        return _NanResult()


def test_a_nan_p_value_never_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that returns NaN makes every metric inconclusive, not a silent pass."""
    real = _judge._scipy_stats()
    monkeypatch.setattr(_judge, "_scipy_stats", lambda: _NanStats(real))
    result = judge(window("blue", 900, 1), window("green", 100, 1), SPEC)
    assert [m.outcome for m in result.metrics] == [Outcome.INCONCLUSIVE] * 3
    assert all(m.reason == "the test gave no p-value" for m in result.metrics)
    assert "p=nan" in result.describe()


# -- latency -----------------------------------------------------------------------------------------------


def test_a_slower_canary_fails_on_both_percentiles() -> None:
    """+100 ms on a 10-20 ms baseline: significant shift, p95 and p99 beyond +20 % at their lower bound."""
    slow = tuple(v + 100 for v in UNIFORM_MS[:150])
    result = judge(window("blue", 1000), window("green", 150, 0, slow), SPEC)
    assert result.outcome is Outcome.FAIL
    p95 = metric(result, "latency_p95")
    assert p95.outcome is Outcome.FAIL
    assert p95.limit == pytest.approx(19.49 * 1.2)
    assert p95.describe().startswith(
        "latency_p95: canary 111.4 ms (n=150) vs baseline 19.5 ms (n=1000), limit 23.4 ms (+20 %), "
        "canary's 98 % lower bound 111.4 ms; mann-whitney-u statistic 150000, p="
    )
    assert metric(result, "latency_p99").outcome is Outcome.FAIL


def test_a_significant_but_small_slowdown_passes() -> None:
    """+10 % on every request is significant, but within the seed's +20 %: pass."""
    slower = tuple(v * 1.1 for v in UNIFORM_MS)
    p95 = metric(judge(window("blue", 1000), window("green", 1000, 0, slower), SPEC), "latency_p95")
    assert p95.p_value is not None
    assert p95.p_value < 1e-9
    assert (p95.outcome, p95.reason) == (Outcome.PASS, "significantly slower, but p95 within the limit")


def test_a_tail_regression_that_shifts_no_ranks_is_inconclusive() -> None:
    """3 % of requests at 100 ms: p99 is beyond the limit at its lower bound, the U test not significant."""
    tail = tuple(100.0 if 485 <= i < 515 else v for i, v in enumerate(UNIFORM_MS))
    result = judge(window("blue", 1000), window("green", 1000, 0, tail), SPEC)
    p99 = metric(result, "latency_p99")
    assert p99.p_value is not None
    assert p99.p_value >= 0.02
    assert p99.outcome is Outcome.INCONCLUSIVE
    assert p99.reason == "p99 beyond the limit, beyond the limit at its lower bound but not both"
    assert metric(result, "latency_p95").outcome is Outcome.PASS


def test_a_significant_shift_with_a_noisy_tail_is_inconclusive() -> None:
    """Significant shift, p95 point beyond the limit but not its lower bound: suspicious, not proven."""
    canary = (*(18 + i * 0.04 for i in range(47)), 30.0, 30.0, 30.0)
    p95 = metric(judge(window("blue", 1000), window("green", 50, 0, canary), SPEC), "latency_p95")
    assert p95.p_value is not None
    assert p95.p_value < 0.02
    assert p95.canary_lower is not None
    assert p95.limit is not None
    assert p95.canary_lower <= p95.limit < 30.0
    assert (p95.outcome, p95.reason) == (
        Outcome.INCONCLUSIVE,
        "p95 beyond the limit, significantly slower but not both",
    )


def test_one_slow_request_in_a_small_sample_passes() -> None:
    """A p99 of 50 requests is their maximum: one 30 ms outlier without a shift is noise, not a verdict."""
    canary = (*(10 + i * 0.2 for i in range(49)), 30.0)
    p99 = metric(judge(window("blue", 1000), window("green", 50, 0, canary), SPEC), "latency_p99")
    assert p99.canary == 30.0
    assert p99.limit is not None
    assert p99.limit < 30.0
    assert p99.outcome is Outcome.PASS


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
def test_unreadable_latencies_are_inconclusive(bad: float) -> None:
    """A NaN, infinite or negative latency makes both latency metrics inconclusive."""
    canary = (*UNIFORM_MS[:99], bad)
    result = judge(window("blue", 1000), window("green", 100, 0, canary), SPEC)
    assert [m.outcome for m in result.metrics[1:]] == [Outcome.INCONCLUSIVE] * 2


# -- outcome and description -------------------------------------------------------------------------------


@given(st.lists(st.sampled_from([Outcome.PASS, Outcome.FAIL, Outcome.INCONCLUSIVE]), max_size=4))
def test_overall_is_fail_then_inconclusive_then_pass(outcomes: list[Outcome]) -> None:
    """FAIL if any metric fails, else INCONCLUSIVE if any is (or none was judged), else PASS."""
    metrics = [
        MetricJudgement("error_rate", o, None, None, None, "fisher-exact", None, None, 0, 0, "") for o in outcomes
    ]
    expected = (
        Outcome.FAIL
        if Outcome.FAIL in outcomes
        else Outcome.PASS
        if outcomes and set(outcomes) == {Outcome.PASS}
        else Outcome.INCONCLUSIVE
    )
    assert overall(metrics) is expected


def test_judgement_describe_has_one_line_per_metric() -> None:
    """The judgement's description: its outcome, then error_rate, latency_p95 and latency_p99."""
    lines = judge(window("blue", 1000), window("green", 100), SPEC).describe().splitlines()
    assert lines[0] == "canary judgement: pass"
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["error_rate", "latency_p95", "latency_p99"]


# -- properties --------------------------------------------------------------------------------------------

counts = st.integers(0, 3000)


@given(canary=st.integers(0, 49), errors=st.integers(0, 49), baseline=counts)
@settings(max_examples=50, deadline=None)
def test_too_few_samples_never_pass(canary: int, errors: int, baseline: int) -> None:
    """Below min_samples for the canary, no metric and no judgement ever passes."""
    result = judge(window("blue", baseline), window("green", canary, min(errors, canary)), SPEC)
    assert result.outcome is not Outcome.PASS
    assert all(m.outcome is not Outcome.PASS for m in result.metrics)


@given(requests=st.integers(50, 1000), errors=st.integers(0, 1000), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=50, deadline=None)
def test_a_canary_identical_to_its_baseline_never_fails(requests: int, errors: int, seed: int) -> None:
    """Same counts and same latencies in both colors: nothing can be significantly worse."""
    latencies = tuple(np.random.default_rng(seed).lognormal(math.log(10), 0.5, requests).tolist())
    same = window("blue", requests, min(errors, requests), latencies)
    assert judge(same, ColorWindow("green", same.requests, same.errors, latencies), SPEC).outcome is Outcome.PASS


# -- simulation --------------------------------------------------------------------------------------------

RATE = 300  # requests/s of probe traffic through the router
STEPS = (5, 25, 50, 100)
MAX_STEP_S = 30.0  # an inconclusive step extends 5 s at a time up to this, then fails closed


@dataclass(frozen=True)
class Release:
    """How the canary differs from the live version."""

    extra_error_rate: float = 0.0
    extra_ms: float = 0.0


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "promoted", "fail" or "closed" (inconclusive at the longest step)
    step: int
    seconds: float


@dataclass(frozen=True)
class Drawn:
    """A color's requests over MAX_STEP_S, in arrival order: latencies (ms) and which ones failed."""

    color: str
    latencies: Any  # numpy arrays
    failed: Any

    def first(self, seconds: float) -> ColorWindow:
        """The window of the first `seconds`."""
        k = int(len(self.latencies) * seconds / MAX_STEP_S)
        return ColorWindow(self.color, k, int(self.failed[:k].sum()), tuple(self.latencies[:k].tolist()))


def draw(rng: np.random.Generator, color: str, n: int, median: float, sigma: float, rate: float, extra: float) -> Drawn:
    return Drawn(color, rng.lognormal(math.log(median), sigma, n) + extra, rng.random(n) < rate)


def simulate(rng: np.random.Generator, index: int, release: Release, hold: tuple[float, float]) -> Verdict:
    """One canary of 4 steps: each judged after a hold drawn from `hold`, extended 5 s while inconclusive.

    Both colors draw lognormal latencies around the same median (5-20 ms), with the same error rate
    (0 or 0.001) apart from `release`. At 100 % the baseline is the live version's window before the step.
    """
    median, sigma, rate = rng.uniform(5, 20), rng.uniform(0.3, 0.8), (0.0, 0.001)[index % 2]
    for share in STEPS:
        total = int(RATE * MAX_STEP_S)
        n_canary = total if share == 100 else int(rng.binomial(total, share / 100))
        n_base = total if share == 100 else total - n_canary
        base = draw(rng, "blue", n_base, median, sigma, rate, 0.0)
        canary = draw(rng, "green", n_canary, median, sigma, rate + release.extra_error_rate, release.extra_ms)
        seconds = rng.uniform(*hold)
        while True:
            outcome = judge(base.first(seconds), canary.first(seconds), SPEC).outcome
            if outcome is Outcome.FAIL:
                return Verdict("fail", share, seconds)
            if outcome is Outcome.PASS:
                break
            if seconds >= MAX_STEP_S:
                return Verdict("closed", share, seconds)
            seconds = min(MAX_STEP_S, seconds + 5)
    return Verdict("promoted", 100, 0.0)


def canaries(n: int, release: Release, hold: tuple[float, float] = (3.0, 10.0), seed: int = 7) -> Iterator[Verdict]:
    rng = np.random.default_rng(seed)
    return (simulate(rng, i, release, hold) for i in range(n))


def test_good_canaries_are_not_rolled_back() -> None:
    """100 good canaries (4 steps x 3 metrics, 3-10 s holds): at most 1 rolled back, failed or closed."""
    verdicts = list(canaries(100, Release()))
    rolled_back = [v for v in verdicts if v.outcome != "promoted"]
    assert len(rolled_back) <= 1, rolled_back


def test_five_percent_more_errors_fail_at_the_first_step() -> None:
    """+5 % errors: all 20 canaries fail, 19 at the 5 % step within 15 s of data (10 s, extended once if suspicious).

    The 20th drew 1 error in 145 requests (the chance of at most 1 is 0.4 %), which no test can tell from
    a good release; its 25 % step fails it.
    """
    verdicts = list(canaries(20, Release(extra_error_rate=0.05), hold=(10.0, 10.0)))
    assert {v.outcome for v in verdicts} == {"fail"}
    first = [v for v in verdicts if v.step == 5]
    assert len(first) >= 19
    assert max(v.seconds for v in first) <= 15


def test_a_hundred_ms_slower_release_fails_at_the_first_step() -> None:
    """+100 ms: every canary fails at the 5 % step, whatever its hold of 3-10 s (extended when too short)."""
    verdicts = list(canaries(20, Release(extra_ms=100.0)))
    assert {(v.outcome, v.step) for v in verdicts} == {("fail", 5)}
    assert max(v.seconds for v in verdicts) <= 15


def test_a_latency_regression_must_also_exceed_the_absolute_floor() -> None:
    """+17 ms on a 16 ms p99 is beyond +20 % but within the default 25 ms floor: the limit is the larger one."""
    spec = JudgeSpec()
    baseline = window("blue", 1000, 0, tuple(5 + (i % 100) * 0.11 for i in range(1000)))
    canary = window("green", 150, 0, tuple(7 + (i % 50) * 0.5 for i in range(150)))
    p99 = metric(judge(baseline, canary, spec), "latency_p99")
    assert p99.baseline is not None
    assert p99.limit == pytest.approx(p99.baseline + 25.0)
    assert p99.outcome is Outcome.PASS
