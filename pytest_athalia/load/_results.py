"""A Locust run's results as our own frozen values, parsed from Locust's files at once.

Two sources, both written by the Locust subprocess:

* ``--json-file`` (:func:`parse_locust_json`): Locust's final stats per request name. It has
  neither percentiles nor a total row, so both are computed here from each entry's
  ``response_times`` histogram (:class:`Histogram`).
* the per-second series of our listener (:func:`parse_series`,
  ``assets/locust/athalia_series.py``): the same figures for every second, plus the users
  running and the generator's CPU, for charts and the sliding-window check.

Tolerance: Locust stores response times in buckets (:func:`bucket_ms`): whole milliseconds
below 100 ms, then two significant digits (10 ms steps to 1 s, 100 ms steps to 10 s, 1 s
steps above). A percentile is read from the histogram with Locust's own rank rule (the
request at rank floor(n*q/100)+1, :meth:`Histogram.percentile`), so it equals the one in
Locust's CSV and HTML reports; it is the bucket of that request's time, off by at most half a
bucket (:func:`tolerance_ms`): 0.5 ms below 100 ms, 5 ms up to 1 s (at most 5 %), 50 ms up to
10 s, 500 ms above. Averages and maxima come from exact sums and are not bucketed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

from .._errors import LoadError

__all__ = [
    "TOTAL",
    "EndpointStats",
    "GeneratorLoad",
    "Histogram",
    "LoadResults",
    "Second",
    "Series",
    "bucket_ms",
    "merge_stats",
    "parse_locust_json",
    "parse_series",
    "tolerance_ms",
]

TOTAL = "Total"


def bucket_ms(response_time: float) -> int:
    """Locust 2.x's bucket for a response time (``locust.stats.bucket_response_time``)."""
    if response_time < 100:
        return round(response_time)
    if response_time < 1000:
        return int(round(response_time, -1))
    if response_time < 10000:
        return int(round(response_time, -2))
    return int(round(response_time, -3))


def tolerance_ms(value: float) -> float:
    """How far a bucketed value can be from the true one: half its bucket's width."""
    if value < 100:
        return 0.5
    if value < 1000:
        return 5.0
    if value < 10000:
        return 50.0
    return 500.0


@dataclass(frozen=True)
class Histogram:
    """Response times as (bucket ms, count) pairs, ascending."""

    buckets: tuple[tuple[float, int], ...] = ()

    @classmethod
    def of(cls, mapping: Mapping[str, int] | Mapping[int, int] | Mapping[float, int]) -> Histogram:
        merged: dict[float, int] = {}
        for key, count in mapping.items():
            bucket = float(key)
            if not math.isfinite(bucket) or bucket < 0 or not isinstance(count, int) or count < 0:
                raise ValueError(f"a histogram bucket is a time >= 0 with a count >= 0, got {key!r}: {count!r}")
            if count:
                merged[bucket] = merged.get(bucket, 0) + count
        return cls(tuple(sorted(merged.items())))

    @property
    def count(self) -> int:
        return sum(count for _, count in self.buckets)

    def merge(self, *others: Histogram) -> Histogram:
        merged: dict[float, int] = dict(self.buckets)
        for other in others:
            for bucket, count in other.buckets:
                merged[bucket] = merged.get(bucket, 0) + count
        return Histogram(tuple(sorted(merged.items())))

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (q in 0..100) as a bucket value, by Locust's rule; None when empty.

        Locust reports the request at rank floor(n*q/100)+1 (``calculate_response_time_percentile``):
        the nearest rank, or one above it when n*q/100 is whole. Using the same rule keeps our p95
        equal to the one in locust.html and locust_stats.csv, and never below the nearest-rank one,
        so a latency gate errs towards failing. The rank is exact (decimal q), not a float product.
        """
        if not 0 <= q <= 100:
            raise ValueError(f"percentile q must be within 0..100, got {q}")
        total = self.count
        if not total:
            return None
        rank = min(total, math.floor(Fraction(str(q)) * total / 100) + 1)
        seen = 0
        for bucket, count in self.buckets:
            seen += count
            if seen >= rank:
                return bucket
        return self.buckets[-1][0]  # pragma: no cover - the counts add up to total

    def as_dict(self) -> dict[str, int]:
        return {f"{bucket:g}": count for bucket, count in self.buckets}


@dataclass(frozen=True)
class EndpointStats:
    """One request name's figures (or the total) over `seconds` of load."""

    method: str
    name: str
    requests: int
    failures: int
    total_ms: float
    max_ms: float | None
    seconds: float
    histogram: Histogram = field(default_factory=Histogram)
    none_requests: int = 0  # requests Locust logged without a response time

    @property
    def key(self) -> str:
        return f"{self.method} {self.name}".strip()

    @property
    def timed(self) -> int:
        return self.requests - self.none_requests

    @property
    def error_rate_pct(self) -> float | None:
        return 100.0 * self.failures / self.requests if self.requests else None

    @property
    def rps(self) -> float | None:
        return self.requests / self.seconds if self.seconds > 0 else None

    @property
    def avg_ms(self) -> float | None:
        return self.total_ms / self.timed if self.timed > 0 else None

    def percentile(self, q: float) -> float | None:
        return self.histogram.percentile(q)

    def row(self) -> dict[str, object]:
        """A flat row for CSV/JSON artifacts."""
        return {
            "endpoint": self.key,
            "requests": self.requests,
            "failures": self.failures,
            "error_rate_pct": _round(self.error_rate_pct),
            "rps": _round(self.rps),
            "avg_ms": _round(self.avg_ms),
            "p50_ms": self.percentile(50),
            "p95_ms": self.percentile(95),
            "p99_ms": self.percentile(99),
            "max_ms": _round(self.max_ms),
            "seconds": _round(self.seconds),
        }


