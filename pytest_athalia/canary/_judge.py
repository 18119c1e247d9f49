"""The canary judge: the canary against the baseline (the live version, same window), metric by metric.

A pure function over :class:`~pytest_athalia.canary._metrics.ColorWindow` values: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config._canary import JudgeSpec
from ..report._slo import Outcome
from ._metrics import ColorWindow

__all__ = ["Judgement", "MetricJudgement", "MetricName", "judge"]

MetricName = Literal["error_rate", "latency_p95", "latency_p99"]


@dataclass(frozen=True)
class MetricJudgement:
    """One metric's verdict, with everything it was decided on."""

    metric: MetricName
    outcome: Outcome
    baseline: float | None  # the baseline's value (ratio, or ms)
    canary: float | None
    limit: float | None  # the canary's value may not exceed this (the absolute limit, from the baseline)
    test: str  # the statistical test, e.g. "fisher-exact" or "mann-whitney-u"
    statistic: float | None
    p_value: float | None
    baseline_samples: int
    canary_samples: int
    reason: str  # in words: why this outcome

    def describe(self) -> str:
        raise NotImplementedError  # filled in by the judge's implementation


@dataclass(frozen=True)
class Judgement:
    """All metrics of one window: fail if any fails, else inconclusive if any is, else pass."""

    outcome: Outcome
    metrics: tuple[MetricJudgement, ...]

    def describe(self) -> str:
        raise NotImplementedError  # filled in by the judge's implementation


def judge(baseline: ColorWindow, canary: ColorWindow, spec: JudgeSpec) -> Judgement:
    """The canary's verdict against the baseline over the same window."""
    raise NotImplementedError  # filled in by the judge's implementation
