"""Locust's output as our values: histogram percentiles within the stated tolerance, and parsing of real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_athalia.errors import LoadError
from pytest_athalia.load_results import (
    EndpointStats,
    Histogram,
    bucket_ms,
    merge_stats,
    parse_locust_json,
    parse_series,
    tolerance_ms,
)
from pytest_athalia.slo import percentile

FIXTURES = Path(__file__).parent / "fixtures" / "locust"

latencies = st.lists(st.floats(min_value=0, max_value=60_000, allow_nan=False), min_size=1, max_size=300)


# -- bucketing and tolerance ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ms", "bucket"),
    [(0.4, 0), (42.5, 42), (99.4, 99), (147, 150), (999, 1000), (3432, 3400), (58760, 59000)],
)
def test_buckets_follow_locusts_two_significant_digits(ms: float, bucket: int) -> None:
    """Whole ms below 100 ms, then two significant digits, as Locust 2.x stores response times."""
    assert bucket_ms(ms) == bucket


@given(st.floats(min_value=0, max_value=100_000, allow_nan=False))
def test_a_bucket_is_within_the_stated_tolerance_of_its_value(ms: float) -> None:
    """The stated tolerance bounds the bucketing error everywhere (0.5 ms, 5 ms, 50 ms, 500 ms)."""
    assert abs(bucket_ms(ms) - ms) <= tolerance_ms(ms) + 1e-9


@given(latencies, st.sampled_from([50.0, 90.0, 95.0, 99.0, 99.9, 100.0]))
def test_histogram_percentile_is_the_exact_percentile_within_tolerance(values: list[float], q: float) -> None:
    """A percentile read from Locust's buckets is the exact nearest-rank one, give or take half a bucket."""
    histogram = Histogram.of({})
    for value in values:
        histogram = histogram.merge(Histogram.of({bucket_ms(value): 1}))
    exact = percentile(values, q)
    measured = histogram.percentile(q)
    assert exact is not None
    assert measured is not None
    assert abs(measured - exact) <= tolerance_ms(exact)
    assert measured == bucket_ms(exact)


def test_histogram_percentiles_on_known_counts() -> None:
    """Nearest rank over counts: 90 fast and 10 slow requests give p90 fast and p91 slow."""
    histogram = Histogram.of({"10": 90, "500": 10})
    assert (histogram.count, histogram.percentile(90), histogram.percentile(91)) == (100, 10.0, 500.0)
    assert Histogram().percentile(95) is None
    with pytest.raises(ValueError, match=r"0\.\.100"):
        histogram.percentile(101)


@pytest.mark.parametrize("mapping", [{"x": 1}, {"10": -1}, {"-5": 1}, {"10": 1.5}])
def test_histogram_refuses_what_locust_never_writes(mapping: dict[str, object]) -> None:
    """A bucket that is not a time >= 0 with a whole count is refused."""
    with pytest.raises(ValueError):
        Histogram.of(mapping)  # type: ignore[arg-type]


def test_merging_adds_counts_sums_and_keeps_the_peak() -> None:
    """The total row adds requests, failures, times and histograms, and keeps the highest maximum."""
    a = EndpointStats("GET", "/a", 10, 1, 100.0, 30.0, 5.0, Histogram.of({"10": 10}))
    b = EndpointStats("POST", "/b", 30, 3, 900.0, 80.0, 5.0, Histogram.of({"10": 10, "30": 20}))
    total = merge_stats([a, b], method="", name="Total", seconds=5.0)
    assert (total.requests, total.failures, total.max_ms, total.key) == (40, 4, 80.0, "Total")
    assert (total.error_rate_pct, total.rps, total.avg_ms) == (10.0, 8.0, 25.0)
    assert total.histogram.as_dict() == {"10": 20, "30": 20}


def test_empty_stats_measure_nothing_rather_than_zero() -> None:
    """No requests: error rate, rate, average and percentiles are None (fail closed), not 0."""
    empty = EndpointStats("GET", "/", 0, 0, 0.0, None, 0.0)
    assert (empty.error_rate_pct, empty.rps, empty.avg_ms, empty.percentile(95)) == (None, None, None, None)


# -- real Locust output -----------------------------------------------------------------------------