def merge_stats(entries: Sequence[EndpointStats], *, method: str, name: str, seconds: float) -> EndpointStats:
    """Add several entries up into one (the total row, or a window of seconds)."""
    peaks = [e.max_ms for e in entries if e.max_ms is not None]
    return EndpointStats(
        method,
        name,
        sum(e.requests for e in entries),
        sum(e.failures for e in entries),
        sum(e.total_ms for e in entries),
        max(peaks) if peaks else None,
        seconds,
        Histogram().merge(*(e.histogram for e in entries)),
        sum(e.none_requests for e in entries),
    )


@dataclass(frozen=True)
class Second:
    """One second of the run: when (Unix seconds), users running, generator CPU, and per-endpoint figures.

    `cpu` is the busiest generator process's CPU percent; `busy` adds the time it waited for a
    CPU (Linux run-queue delay), so a generator starved by other processes shows as saturated too.
    """

    t: int
    users: int | None
    cpu: float | None
    processes: int
    endpoints: tuple[EndpointStats, ...]
    busy: float | None = None

    @property
    def demand(self) -> float | None:
        """CPU demand of the busiest generator process: on a CPU plus waiting for one (else CPU alone)."""
        return self.busy if self.busy is not None else self.cpu

    def total(self) -> EndpointStats:
        return merge_stats(self.endpoints, method="", name=TOTAL, seconds=1.0)


@dataclass(frozen=True)
class Series:
    """The per-second series; `complete` when Locust wrote its end marker (it shut down cleanly).

    `spawned_at` and `stopping_at` are Locust's own events (every user spawned, the stop begun),
    in Unix seconds, when the end marker carried them.
    """

    seconds: tuple[Second, ...]
    complete: bool
    cpu_warning: bool
    spawned_at: float | None = None
    stopping_at: float | None = None


@dataclass(frozen=True)
class GeneratorLoad:
    """How busy the load generator was: the highest CPU demand (on a CPU or waiting for one, in %
    of one CPU) its busiest process sustained for `sustain_seconds`, and the highest single second."""

    sustained_cpu: float | None
    peak_cpu: float | None
    sustain_seconds: int
    processes: int
    locust_warning: bool
    samples: int


@dataclass(frozen=True)
class LoadResults:
    """Everything one load run measured, and where its artifacts are."""

    target: str
    users: int
    spawn_rate: float
    duration: float
    workers: int
    elapsed: float
    endpoints: tuple[EndpointStats, ...]
    total: EndpointStats
    series: Series
    generator: GeneratorLoad
    artifacts: Path

    def endpoint(self, key: str) -> EndpointStats | None:
        return next((e for e in self.endpoints if e.key == key), None)


# --------------------------------------------------------------------------- parsing


