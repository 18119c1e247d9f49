"""k6-style threshold expressions: parsed into frozen values, bad ones refused with the valid forms."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_athalia.load._thresholds import VALID_FORMS, LoadThreshold, Metric, parse_threshold
from pytest_athalia.report._slo import Comparison


@pytest.mark.parametrize(
    ("text", "metric", "comparison", "limit", "strict", "percentile"),
    [
        ("p95 < 300ms", Metric.PERCENTILE, Comparison.AT_MOST, 300.0, True, 95.0),
        ("p(95)<500", Metric.PERCENTILE, Comparison.AT_MOST, 500.0, True, 95.0),
        ("p99<1s", Metric.PERCENTILE, Comparison.AT_MOST, 1000.0, True, 99.0),
        ("p(99.9) <= 1.5s", Metric.PERCENTILE, Comparison.AT_MOST, 1500.0, False, 99.9),
        ("p50 < 800us", Metric.PERCENTILE, Comparison.AT_MOST, 0.8, True, 50.0),
        ("med < 100", Metric.MEDIAN, Comparison.AT_MOST, 100.0, True, None),
        ("avg<=200ms", Metric.AVERAGE, Comparison.AT_MOST, 200.0, False, None),
        ("max < 2s", Metric.MAXIMUM, Comparison.AT_MOST, 2000.0, True, None),
        ("error_rate < 1%", Metric.ERROR_RATE, Comparison.AT_MOST, 1.0, True, None),
        ("error_rate < 0.01", Metric.ERROR_RATE, Comparison.AT_MOST, 1.0, True, None),
        ("rps > 100", Metric.RPS, Comparison.AT_LEAST, 100.0, True, None),
        ("rps >= 50/s", Metric.RPS, Comparison.AT_LEAST, 50.0, False, None),
        ("p95 < 1m", Metric.PERCENTILE, Comparison.AT_MOST, 60_000.0, True, 95.0),
        ("P(95)<300MS", Metric.PERCENTILE, Comparison.AT_MOST, 300.0, True, 95.0),
        ("\tp( 95 )  <  0.3 s ", Metric.PERCENTILE, Comparison.AT_MOST, 300.0, True, 95.0),
        ("p100 <= 2s", Metric.PERCENTILE, Comparison.AT_MOST, 2000.0, False, 100.0),
        ("avg < 1e3", Metric.AVERAGE, Comparison.AT_MOST, 1000.0, True, None),
        ("error_rate <= 0.5%", Metric.ERROR_RATE, Comparison.AT_MOST, 0.5, False, None),
        ("error_rate < 0.999", Metric.ERROR_RATE, Comparison.AT_MOST, 99.9, True, None),
        ("errors < 2%", Metric.ERROR_RATE, Comparison.AT_MOST, 2.0, True, None),
    ],
)
def test_valid_expressions_become_frozen_values_in_the_metrics_unit(
    text: str, metric: Metric, comparison: Comparison, limit: float, strict: bool, percentile: float | None
) -> None:
    """Each k6 form parses to metric, comparison, limit in ms/%/req/s, strictness and percentile."""
    parsed = parse_threshold(text)
    assert (parsed.metric, parsed.comparison, parsed.strict, parsed.percentile) == (
        metric,
        comparison,
        strict,
        percentile,
    )
    assert parsed.limit == pytest.approx(limit)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.limit = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("p95 << 300", "threshold expression"),
        ("p95 == 300", "operator"),
        ("p95 != 300", "operator"),
        ("latency < 300", "known metric (not 'latency')"),
        ("p0 < 300", "percentile between 0 and 100"),
        ("p101 < 300", "percentile between 0 and 100"),
        ("p95 < 3 minutes", "latency unit"),
        ("p95 < 3h", "latency unit ms, s, m or us (not 'h')"),
        ("error_rate < 5", "ratio below 1"),
        ("error_rate < 1", "ratio below 1 (0.01 for 1%), or a percentage like 1% (not 1)"),
        ("p95 < -5", "a finite value >= 0"),
        ("p95 =< 300", "threshold expression"),
        ("p95 < 300ms extra", "threshold expression"),
        ("p95 <", "threshold expression"),
        ("< 300", "threshold expression"),
        ("p(95 < 300", "threshold expression"),
        ("p95 < 300ms, p99 < 1s", "threshold expression"),
        ("p9.5.5 < 300", "percentile between 0 and 100"),
        ("error_rate < 101%", "at most 100%"),
        ("error_rate < 1ms", "error_rate in %"),
        ("rps > 100ms", "rps as a number"),
        ("", "threshold expression"),
    ],
)
def test_invalid_expressions_say_what_is_wrong_and_list_the_valid_forms(text: str, hint: str) -> None:
    """A bad expression raises ValueError naming the problem and every valid form."""
    with pytest.raises(ValueError, match="METRIC OP VALUE") as caught:
        parse_threshold(text)
    assert hint in str(caught.value)
    assert VALID_FORMS in str(caught.value)


def test_non_text_is_refused() -> None:
    """A number where an expression belongs is refused, not coerced."""
    with pytest.raises(ValueError, match="as text"):
        parse_threshold(300)


@pytest.mark.parametrize(
    ("text", "value", "holds"),
    [
        ("p95 < 300ms", 299.0, True),
        ("p95 < 300ms", 300.0, False),
        ("p95 <= 300ms", 300.0, True),
        ("p95 <= 300ms", 301.0, False),
        ("rps > 100", 100.0, False),
        ("rps >= 100", 100.0, True),
        ("rps > 100", 101.0, True),
    ],
)
def test_strict_operators_refuse_the_limit_itself(text: str, value: float, holds: bool) -> None:
    """`<` and `>` are strict as in k6: the limit itself breaches them; `<=`/`>=` accept it."""
    assert parse_threshold(text).holds(value) is holds


@pytest.mark.parametrize(
    ("text", "name", "unit"),
    [
        ("p95<1", "p95", "ms"),
        ("p(99.9)<1", "p99_9", "ms"),
        ("error_rate<1%", "error_rate", "%"),
        ("rps>1", "rps", "req/s"),
    ],
)
def test_names_and_units_fit_check_names(text: str, name: str, unit: str) -> None:
    """The metric's name is usable in a check name; the unit is the one its limit is stored in."""
    parsed = parse_threshold(text)
    assert (parsed.name, parsed.unit) == (name, unit)


def test_text_is_kept_normalised_for_messages() -> None:
    """The expression as written (blanks collapsed) is what messages and artifacts show."""
    parsed = parse_threshold("  p95   <  300ms ")
    assert str(parsed) == "p95 < 300ms"
    assert parse_threshold(parsed) is parsed
    assert isinstance(parsed, LoadThreshold)
