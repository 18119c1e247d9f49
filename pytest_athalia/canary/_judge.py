"""The canary judge: the canary against the baseline (the live version, same window), metric by metric.

A pure function over :class:`~pytest_athalia.canary._metrics.ColorWindow` values: no clock, no I/O.
Fewer than ``min_samples`` requests (or latency samples) in either color is INCONCLUSIVE, never a pass.
Every test is one-sided (is the canary *worse*?) at ``alpha = 1 - spec.confidence``:

- ``error_rate``: Fisher's exact test on ``[[canary errors, canary successes], [baseline errors, baseline
  successes]]``; ``increase`` is the canary's rate minus the baseline's. FAIL when significant and the
  increase exceeds the minimum effect (a tenth of ``max_error_increase``: 0.01), or when the increase exceeds
  ``max_error_increase`` (the seed's hard limit). INCONCLUSIVE when the increase exceeds the minimum effect
  and p < 5 alpha (suspicious, not proven: the step collects more). PASS otherwise; no errors at all is p = 1.
- ``latency_p95`` and ``latency_p99``: one Mann-Whitney U test on the per-request latencies (is the canary
  stochastically slower?), and per percentile (nearest rank) the limit ``max(baseline pXX * (1 +
  max_latency_increase), baseline pXX + min_latency_increase_ms)``. FAIL needs both a significant shift
  *and* the percentile beyond its limit even
  at the canary's lower confidence bound (a distribution-free order statistic, :func:`lower_bound_rank`).
  One of the two with the point estimate beyond the limit is INCONCLUSIVE. A significant but small shift
  passes (the seed allows +20 %); so does a point estimate beyond the limit with neither kind of evidence:
  a nearest-rank p99 of 150 requests is nearly their maximum, so it alone is tail noise.

Family-wise error over 4 steps x 3 metrics: the latency metrics share one U test whose false positives
(alpha per step) fail only when the canary's percentile is also *proven* beyond +20 %; the error test's
false positives at a good release's tiny counts mostly fall below the minimum effect. A NaN p-value is
INCONCLUSIVE. docs/canary.md gives the formulas and the simulated false-fail and detection figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from .._errors import RolloutError
from ..config._canary import JudgeSpec
from ..report._slo import Outcome, format_number, percentile
from ._metrics import ColorWindow

__all__ = [
    "Judgement",
    "MetricJudgement",
    "MetricName",
    "fisher_greater",
    "judge",
    "lower_bound_rank",
    "mann_whitney_greater",
    "overall",
]

MetricName = Literal["error_rate", "latency_p95", "latency_p99"]

FISHER = "fisher-exact"
MANN_WHITNEY = "mann-whitney-u"
MIN_EFFECT_SHARE = 0.1  # an error increase below a tenth of the limit (0.01 at +0.10) is no effect in practice
SUSPICION = 5.0  # an error increase with p below SUSPICION x alpha is not passed yet: the step collects more
_PERCENTILES: tuple[tuple[MetricName, float], ...] = (("latency_p95", 95.0), ("latency_p99", 99.0))


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
    alpha: float | None = None  # 1 - confidence: a p-value below it is significant
    baseline_errors: int | None = None  # error_rate only: the counts behind the ratios
    canary_errors: int | None = None
    canary_lower: float | None = None  # latency only: the canary's percentile at its lower confidence bound
    max_increase: float | None = None  # the configured limit over the baseline: +0.10 (errors), +0.20 (share, latency)

    @property
    def unit(self) -> str:
        return "" if self.metric == "error_rate" else "ms"

    def describe(self) -> str:
        """One line: both values with units and samples, the limit, the test, statistic, p-value, outcome."""
        if self.metric == "error_rate":
            canary = f"canary {_ratio(self.canary)} ({self.canary_errors}/{self.canary_samples})"
            baseline = f"baseline {_ratio(self.baseline)} ({self.baseline_errors}/{self.baseline_samples})"
            limit = "no limit" if self.limit is None else f"limit {_ratio(self.limit)}{self._increase()}"
            values = f"{canary} vs {baseline}, {limit}"
        else:
            canary = f"canary {_ms(self.canary)} (n={self.canary_samples})"
            baseline = f"baseline {_ms(self.baseline)} (n={self.baseline_samples})"
            limit = "no limit" if self.limit is None else f"limit {_ms(self.limit)}{self._increase()}"
            lower = "" if self.canary_lower is None else f", canary's {self._bound()} {_ms(self.canary_lower)}"
            values = f"{canary} vs {baseline}, {limit}{lower}"
        return f"{self.metric}: {values}; {self._test_text()}: {self.outcome.value} ({self.reason})"

    def _increase(self) -> str:
        if self.max_increase is None:
            return ""
        if self.metric == "error_rate":
            return f" (+{self.max_increase:.2f})"
        return f" (+{self.max_increase * 100:g} %)"

    def _bound(self) -> str:
        return "lower bound" if self.alpha is None else f"{(1 - self.alpha) * 100:g} % lower bound"

    def _test_text(self) -> str:
        if self.p_value is None:
            return f"{self.test} not run"
        statistic = "n/a" if self.statistic is None else format_number(self.statistic)
        text = f"{self.test} statistic {statistic}, p={_p(self.p_value)}"
        if self.alpha is None or math.isnan(self.p_value):
            return text
        return f"{text} {'<' if self.p_value < self.alpha else '>='} {self.alpha:g}"


@dataclass(frozen=True)
class Judgement:
    """All metrics of one window: fail if any fails, else inconclusive if any is, else pass."""

    outcome: Outcome
    metrics: tuple[MetricJudgement, ...]

    @property
    def failed(self) -> tuple[MetricJudgement, ...]:
        return tuple(m for m in self.metrics if m.outcome is Outcome.FAIL)

    def describe(self) -> str:
        """The outcome, then one line per metric."""
        lines = [f"canary judgement: {self.outcome.value}"]
        lines.extend(f"  {metric.describe()}" for metric in self.metrics)
        return "\n".join(lines)


def judge(baseline: ColorWindow, canary: ColorWindow, spec: JudgeSpec) -> Judgement:
    """The canary's verdict against the baseline over the same window."""
    _scipy_stats()  # a missing extra is said at once, not only once samples suffice
    alpha = 1.0 - spec.confidence
    metrics = (_error_rate(baseline, canary, spec, alpha), *_latencies(baseline, canary, spec, alpha))
    return Judgement(overall(metrics), metrics)


