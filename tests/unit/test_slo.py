"""SLO values and the pure functions that judge them: judge, percentile, Verdict.message."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_athalia.report._slo import (
    Comparison,
    Measurement,
    Outcome,
    Threshold,
    Verdict,
    format_number,
    judge,
    percentile,
)

AT_MOST_MS = Threshold(500, Comparison.AT_MOST, "ms")
AT_LEAST_RATIO = Threshold(0.99, Comparison.AT_LEAST, "")

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)


def measured(value: float | None, *, samples: int = 20, unit: str = "ms", window: str = "") -> Measurement:
    return Measurement("health_p95", value, unit, samples, window)


# -- Comparison, Threshold, Measurement ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("comparison", "value", "limit", "expected"),
    [
        (Comparison.AT_MOST, 499, 500, True),
        (Comparison.AT_MOST, 500, 500, True),
        (Comparison.AT_MOST, 501, 500, False),
        (Comparison.AT_LEAST, 0.98, 0.99, False),
        (Comparison.AT_LEAST, 0.99, 0.99, True),
        (Comparison.AT_LEAST, 1.0, 0.99, True),
    ],
)
def test_comparison_holds_includes_the_limit_itself(
    comparison: Comparison, value: float, limit: float, expected: bool
) -> None:
    """`<=` and `>=` both pass a value exactly at the limit and reject one beyond it."""
    assert comparison.holds(value, limit) is expected


def test_threshold_describe_shows_operator_limit_and_unit() -> None:
    """A threshold reads as operator, limit and unit, with no trailing blank for unitless ones."""
    assert AT_MOST_MS.describe() == "<= 500 ms"
    assert AT_LEAST_RATIO.describe() == ">= 0.99"
    assert Threshold(2.5, Comparison.AT_MOST, "s").describe() == "<= 2.50 s"


@pytest.mark.parametrize("name", ["", "health.p95", "health p95", "a/b", "ä:"])
def test_measurement_rejects_check_names_that_would_break_property_names(name: str) -> None:
    """Check names become `athalia.<check>.<field>`: dots, blanks and separators are refused."""
    with pytest.raises(ValueError, match="check name"):
        Measurement(name, 1.0, "ms", 1)


def test_measurement_accepts_letters_digits_underscore_and_dash() -> None:
    """The documented alphabet of check names is accepted."""
    assert Measurement("health-p95_2", 1.0, "ms", 1).check == "health-p95_2"


def test_measurement_rejects_negative_sample_counts() -> None:
    """A negative sample count is a programming error, not a measurement."""
    with pytest.raises(ValueError, match="samples must be >= 0, got -1"):
        Measurement("x", 1.0, "ms", -1)


# -- judge ----------------------------------------------------------------------------------------------


def test_judge_passes_a_value_within_an_at_most_threshold() -> None:
    """A p95 below its limit passes with no reason attached."""
    verdict = judge(measured(120), AT_MOST_MS)
    assert verdict.outcome is Outcome.PASS
    assert verdict.passed
    assert verdict.reason == ""
    assert verdict.check == "health_p95"


def test_judge_fails_a_value_beyond_an_at_most_threshold() -> None:
    """A p95 above its limit fails."""
    verdict = judge(measured(501), AT_MOST_MS)
    assert verdict.outcome is Outcome.FAIL
    assert not verdict.passed


def test_judge_at_least_fails_below_and_passes_at_the_limit() -> None:
    """Success ratios use `>=`: below the limit fails, at it passes."""
    assert judge(Measurement("ok", 0.5, "", 10), AT_LEAST_RATIO).outcome is Outcome.FAIL
    assert judge(Measurement("ok", 0.99, "", 10), AT_LEAST_RATIO).outcome is Outcome.PASS


def test_judge_fails_closed_when_nothing_was_measured() -> None:
    """A missing value is a failure with the reason, never a pass."""
    verdict = judge(measured(None), AT_MOST_MS)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.reason == "no value was measured"


def test_judge_treats_nan_as_nothing_measured() -> None:
    """NaN compares false both ways; it must not slip through as a pass of an AT_LEAST gate either."""
    verdict = judge(Measurement("ok", math.nan, "", 10), AT_LEAST_RATIO)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.reason == "no value was measured"


def test_judge_fails_closed_with_too_few_samples_even_when_the_value_is_good() -> None:
    """A perfect value from too few samples fails and says how many were required."""
    verdict = judge(measured(1, samples=3), AT_MOST_MS, min_samples=20)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.reason == "too few samples: 3 < 20 required"


def test_judge_zero_samples_fail_with_the_default_minimum() -> None:
    """The default minimum is one sample, so a value from zero samples fails."""
    verdict = judge(measured(1, samples=0), AT_MOST_MS)
    assert verdict.outcome is Outcome.FAIL
    assert "too few samples: 0 < 1" in verdict.reason


def test_judge_exactly_min_samples_is_enough() -> None:
    """`min_samples` is inclusive."""
    assert judge(measured(1, samples=20), AT_MOST_MS, min_samples=20).passed


@given(
    value=st.none() | st.just(math.nan),
    limit=finite,
    comparison=st.sampled_from(Comparison),
    samples=st.integers(0, 10_000),
)
def test_judge_never_passes_without_a_value(
    value: float | None, limit: float, comparison: Comparison, samples: int
) -> None:
    """Whatever the threshold and sample count, no value means no pass."""
    verdict = judge(Measurement("x", value, "ms", samples), Threshold(limit, comparison, "ms"))
    assert verdict.outcome is Outcome.FAIL


@given(
    value=finite,
    limit=finite,
    comparison=st.sampled_from(Comparison),
    min_samples=st.integers(1, 1000),
    data=st.data(),
)
def test_judge_never_passes_below_min_samples(
    value: float, limit: float, comparison: Comparison, min_samples: int, data: st.DataObject
) -> None:
    """Thin data fails closed, whatever the value."""
    samples = data.draw(st.integers(0, min_samples - 1))
    verdict = judge(Measurement("x", value, "ms", samples), Threshold(limit, comparison, "ms"), min_samples=min_samples)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.reason.startswith("too few samples")


@given(value=finite, limit=finite, comparison=st.sampled_from(Comparison))
def test_judge_with_enough_samples_follows_the_comparison(value: float, limit: float, comparison: Comparison) -> None:
    """With a value and enough samples the outcome is exactly the comparison's result."""
    verdict = judge(Measurement("x", value, "ms", 5), Threshold(limit, comparison, "ms"), min_samples=5)
    assert verdict.passed is comparison.holds(value, limit)