def test_parses_real_locust_json_and_computes_what_it_lacks() -> None:
    """Locust's --json-file (no percentiles, no total) becomes per-endpoint stats with percentiles."""
    raw = json.loads((FIXTURES / "locust.json").read_text(encoding="utf-8"))
    endpoints = parse_locust_json((FIXTURES / "locust.json").read_text(encoding="utf-8"))
    assert [e.key for e in endpoints] == ["GET GET /", "GET GET /missing"]
    page, missing = endpoints
    assert (page.requests, page.failures) == (raw[0]["num_requests"], 0)
    assert missing.failures == missing.requests == raw[1]["num_requests"]
    assert missing.error_rate_pct == 100.0
    assert page.histogram.count == page.requests
    assert page.avg_ms == pytest.approx(raw[0]["total_response_time"] / raw[0]["num_requests"])
    assert page.seconds == pytest.approx(raw[0]["last_request_timestamp"] - raw[0]["start_time"])
    p95 = page.percentile(95)
    assert p95 is not None
    assert p95 <= raw[0]["max_response_time"] + tolerance_ms(raw[0]["max_response_time"])


def test_series_of_a_real_run_adds_up_to_locusts_totals() -> None:
    """The per-second series (two workers reporting to a master) sums to Locust's own final counts."""
    endpoints = parse_locust_json((FIXTURES / "locust.json").read_text(encoding="utf-8"))
    series = parse_series((FIXTURES / "series.jsonl").read_text(encoding="utf-8").splitlines())
    assert series.complete
    assert not series.cpu_warning
    assert [s.t for s in series.seconds] == sorted({s.t for s in series.seconds})
    for endpoint in endpoints:
        per_second = [e for s in series.seconds for e in s.endpoints if e.key == endpoint.key]
        assert sum(e.requests for e in per_second) == endpoint.requests
        assert sum(e.failures for e in per_second) == endpoint.failures
        assert sum(e.histogram.count for e in per_second) == endpoint.histogram.count
    assert max(s.processes for s in series.seconds) == 3  # the master and its two workers
    assert any(s.users == 2 for s in series.seconds)


def test_lines_for_the_same_second_are_added_up() -> None:
    """A worker's late report repeats a second the master already wrote: both lines count."""
    line = {"t": 100, "users": 2, "cpu": 10.0, "procs": 1, "entries": []}
    entry = {"method": "GET", "name": "/", "requests": 3, "failures": 1, "sum_ms": 30.0, "max_ms": 12.0}
    first = {**line, "entries": [{**entry, "hist": {"10": 3}}]}
    late = {**line, "cpu": 50.0, "entries": [{**entry, "hist": {"12": 3}}]}
    series = parse_series([json.dumps(first), json.dumps(late)])
    (second,) = series.seconds
    assert not series.complete
    assert (second.total().requests, second.total().failures, second.cpu) == (6, 2, 50.0)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("not json", "is not JSON"),
        ('{"name": "x"}', "holds dict"),
        ('[{"name": "/", "method": "GET"}]', "entry 0"),
        (
            '[{"name": "/", "method": "GET", "num_requests": -1, "num_failures": 0, "total_response_time": 0,'
            ' "response_times": {}, "start_time": 1, "last_request_timestamp": 2}]',
            "entry 0",
        ),
    ],
)
def test_unusable_locust_json_is_a_load_error(text: str, match: str) -> None:
    """Malformed or foreign JSON is a LoadError naming the file and what was expected."""
    with pytest.raises(LoadError, match=match) as caught:
        parse_locust_json(text, source="reports/load/locust.json")
    assert "reports/load/locust.json" in str(caught.value)


@pytest.mark.parametrize("line", ["{", '{"t": 1}', '{"t": -1, "entries": []}', "[]"])
def test_unusable_series_lines_are_a_load_error_with_the_line_number(line: str) -> None:
    """A broken series line is a LoadError naming the source and the line."""
    good = json.dumps({"t": 1, "users": 1, "cpu": 1.0, "procs": 1, "entries": []})
    with pytest.raises(LoadError, match=r"series\.jsonl, line 2"):
        parse_series([good, line], source="series.jsonl")