def overall(metrics: Sequence[MetricJudgement]) -> Outcome:
    """FAIL if any metric fails, else INCONCLUSIVE if any is (or there are none), else PASS."""
    outcomes = {metric.outcome for metric in metrics}
    if Outcome.FAIL in outcomes:
        return Outcome.FAIL
    if not metrics or outcomes != {Outcome.PASS}:
        return Outcome.INCONCLUSIVE
    return Outcome.PASS


def fisher_greater(
    canary_errors: int, canary_requests: int, baseline_errors: int, baseline_requests: int
) -> tuple[float | None, float | None]:
    """Fisher's exact test, one-sided (the canary has more errors): (odds ratio, p-value).

    The table is ``[[canary errors, canary successes], [baseline errors, baseline successes]]``; the odds
    ratio is ``nan`` without errors (scipy's), ``inf`` when only the canary has them.
    """
    table = [
        [canary_errors, canary_requests - canary_errors],
        [baseline_errors, baseline_requests - baseline_errors],
    ]
    result = _scipy_stats().fisher_exact(table, alternative="greater")
    return _number(result.statistic), _number(result.pvalue)


def mann_whitney_greater(canary_ms: Sequence[float], baseline_ms: Sequence[float]) -> tuple[float | None, float | None]:
    """Mann-Whitney U, one-sided (the canary's latencies are stochastically greater): (U of the canary, p-value).

    scipy's default method: exact for small samples without ties, else the normal approximation with
    continuity and tie corrections.
    """
    result = _scipy_stats().mannwhitneyu(canary_ms, baseline_ms, alternative="greater")
    return _number(result.statistic), _number(result.pvalue)


