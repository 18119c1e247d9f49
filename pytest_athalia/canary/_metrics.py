"""What a canary is judged on: per-color windows of requests, errors and latencies, from a metric source.

A :class:`MetricSource` turns a tool's raw counters (HAProxy's ``show stat``, Prometheus' PromQL) into
:class:`ColorWindow` values at once; the judge (:mod:`pytest_athalia.canary._judge`) is a pure function
over them. Sources count every request the router relayed (the probe's, Locust's, anyone's); per-request
latencies come from the traffic probe, which times each request and knows its color
(:func:`latencies_by_color`), so every source judges latency on the same samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..release._traffic import ProbeSample

__all__ = ["ColorWindow", "Mark", "MetricSource", "latencies_by_color"]


@dataclass(frozen=True)
class ColorWindow:
    """One color over one window: requests answered, errors among them (5xx), and request latencies."""

    color: str
    requests: int
    errors: int
    latencies_ms: tuple[float, ...] = ()
    seconds: float = 0.0

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True)
class Mark:
    """A source's counters at one instant (monotonic ns), per color: (requests, errors)."""

    at_ns: int
    counters: Mapping[str, tuple[int, int]]


@runtime_checkable
class MetricSource(Protocol):
    """Counts per color; :meth:`window` is what happened between two marks."""

    @property
    def name(self) -> str:
        """``haproxy`` or ``prometheus``: named in every verdict."""
        ...

    def mark(self) -> Mark:
        """The counters now. Raises :class:`~pytest_athalia._errors.RouterError` when the source cannot tell."""
        ...

    def window(self, start: Mark, end: Mark) -> Mapping[str, ColorWindow]:
        """Requests and errors per color between `start` and `end` (latencies empty: see latencies_by_color)."""
        ...


def latencies_by_color(samples: Sequence[ProbeSample], start_ns: int, end_ns: int) -> Mapping[str, tuple[float, ...]]:
    """The probe's answered requests started in ``[start_ns, end_ns)``, their latencies in ms by serving color."""
    found: dict[str, list[float]] = {}
    for sample in samples:
        if start_ns <= sample.start_ns < end_ns and sample.status is not None and sample.color:
            found.setdefault(sample.color, []).append(sample.latency_ms)
    return {color: tuple(values) for color, values in found.items()}