def parse_locust_json(text: str, *, source: str = "Locust's --json-file") -> tuple[EndpointStats, ...]:
    """Locust's final stats (``--json-file``) as one EndpointStats per request name.

    Every entry spans the whole run (first request of any name to the last), as in Locust's own
    req/s: a name first requested late is not credited with a higher rate. Locust counts from the
    test's start, a moment before the first request, so its rates read a little lower (~0.15 s in
    the span; 3 % on a 5 s run, 1 % on 12 s).
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError(
            f"athalia: {source} is not JSON ({exc.msg} at line {exc.lineno}); expected Locust's stats list. "
            "Check the Locust output beside it for why the run stopped."
        ) from None
    if not isinstance(data, list):
        raise LoadError(f"athalia: {source} holds {type(data).__name__}, expected a list of Locust stats entries.")
    out: list[EndpointStats] = []
    bounds: list[tuple[float, float | None]] = []
    for index, raw in enumerate(data):
        try:
            entry, start, last = _entry(raw)
            out.append(entry)
            bounds.append((start, last))
        except (KeyError, TypeError, ValueError) as exc:
            raise LoadError(
                f"athalia: {source}, entry {index}: expected a Locust stats entry with name, method, "
                f"num_requests, num_failures, total_response_time, response_times, start_time and "
                f"last_request_timestamp, found a problem: {exc!r}. Is this Locust 2.x output?"
            ) from None
    lasts = [last for _, last in bounds if last is not None]
    span = max(0.0, max(lasts) - min(start for start, _ in bounds)) if lasts else 0.0
    return tuple(replace(entry, seconds=span) for entry in out)


def _entry(raw: Mapping[str, object]) -> tuple[EndpointStats, float, float | None]:
    """One entry, with its first and last request times (Unix seconds; no last without requests)."""
    start = _number(raw["start_time"])
    raw_last = raw.get("last_request_timestamp")
    last = None if raw_last is None else _number(raw_last)
    requests = _count(raw["num_requests"])
    seconds = last - start if last is not None else 0.0
    hist = raw["response_times"]
    if not isinstance(hist, Mapping):
        raise TypeError("response_times is not a mapping")
    peak = raw.get("max_response_time")
    stats = EndpointStats(
        method=str(raw["method"] or ""),
        name=str(raw["name"]),
        requests=requests,
        failures=_count(raw["num_failures"]),
        total_ms=_number(raw["total_response_time"]),
        max_ms=_number(peak) if peak is not None and requests else None,
        seconds=max(seconds, 0.0),
        histogram=Histogram.of(hist),
        none_requests=_count(raw.get("num_none_requests", 0)),
    )
    return stats, start, last


def parse_series(lines: Iterable[str], *, source: str = "the per-second series") -> Series:
    """Our listener's JSON lines; lines for the same second (late worker reports) are added up."""
    by_second: dict[int, list[Second]] = {}
    complete = cpu_warning = False
    marks: dict[str, float | None] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if raw.get("end"):
                complete = True
                cpu_warning = bool(raw.get("cpu_warning"))
                marks = {k: None if raw.get(k) is None else _number(raw[k]) for k in ("spawned_at", "stopping_at")}
                continue
            second = _second(raw)
        except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
            raise LoadError(
                f"athalia: {source}, line {number}: expected a JSON object of one second, found a problem: "
                f"{exc!r}. The file is written by pytest_athalia/assets/locust/athalia_series.py."
            ) from None
        by_second.setdefault(second.t, []).append(second)
    seconds = tuple(_combine(parts) for _, parts in sorted(by_second.items()))
    return Series(seconds, complete, cpu_warning, marks.get("spawned_at"), marks.get("stopping_at"))


def _second(raw: Mapping[str, object]) -> Second:
    entries = raw["entries"]
    if not isinstance(entries, list):
        raise TypeError("entries is not a list")
    users, cpu, busy = raw.get("users"), raw.get("cpu"), raw.get("busy")
    return Second(
        t=_count(raw["t"]),
        users=None if users is None else _count(users),
        cpu=None if cpu is None else _number(cpu),
        processes=_count(raw.get("procs", 0)),
        endpoints=tuple(
            EndpointStats(
                method=str(e["method"]),
                name=str(e["name"]),
                requests=_count(e["requests"]),
                failures=_count(e["failures"]),
                total_ms=_number(e["sum_ms"]),
                max_ms=_number(e["max_ms"]) if e["requests"] else None,
                seconds=1.0,
                histogram=Histogram.of(e["hist"]),
            )
            for e in entries
        ),
        busy=None if busy is None else _number(busy),
    )


def _combine(parts: list[Second]) -> Second:
    if len(parts) == 1:
        return parts[0]
    by_key: dict[str, list[EndpointStats]] = {}
    for part in parts:
        for entry in part.endpoints:
            by_key.setdefault(entry.key, []).append(entry)
    cpus = [p.cpu for p in parts if p.cpu is not None]
    busy = [p.busy for p in parts if p.busy is not None]
    users = [p.users for p in parts if p.users is not None]
    return Second(
        parts[0].t,
        max(users) if users else None,
        max(cpus) if cpus else None,
        max(p.processes for p in parts),
        tuple(merge_stats(group, method=group[0].method, name=group[0].name, seconds=1.0) for group in by_key.values()),
        max(busy) if busy else None,
    )


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number >= 0, got {value!r}")
    return value


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
