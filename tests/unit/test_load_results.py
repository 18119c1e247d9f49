"""Locust's output as our values: histogram percentiles within the stated tolerance, and parsing of real files."""

from __future__ import annotations

import csv
import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_athalia._errors import LoadError
from pytest_athalia.load._results import (
    EndpointStats,
    Histogram,
    bucket_ms,
    merge_stats,
    parse_locust_json,
    parse_series,
    tolerance_ms,
)
from pytest_athalia.report._slo import percentile

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


@given(latencies, st.sampled_from([0.0, 50.0, 66.0, 90.0, 95.0, 99.0, 99.9, 100.0]))
def test_histogram_percentile_is_locusts_rank_within_tolerance(values: list[float], q: float) -> None:
    """A percentile read from the buckets is the bucket of the request at Locust's rank, within half a bucket."""
    histogram = Histogram.of({})
    for value in values:
        histogram = histogram.merge(Histogram.of({bucket_ms(value): 1}))
    ordered = sorted(values)
    exact = ordered[min(len(values), math.floor(Fraction(str(q)) * len(values) / 100) + 1) - 1]
    measured = histogram.percentile(q)
    assert measured is not None
    assert measured == bucket_ms(exact)
    assert abs(measured - exact) <= tolerance_ms(exact) + 1e-9
    nearest_rank = percentile(values, q)
    assert nearest_rank is not None
    assert measured >= bucket_ms(nearest_rank)  # never below the nearest rank: a latency gate errs to failing


def test_histogram_percentiles_on_known_counts() -> None:
    """Locust's rank floor(n*q)+1 over counts: 90 fast and 10 slow requests give p89 fast, p90 slow."""
    histogram = Histogram.of({"10": 90, "500": 10})
    assert (histogram.count, histogram.percentile(89), histogram.percentile(90)) == (100, 10.0, 500.0)
    assert (histogram.percentile(0), histogram.percentile(100)) == (10.0, 500.0)
    assert Histogram().percentile(95) is None
    with pytest.raises(ValueError, match=r"0\.\.100"):
        histogram.percentile(101)


def test_percentiles_equal_locusts_own_csv_for_the_same_run() -> None:
    """Every percentile Locust's --csv reports (per request name and aggregated) is what we compute from --json-file."""
    endpoints = parse_locust_json((FIXTURES / "locust.json").read_text(encoding="utf-8"))
    by_name = {e.name: e for e in endpoints}
    by_name["Aggregated"] = merge_stats(endpoints, method="", name="Total", seconds=1.0)
    with (FIXTURES / "locust_stats.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    columns = [c for c in rows[0] if c.endswith("%")]
    assert len(rows) == 4
    assert len(columns) == 11
    compared = 0
    for row in rows:
        stats = by_name[row["Name"]]
        assert stats.requests == int(row["Request Count"])
        for column in columns:
            ours = stats.percentile(float(column.rstrip("%")))
            assert ours is not None
            theirs = float(row[column])
            assert abs(ours - theirs) <= tolerance_ms(theirs), (row["Name"], column, ours, theirs)
            assert ours == theirs, (row["Name"], column, ours, theirs)  # the same buckets and the same rank rule
            compared += 1
    assert compared == 44


def test_rates_span_the_whole_run_as_locusts_do() -> None:
    """Each name's req/s is over the run, not from its own first request: within 5 % of Locust's CSV, never below."""
    endpoints = parse_locust_json((FIXTURES / "locust.json").read_text(encoding="utf-8"))
    by_name = {e.name: e for e in endpoints}
    by_name["Aggregated"] = merge_stats(endpoints, method="", name="Total", seconds=endpoints[0].seconds)
    assert len({e.seconds for e in endpoints}) == 1
    with (FIXTURES / "locust_stats.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            ours, theirs = by_name[row["Name"]].rps, float(row["Requests/s"])
            assert ours is not None
            # Locust's span starts at the test's start, a moment before the first request.
            assert theirs <= ours <= theirs * 1.05, (row["Name"], ours, theirs)


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
    assert [e.key for e in endpoints] == [f"{e['method']} {e['name']}" for e in raw]
    assert sorted(e.key for e in endpoints) == ["GET /", "GET /missing", "GET /slow"]
    by_key = {e.key: (e, r) for e, r in zip(endpoints, raw, strict=True)}
    (page, page_raw), (missing, missing_raw) = by_key["GET /"], by_key["GET /missing"]
    assert (page.requests, page.failures) == (page_raw["num_requests"], 0)
    assert missing.failures == missing.requests == missing_raw["num_requests"]
    assert missing.error_rate_pct == 100.0
    assert page.histogram.count == page.requests
    assert page.avg_ms == pytest.approx(page_raw["total_response_time"] / page_raw["num_requests"])
    run = max(r["last_request_timestamp"] for r in raw) - min(r["start_time"] for r in raw)
    assert page.seconds == missing.seconds == pytest.approx(run)
    p95 = page.percentile(95)
    assert p95 is not None
    assert p95 <= page_raw["max_response_time"] + tolerance_ms(page_raw["max_response_time"])


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
    assert any(s.users == 4 for s in series.seconds)


def test_the_end_marker_carries_locusts_spawn_and_stop_times() -> None:
    """The listener's end line gives the series its completeness, CPU warning and Locust's event times."""
    second = json.dumps({"t": 100, "users": 2, "cpu": 10.0, "procs": 1, "entries": []})
    end = json.dumps({"end": True, "cpu_warning": True, "exit_code": 0, "spawned_at": 99.5, "stopping_at": 110.25})
    series = parse_series([second, end])
    assert (series.complete, series.cpu_warning, series.spawned_at, series.stopping_at) == (True, True, 99.5, 110.25)
    unmarked = parse_series([second, json.dumps({"end": True, "cpu_warning": False, "exit_code": 0})])
    assert (unmarked.complete, unmarked.spawned_at, unmarked.stopping_at) == (True, None, None)


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
