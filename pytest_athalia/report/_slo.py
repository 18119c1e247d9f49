"""Measurements, thresholds and the pure functions that judge them.

Nothing here touches Docker or pytest: verdicts are computed from frozen values,
so every rule is unit-tested without a stack.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "RESERVED_NAMES",
    "Comparison",
    "Measurement",
    "Outcome",
    "Threshold",
    "Verdict",
    "check_label",
    "figure",
    "format_number",
    "judge",
    "percentile",
]


class Comparison(Enum):
    """How a measured value must relate to its limit to pass."""

    AT_MOST = "<="
    AT_LEAST = ">="

    def holds(self, value: float, limit: float) -> bool:
        return value <= limit if self is Comparison.AT_MOST else value >= limit


class Outcome(Enum):
    PASS = "pass"  # noqa: S105 - an outcome, not a password
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    # Never reached: an earlier check stopped the run (a failed deploy, say). Said once, in that check;
    # this one is recorded with the reason but is no failure of its own, and never a pass.
    NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Threshold:
    """A limit; ``strict`` refuses the limit itself (``<`` and ``>``, as k6 writes them)."""

    limit: float
    comparison: Comparison
    unit: str
    strict: bool = False

    @property
    def operator(self) -> str:
        """``<=``, ``>=``, or ``<``/``>`` when strict."""
        if not self.strict:
            return self.comparison.value
        return "<" if self.comparison is Comparison.AT_MOST else ">"

    def holds(self, value: float) -> bool:
        if self.strict and value == self.limit:
            return False
        return self.comparison.holds(value, self.limit)

    def describe(self) -> str:
        return f"{self.operator} {format_number(self.limit)} {self.unit}".rstrip()


# Property names of their own (``athalia.series.<name>``, ``athalia.timeline``): never a check's name.
RESERVED_NAMES = frozenset({"series", "timeline"})


def check_name_problem(check: str) -> str | None:
    """Why `check` cannot name a check (it becomes ``athalia.<check>.<field>``), or None."""
    if not check or not all(c.isalnum() or c in "_-" for c in check):
        return f"check name {check!r} must be made of letters, digits, '_' and '-'"
    if check in RESERVED_NAMES:
        return f"check name {check!r} is reserved for the report's {check}; choose another name"
    return None


def subject_problem(subject: str) -> str | None:
    """Why `subject` cannot be a check's subject (it is written inside ``[...]`` of a property name), or None."""
    if any(not c.isprintable() for c in subject):
        return f"check subject {subject!r} must be printable text on one line"
    return None


def check_label(check: str, subject: str = "") -> str:
    """How a check is shown and keyed: ``switch_ms``, or ``trivy-vuln[athalia-demo/app:1.0.0]`` with a subject."""
    return f"{check}[{subject}]" if subject else check


@dataclass(frozen=True)
class Measurement:
    """One measured value; `value` is None when nothing could be measured.

    `check` is a name that stays the same across releases (``trivy-vuln``); `subject` says what was
    measured when one name is used for several things (an image, a file), so no version enters the name.
    """

    check: str
    value: float | None
    unit: str
    samples: int
    window: str = ""
    subject: str = ""

    def __post_init__(self) -> None:
        problem = check_name_problem(self.check) or subject_problem(self.subject)
        if problem is not None:
            raise ValueError(problem)
        if self.samples < 0:
            raise ValueError(f"samples must be >= 0, got {self.samples}")

    @property
    def label(self) -> str:
        return check_label(self.check, self.subject)


@dataclass(frozen=True)
class Verdict:
    measurement: Measurement
    threshold: Threshold
    outcome: Outcome
    reason: str = ""

    @property
    def check(self) -> str:
        return self.measurement.check

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS

    def message(self) -> str:
        """One line: measured value, threshold, unit, samples, window and outcome."""
        m = self.measurement
        measured = "nothing" if m.value is None else f"{format_number(m.value)} {m.unit}".rstrip()
        samples = f"{m.samples} sample" + ("" if m.samples == 1 else "s")
        window = f" over {m.window}" if m.window else ""
        text = (
            f"{m.label}: measured {measured}, threshold {self.threshold.describe()} "
            f"({samples}{window}): {self.outcome.value}"
        )
        return f"{text} ({self.reason})" if self.reason else text


def judge(measurement: Measurement, threshold: Threshold, *, min_samples: int = 1) -> Verdict:
    """Compare a measurement with its threshold, failing closed on missing or thin data."""
    if measurement.value is None or math.isnan(measurement.value):
        return Verdict(measurement, threshold, Outcome.FAIL, "no value was measured")
    if measurement.samples < min_samples:
        return Verdict(
            measurement,
            threshold,
            Outcome.FAIL,
            f"too few samples: {measurement.samples} < {min_samples} required",
        )
    ok = threshold.holds(measurement.value)
    return Verdict(measurement, threshold, Outcome.PASS if ok else Outcome.FAIL)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values.

    Nearest-rank returns an observed value, so a p95 never reports a latency
    that no request had.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    # q * n first: q / 100 * n is inexact in floats (0.07 * 100 != 7) and would skip a rank.
    rank = max(1, math.ceil(q * len(ordered) / 100))
    return ordered[rank - 1]


def format_number(value: float, decimals: int = 2) -> str:
    """A value for a message: ``3`` for 3.0, three significant digits below 1 (``0.0512``), else `decimals`.

    Safe for any float: infinities and NaN read ``inf``, ``-inf`` and ``nan``.
    """
    if not math.isfinite(value):
        return str(float(value))
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.{decimals}f}"


def figure(value: float) -> str:
    """A measured value as every report shows it (terminal, Markdown, dashboard): whole numbers without
    ``.0``, else 6 significant digits, the precision the JSON report keeps; so all show the same figure."""
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else f"{number:.6g}"
