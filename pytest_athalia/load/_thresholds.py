"""Load thresholds written as k6 writes them (``p95 < 300ms``, ``error_rate < 1%``, ``rps > 100``).

An expression is ``METRIC OPERATOR VALUE[UNIT]`` and is parsed once, when the environment file
is loaded, into a frozen :class:`LoadThreshold`; a bad one is a configuration error naming the
valid forms (:data:`VALID_FORMS`).

Metrics: ``p50``..``p99.9`` (also ``p(95)``), ``med``, ``avg``, ``max`` in ms (units ``ms``,
``s``, ``m``, ``us``; none means ms, as in k6), ``error_rate`` in % (``1%`` or a ratio below 1
such as ``0.01``; a bare ``1`` is refused as ambiguous), ``rps`` in requests per second (``100``
or ``100/s``). Operators: ``<``, ``<=``, ``>``, ``>=``; ``<`` and ``>`` are strict, as in k6.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum
from typing import Final

from ..report._slo import Comparison, Threshold

__all__ = ["VALID_FORMS", "LoadThreshold", "Metric", "parse_threshold"]

VALID_FORMS: Final = (
    "METRIC OP VALUE, e.g. 'p95 < 300ms', 'p(99) <= 1s', 'avg < 200ms', 'med < 100', "
    "'error_rate < 1%', 'rps > 100' (metrics: p50..p99.9 or p(N), med, avg, max, error_rate, rps; "
    "operators: <, <=, >, >=; latency units ms, s, m, us, default ms; error_rate in % or as a ratio below 1)"
)


class Metric(Enum):
    """What a threshold measures; `percentile` is set for ``pNN``."""

    PERCENTILE = "percentile"
    MEDIAN = "med"
    AVERAGE = "avg"
    MAXIMUM = "max"
    ERROR_RATE = "error_rate"
    RPS = "rps"


_LATENCY_UNITS: Final = {"": 1.0, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "us": 0.001, "µs": 0.001}
_OPERATORS: Final = {
    "<": (Comparison.AT_MOST, True),
    "<=": (Comparison.AT_MOST, False),
    ">": (Comparison.AT_LEAST, True),
    ">=": (Comparison.AT_LEAST, False),
}
_EXPRESSION = re.compile(
    r"^\s*(?P<metric>[A-Za-z_]+(?:\(\s*[0-9.]+\s*\)|[0-9.]+)?)\s*(?P<op>[<>=!]=?|==)\s*"
    r"(?P<value>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>[A-Za-zµ%/]*)\s*$"
)
_PERCENTILE = re.compile(r"^p(?:\(\s*(?P<a>[0-9.]+)\s*\)|(?P<b>[0-9.]+))$")


@dataclass(frozen=True)
class LoadThreshold:
    """One parsed threshold. `limit` is in the metric's unit: ms, % or requests/s."""

    text: str
    metric: Metric
    comparison: Comparison
    limit: float
    strict: bool
    percentile: float | None = None

    @property
    def unit(self) -> str:
        units: dict[Metric, str] = {Metric.ERROR_RATE: "%", Metric.RPS: "req/s"}
        return units.get(self.metric, "ms")

    @property
    def name(self) -> str:
        """The metric as a check-name part: ``p95``, ``p99_9``, ``avg``, ``error_rate``..."""
        if self.metric is Metric.PERCENTILE:
            assert self.percentile is not None
            return "p" + f"{self.percentile:g}".replace(".", "_")
        return str(self.metric.value)

    @property
    def threshold(self) -> Threshold:
        """As the gate judges it: limit, comparison, unit and strictness."""
        return Threshold(self.limit, self.comparison, self.unit, self.strict)

    def holds(self, value: float) -> bool:
        """Whether `value` meets the threshold (strict operators refuse the limit itself)."""
        return self.threshold.holds(value)

    def __str__(self) -> str:
        return self.text


def parse_threshold(text: object) -> LoadThreshold:
    """Parse one k6-style expression; ValueError says what is wrong and lists :data:`VALID_FORMS`."""
    if isinstance(text, LoadThreshold):
        return text
    if not isinstance(text, str):
        raise ValueError(f"a threshold expression as text: {VALID_FORMS}")
    match = _EXPRESSION.match(text)
    if match is None:
        raise ValueError(f"a threshold expression {VALID_FORMS}")
    metric_text, op, unit = match["metric"], match["op"], match["unit"]
    if op not in _OPERATORS:
        raise ValueError(f"an operator <, <=, > or >= (not {op!r}) in {VALID_FORMS}")
    comparison, strict = _OPERATORS[op]
    value = float(match["value"])
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"a finite value >= 0 in {VALID_FORMS}")
    metric, percentile = _metric(metric_text)
    limit = _limit(metric, value, unit)
    normalized = " ".join(text.split())
    return LoadThreshold(normalized, metric, comparison, limit, strict, percentile)


def _metric(text: str) -> tuple[Metric, float | None]:
    lowered = text.lower()
    found = _PERCENTILE.match(lowered)
    if found:
        raw = found["a"] or found["b"] or ""
        try:
            q = float(raw)
        except ValueError:
            q = -1.0
        if not 0 < q <= 100:
            raise ValueError(f"a percentile between 0 and 100 (not {text!r}) in {VALID_FORMS}")
        return Metric.PERCENTILE, q
    aliases = {"med": Metric.MEDIAN, "median": Metric.MEDIAN, "avg": Metric.AVERAGE, "max": Metric.MAXIMUM}
    aliases |= {"error_rate": Metric.ERROR_RATE, "errors": Metric.ERROR_RATE, "rps": Metric.RPS}
    if lowered in aliases:
        return aliases[lowered], None
    raise ValueError(f"a known metric (not {text!r}) in {VALID_FORMS}")


def _limit(metric: Metric, value: float, unit: str) -> float:
    unit = unit.lower()
    if metric is Metric.ERROR_RATE:
        if unit == "%":
            limit = value
        elif unit == "":
            if value >= 1:
                # A bare 1 reads as 1% to some and as the ratio 1 (100%) to others: make the author say which.
                hint = f"an error_rate ratio below 1 (0.01 for 1%), or a percentage like 1% (not {value:g})"
                raise ValueError(f"{hint} in {VALID_FORMS}")
            limit = value * 100
        else:
            raise ValueError(f"an error_rate in % or as a ratio (not unit {unit!r}) in {VALID_FORMS}")
        if limit > 100:
            raise ValueError(f"an error_rate of at most 100% in {VALID_FORMS}")
        return limit
    if metric is Metric.RPS:
        if unit not in {"", "/s", "rps"}:
            raise ValueError(f"rps as a number, e.g. 'rps > 100' or '100/s' (not unit {unit!r}) in {VALID_FORMS}")
        return value
    if unit not in _LATENCY_UNITS:
        raise ValueError(f"a latency unit ms, s, m or us (not {unit!r}) in {VALID_FORMS}")
    return value * _LATENCY_UNITS[unit]