def lower_bound_rank(n: int, q: float, confidence: float) -> int:
    """The 1-based rank r whose order statistic X(r) is at or below the q-quantile with ``confidence``.

    The largest r with ``P(Binomial(n, q) >= r) >= confidence`` (distribution-free: X(r) lies above the
    quantile only when fewer than r of n draws fall below it); 0 when no rank is low enough.
    """
    if n <= 0:
        return 0
    import numpy as np  # comes with scipy, in the [canary] extra

    # P(Bin >= r) >= c  <=>  cdf(r - 1) <= 1 - c; cdf rises with k, so r counts the ks where it holds.
    cdf = _scipy_stats().binom.cdf(np.arange(n + 1), n, q)
    return int(np.count_nonzero(cdf <= 1.0 - confidence))


# -- error rate -------------------------------------------------------------------------------------------


def _error_rate(baseline: ColorWindow, canary: ColorWindow, spec: JudgeSpec, alpha: float) -> MetricJudgement:
    def verdict(
        outcome: Outcome, reason: str, statistic: float | None = None, p_value: float | None = None
    ) -> MetricJudgement:
        return MetricJudgement(
            metric="error_rate",
            outcome=outcome,
            baseline=baseline.error_rate,
            canary=canary.error_rate,
            limit=None if baseline.error_rate is None else baseline.error_rate + spec.max_error_increase,
            test=FISHER,
            statistic=statistic,
            p_value=p_value,
            baseline_samples=baseline.requests,
            canary_samples=canary.requests,
            reason=reason,
            alpha=alpha,
            baseline_errors=baseline.errors,
            canary_errors=canary.errors,
            max_increase=spec.max_error_increase,
        )

    for window in (canary, baseline):
        if not 0 <= window.errors <= window.requests:
            return verdict(
                Outcome.INCONCLUSIVE, f"{window.errors} errors among {window.requests} requests: no valid count"
            )
    short = _short(("canary", canary.requests), ("baseline", baseline.requests), spec.min_samples, "requests")
    if short:
        return verdict(Outcome.INCONCLUSIVE, short)
    if canary.errors == 0 and baseline.errors == 0:
        # Nothing to compare: no test could tell the colors apart, and neither has failed anyone.
        return verdict(Outcome.PASS, "no errors in either color", p_value=1.0)
    statistic, p_value = fisher_greater(canary.errors, canary.requests, baseline.errors, baseline.requests)
    increase = canary.errors / canary.requests - baseline.errors / baseline.requests  # both have requests
    if p_value is None or math.isnan(p_value):
        return verdict(Outcome.INCONCLUSIVE, "the test gave no p-value", statistic, p_value)
    effect = spec.max_error_increase * MIN_EFFECT_SHARE
    if p_value < alpha and increase > effect:
        return verdict(Outcome.FAIL, "significantly more errors", statistic, p_value)
    if increase > spec.max_error_increase:
        reason = f"{increase:+.3f} over the baseline, beyond the limit +{spec.max_error_increase:g}"
        return verdict(Outcome.FAIL, reason, statistic, p_value)
    if p_value < SUSPICION * alpha and increase > effect:
        # Short of proof, not of suspicion (2 errors in 150 against 3 in 2850): the step extends, then fails closed.
        reason = f"more errors, not yet significant (p < {SUSPICION:g} x {alpha:g})"
        return verdict(Outcome.INCONCLUSIVE, reason, statistic, p_value)
    if p_value < alpha:
        reason = f"significantly more errors, but {increase:+.4f} is below the minimum effect {effect:g}"
        return verdict(Outcome.PASS, reason, statistic, p_value)
    return verdict(Outcome.PASS, "no significant increase, within the limit", statistic, p_value)


# -- latency ----------------------------------------------------------------------------------------------


