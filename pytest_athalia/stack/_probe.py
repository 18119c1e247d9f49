"""HTTP probes of a running service, turned into frozen samples at once."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .._http import HttpClient, answered
from ..report._slo import percentile

__all__ = ["HttpSample", "HttpSamples", "sample_http"]


@dataclass(frozen=True)
class HttpSample:
    status: int | None  # None: no HTTP answer (refused, reset, timed out)
    latency_ms: float
    error: str = ""

    @property
    def ok(self) -> bool:
        return answered(self.status)


@dataclass(frozen=True)
class HttpSamples:
    url: str
    samples: tuple[HttpSample, ...]

    @property
    def count(self) -> int:
        return len(self.samples)

    @property
    def success_ratio(self) -> float | None:
        return sum(s.ok for s in self.samples) / self.count if self.samples else None

    def p95_ms(self) -> float | None:
        return percentile([s.latency_ms for s in self.samples if s.ok], 95)

    def failures(self) -> tuple[HttpSample, ...]:
        return tuple(s for s in self.samples if not s.ok)

    def describe_failures(self, limit: int = 3) -> str:
        shown = [f"{s.status or s.error}" for s in self.failures()[:limit]]
        return ", ".join(shown)


def sample_http(url: str, count: int, *, timeout: float = 5.0, interval: float = 0.0) -> HttpSamples:
    """Send `count` sequential GETs over one keep-alive session; bounded by count and timeout."""
    out: list[HttpSample] = []
    with HttpClient(timeout=timeout) as client:
        for i in range(count):
            answer = client.get(url)
            out.append(HttpSample(answer.status, answer.latency_ms, answer.error))
            if interval and i + 1 < count:
                time.sleep(interval)
    return HttpSamples(url, tuple(out))