# -- Verdict.message ------------------------------------------------------------------------------------


def test_message_names_measured_threshold_unit_samples_window_and_outcome() -> None:
    """The failure line carries every number a reader needs."""
    verdict = judge(measured(612, samples=50, window="50 requests"), AT_MOST_MS)
    assert verdict.message() == "health_p95: measured 612 ms, threshold <= 500 ms (50 samples over 50 requests): fail"


def test_message_says_nothing_was_measured_and_gives_the_reason() -> None:
    """A missing value reads as `nothing`, followed by the reason."""
    verdict = judge(measured(None, samples=0), AT_MOST_MS)
    assert verdict.message() == (
        "health_p95: measured nothing, threshold <= 500 ms (0 samples): fail (no value was measured)"
    )


def test_message_uses_singular_for_one_sample() -> None:
    """One sample is `1 sample`, not `1 samples`."""
    assert "(1 sample)" in judge(measured(1, samples=1), AT_MOST_MS).message()


def test_message_of_unitless_values_has_no_stray_blanks() -> None:
    """A ratio has no unit; the text has no double blank or blank before the comma."""
    message = judge(Measurement("ok", 0.95, "", 20), AT_LEAST_RATIO).message()
    assert message == "ok: measured 0.95, threshold >= 0.99 (20 samples): fail"


@pytest.mark.parametrize(
    ("value", "shown"),
    [(3.0, "3"), (0.123456, "0.123"), (12.3456, "12.35"), (-0.5, "-0.5"), (1e-05, "1e-05")],
)
def test_message_formats_numbers_compactly(value: float, shown: str) -> None:
    """Whole numbers have no decimals, small ones three significant digits, others two decimals."""
    assert f"measured {shown} s," in judge(Measurement("t", value, "s", 1), AT_MOST_MS).message()