def _latencies(
    baseline: ColorWindow, canary: ColorWindow, spec: JudgeSpec, alpha: float
) -> tuple[MetricJudgement, ...]:
    b_ms, c_ms = baseline.latencies_ms, canary.latencies_ms
    shown = MetricJudgement(
        metric="latency_p95",
        outcome=Outcome.INCONCLUSIVE,
        baseline=None,
        canary=None,
        limit=None,
        test=MANN_WHITNEY,
        statistic=None,
        p_value=None,
        baseline_samples=len(b_ms),
        canary_samples=len(c_ms),
        reason="",
        alpha=alpha,
        max_increase=spec.max_latency_increase,
    )
    problem = _short(("canary", len(c_ms)), ("baseline", len(b_ms)), spec.min_samples, "latency samples")
    if not problem and not all(math.isfinite(v) and v >= 0 for v in (*b_ms, *c_ms)):
        problem = "a latency is negative or not a number"
    if problem:
        return tuple(replace(shown, metric=metric, reason=problem) for metric, _ in _PERCENTILES)

    statistic, p_value = mann_whitney_greater(c_ms, b_ms)
    shown = replace(shown, statistic=statistic, p_value=p_value)
    ordered = sorted(c_ms)
    return tuple(
        _percentile_verdict(replace(shown, metric=metric), b_ms, ordered, q, spec) for metric, q in _PERCENTILES
    )


def _percentile_verdict(
    shown: MetricJudgement, b_ms: Sequence[float], ordered: Sequence[float], q: float, spec: JudgeSpec
) -> MetricJudgement:
    """One percentile: `shown` carries the U test; `ordered` is the canary's latencies, sorted."""
    base, value = percentile(b_ms, q), percentile(ordered, q)
    assert base is not None  # both colors have min_samples latencies
    assert value is not None
    # +20 % of a few milliseconds is scheduling noise, and a 5 % canary's connections to the router are
    # colder than the baseline's: a regression must also exceed an absolute floor.
    limit = max(base * (1.0 + spec.max_latency_increase), base + spec.min_latency_increase_ms)
    rank = min(lower_bound_rank(len(ordered), q / 100.0, spec.confidence), math.ceil(q * len(ordered) / 100))
    lower = ordered[rank - 1] if rank else None
    shown = replace(shown, baseline=base, canary=value, limit=limit, canary_lower=lower)

    p_value, alpha = shown.p_value, shown.alpha
    name = shown.metric.removeprefix("latency_")
    if p_value is None or alpha is None or math.isnan(p_value):
        return replace(shown, outcome=Outcome.INCONCLUSIVE, reason="the test gave no p-value")
    significant = p_value < alpha
    proven = lower is not None and lower > limit
    if significant and proven:
        outcome, reason = Outcome.FAIL, f"significantly slower, {name} beyond the limit even at its lower bound"
    elif value > limit and (significant or proven):
        # Evidence of one kind only: collect more before deciding (the step extends, then fails closed).
        why = "significantly slower" if significant else "beyond the limit at its lower bound"
        outcome, reason = Outcome.INCONCLUSIVE, f"{name} beyond the limit, {why} but not both"
    elif value > limit:
        # Tail noise (a p99 of 150 requests is nearly their maximum): see the module docstring.
        outcome, reason = Outcome.PASS, f"{name} beyond the limit, but no significant shift and not at its lower bound"
    elif significant:
        outcome, reason = Outcome.PASS, f"significantly slower, but {name} within the limit"
    else:
        outcome, reason = Outcome.PASS, "no significant shift, within the limit"
    return replace(shown, outcome=outcome, reason=reason)


# -- helpers ----------------------------------------------------------------------------------------------


def _short(canary: tuple[str, int], baseline: tuple[str, int], needed: int, what: str) -> str:
    """``"12 of 50 canary requests"`` for each color below ``needed``; empty when both have enough."""
    return ", ".join(f"{count} of {needed} {color} {what}" for color, count in (canary, baseline) if count < needed)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _ratio(value: float | None) -> str:
    return "nothing" if value is None else f"{value:.3f}"


def _ms(value: float | None) -> str:
    return "nothing" if value is None else f"{value:.1f} ms"


def _p(value: float) -> str:
    return f"{value:.2g}"


def _scipy_stats() -> Any:
    try:
        from scipy import stats
    except ImportError as error:  # pragma: no cover - the [canary] extra is installed where tests run
        raise RolloutError(
            "the canary judge needs scipy, which is not installed; "
            "install the canary extra: pip install 'pytest-athalia[canary]'"
        ) from error
    return stats