def test_message_of_an_inconclusive_verdict_says_so() -> None:
    """The outcome's name ends the line, whatever it is."""
    verdict = Verdict(measured(1), AT_MOST_MS, Outcome.INCONCLUSIVE, "load tool did not run")
    assert verdict.message().endswith(": inconclusive (load tool did not run)")
    assert not verdict.passed


# -- percentile -----------------------------------------------------------------------------------------


def test_percentile_of_nothing_is_none() -> None:
    """No values, no percentile (callers then fail closed)."""
    assert percentile([], 95) is None


@pytest.mark.parametrize("q", [-0.1, 100.01, math.nan, math.inf])
def test_percentile_rejects_q_outside_0_to_100(q: float) -> None:
    """q is a percentage; anything else, NaN included, is an error."""
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], q)


def test_percentile_is_nearest_rank() -> None:
    """p50 of 1..10 is 5, p95 of 1..20 is 19, p0 the minimum and p100 the maximum."""
    assert percentile([float(v) for v in range(10, 0, -1)], 50) == 5
    assert percentile([float(v) for v in range(1, 21)], 95) == 19
    assert percentile([3.0, 1.0, 2.0], 0) == 1
    assert percentile([3.0, 1.0, 2.0], 100) == 3


def test_percentile_does_not_reorder_the_callers_list() -> None:
    """The input is sorted into a copy, not in place."""
    values = [3.0, 1.0, 2.0]
    percentile(values, 50)
    assert values == [3.0, 1.0, 2.0]


@pytest.mark.parametrize(("q", "n"), [(7, 100), (28, 25), (14, 50), (55, 100)])
def test_percentile_rank_is_exact_for_whole_percentages(q: int, n: int) -> None:
    """The nearest rank of q% of n values is ceil(q * n / 100) exactly, without float round-off."""
    values = [float(v) for v in range(1, n + 1)]
    assert percentile(values, q) == q * n // 100


values_lists = st.lists(finite, min_size=1, max_size=60)
qs = st.floats(0, 100, allow_nan=False)


@given(values=values_lists, q=qs)
def test_percentile_returns_an_observed_value(values: list[float], q: float) -> None:
    """Nearest-rank never invents a latency that no request had."""
    assert percentile(values, q) in values


@given(values=values_lists, q1=qs, q2=qs)
def test_percentile_is_monotonic_in_q(values: list[float], q1: float, q2: float) -> None:
    """A higher percentile is never smaller than a lower one."""
    low, high = sorted((q1, q2))
    p_low, p_high = percentile(values, low), percentile(values, high)
    assert p_low is not None
    assert p_high is not None
    assert p_low <= p_high


@given(values=values_lists)
def test_percentile_extremes_are_min_and_max(values: list[float]) -> None:
    """p0 is the smallest value and p100 the largest."""
    assert percentile(values, 0) == min(values)
    assert percentile(values, 100) == max(values)


def test_a_strict_threshold_refuses_the_limit_and_shows_its_operator() -> None:
    """`< 300 ms` (strict) fails at exactly 300 ms and says `<`, where `<= 300 ms` passes."""
    strict = Threshold(300, Comparison.AT_MOST, "ms", strict=True)
    at_limit = Measurement("load_p95", 300, "ms", 10)
    assert judge(at_limit, strict).outcome is Outcome.FAIL
    assert judge(at_limit, Threshold(300, Comparison.AT_MOST, "ms")).outcome is Outcome.PASS
    assert strict.describe() == "< 300 ms"
    assert Threshold(100, Comparison.AT_LEAST, "req/s", strict=True).operator == ">"


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (3.0, 2, "3"),
        (0.05123, 2, "0.0512"),
        (312.456, 2, "312.46"),
        (312.456, 1, "312.5"),
        (math.inf, 2, "inf"),
        (-math.inf, 1, "-inf"),
        (math.nan, 2, "nan"),
    ],
)
def test_format_number_is_short_and_safe_for_any_float(value: float, decimals: int, expected: str) -> None:
    """Whole values without decimals, small ones with 3 significant digits, infinities and NaN by name."""
    assert format_number(value, decimals) == expected
