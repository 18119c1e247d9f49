"""Verdicts of a load run: pure functions from :class:`LoadResults` and the ``load`` section to Verdicts.

Each threshold gives a verdict over the whole run and, with ``load.window``, one over the worst
W-second window of the steady state (every window must meet it, k6 #2379). A saturated generator
turns every verdict inconclusive: its numbers would measure Locust, not the service.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..config._load import LoadSpec
from ..report._slo import Comparison, Measurement, Outcome, Threshold, Verdict, judge
from ._results import TOTAL, EndpointStats, GeneratorLoad, LoadResults, Second, Series, merge_stats, tolerance_ms
from ._thresholds import LoadThreshold, Metric

__all__ = [
    "SUSTAIN_SECONDS",
    "Window",
    "check_name",
    "evaluate",
    "generator_load",
    "generator_verdict",
    "judge_threshold",
    "measure",
    "steady_seconds",
    "windows",
]

SUSTAIN_SECONDS = 3  # a lone busy second (start-up, imports) is not saturation


def measure(stats: EndpointStats, threshold: LoadThreshold) -> tuple[float | None, int]:
    """The threshold's metric over `stats`, and the number of samples it rests on."""
    metric = threshold.metric
    if metric is Metric.ERROR_RATE:
        return stats.error_rate_pct, stats.requests
    if metric is Metric.RPS:
        return stats.rps, stats.requests
    if metric is Metric.AVERAGE:
        return stats.avg_ms, stats.timed
    if metric is Metric.MAXIMUM:
        return stats.max_ms, stats.timed
    q = 50.0 if metric is Metric.MEDIAN else threshold.percentile
    assert q is not None
    return stats.percentile(q), stats.histogram.count


def check_name(endpoint: str | None, threshold: LoadThreshold, *, window: bool = False) -> str:
    """``load_p95``, ``load_get_items_p95``, ``load_p95_window``: valid JUnit property names."""
    parts = ["load"]
    if endpoint is not None:
        slug = re.sub(r"[^a-z0-9]+", "_", endpoint.lower()).strip("_")
        parts.append(slug or "endpoint")
    parts.append(threshold.name)
    if window:
        parts.append("window")
    return "_".join(parts)


def _is_latency_percentile(threshold: LoadThreshold) -> bool:
    return threshold.metric in {Metric.PERCENTILE, Metric.MEDIAN}


def judge_threshold(
    check: str,
    value: float | None,
    samples: int,
    threshold: LoadThreshold,
    *,
    window: str,
    min_samples: int,
    note: str = "",
) -> Verdict:
    """A verdict that honours the operator as written (``<`` refuses the limit itself); fails closed."""
    measurement = Measurement(check, value, threshold.unit, samples, window)
    limit = threshold.threshold
    reason = f"'{threshold.text}'"
    if value is not None and _is_latency_percentile(threshold):
        reason += f"; ±{tolerance_ms(value):g} ms from Locust's buckets"
    if note:
        reason += f"; {note}"
    verdict = judge(measurement, limit, min_samples=min_samples)
    return replace(verdict, reason=f"{reason}; {verdict.reason}" if verdict.reason else reason)


@dataclass(frozen=True)
class Window:
    """Seconds ``start``..``end`` (offsets from the run's first second) and their figures."""

    start: int
    end: int
    stats: EndpointStats


def steady_seconds(series: Series, users: int) -> tuple[Second, ...]:
    """The whole seconds of steady load: after every user was spawned and before the stop began.

    Locust's own events bound it when the series carries them (``spawned_at``, ``stopping_at``).
    Otherwise the listener's user counts do, sampled once a second at some point in it: from the
    first second with every user running up to, without, the last such second (the stop falls
    inside it).
    """
    if series.spawned_at is not None and series.stopping_at is not None:
        first, end = math.ceil(series.spawned_at), math.floor(series.stopping_at)
        return tuple(s for s in series.seconds if first <= s.t < end)
    full = [s.t for s in series.seconds if s.users is not None and s.users >= users]
    if not full:
        return ()
    first, last = full[0], full[-1]
    return tuple(s for s in series.seconds if first <= s.t < last)


def windows(
    series: Sequence[Second], width: int, *, endpoint: str | None, origin: int | None = None
) -> tuple[Window, ...]:
    """Every run of `width` consecutive seconds (a missing second counts as one without requests)."""
    if not series or width < 1:
        return ()
    origin = series[0].t if origin is None else origin
    # Each second's part once: a second lies in `width` windows.
    if endpoint is None:
        part_of = {s.t: [s.total()] for s in series}
    else:
        part_of = {s.t: [e for e in s.endpoints if e.key == endpoint] for s in series}
    first, last = series[0].t, series[-1].t
    out = []
    for start in range(first, last - width + 2):
        parts = [part for t in range(start, start + width) for part in part_of.get(t, ())]
        merged = merge_stats(parts, method="", name=endpoint or TOTAL, seconds=float(width))
        out.append(Window(start - origin, start - origin + width, merged))
    return tuple(out)


class _SteadyWindows:
    """The steady seconds of a run and their windows, merged once per endpoint however many thresholds read them."""

    def __init__(self, results: LoadResults, width: int) -> None:
        self.results, self.width = results, width
        self.steady = steady_seconds(results.series, results.users) if width else ()
        self._origin = results.series.seconds[0].t if results.series.seconds else None
        self._windows: dict[str | None, tuple[Window, ...]] = {}

    def of(self, endpoint: str | None) -> tuple[Window, ...]:
        if endpoint not in self._windows:
            self._windows[endpoint] = windows(self.steady, self.width, endpoint=endpoint, origin=self._origin)
        return self._windows[endpoint]


def _window_verdict(check: str, threshold: LoadThreshold, endpoint: str | None, runs: _SteadyWindows) -> Verdict:
    width = runs.width
    found = runs.of(endpoint)
    if endpoint is not None and threshold.metric is not Metric.RPS:
        # A rare request may miss a window while others flow: that is no stall, so no verdict.
        totals = runs.of(None)
        found = tuple(w for w, t in zip(found, totals, strict=True) if w.stats.requests or not t.stats.requests)
    if not found:
        why = (
            f"no {width} s window of steady load: {len(runs.steady)} s ran with all {runs.results.users} users "
            "(raise load.duration or load.spawn_rate)"
            if endpoint is None or not runs.steady
            else f"no {width} s window held a request named {endpoint!r}"
        )
        return judge_threshold(check, None, 0, threshold, window=f"{width} s windows", min_samples=0, note=why)
    judged = [(w, *measure(w.stats, threshold)) for w in found]
    breaches = [(w, v, n) for w, v, n in judged if v is None or not threshold.holds(v)]
    worst = _worst(breaches or judged, threshold)  # a window with no answer at all ranks worst
    w, value, samples = worst
    note = f"{len(breaches)} of {len(found)} windows breached" if breaches else f"all {len(found)} windows met it"
    if value is None:
        note += f"; no answer at all in +{w.start}s..+{w.end}s"
    return judge_threshold(
        check,
        value,
        samples,
        threshold,
        window=f"worst {width} s window (+{w.start}s..+{w.end}s)",
        min_samples=0,
        note=note,
    )


def _worst(
    judged: Sequence[tuple[Window, float | None, int]], threshold: LoadThreshold
) -> tuple[Window, float | None, int]:
    sign = 1.0 if threshold.comparison is Comparison.AT_MOST else -1.0
    return max(judged, key=lambda item: math.inf if item[1] is None else sign * item[1])


def generator_load(series: Sequence[Second], *, cpu_warning: bool, sustain: int = SUSTAIN_SECONDS) -> GeneratorLoad:
    """The highest CPU demand the busiest generator process held for `sustain` consecutive seconds."""
    cpus = [s.demand for s in series if s.demand is not None]
    sustained: float | None = None
    for i in range(len(series) - sustain + 1):
        run = [s.demand for s in series[i : i + sustain]]
        if all(c is not None for c in run) and series[i + sustain - 1].t - series[i].t == sustain - 1:
            low = min(c for c in run if c is not None)
            sustained = low if sustained is None else max(sustained, low)
    return GeneratorLoad(
        sustained_cpu=sustained,
        peak_cpu=max(cpus) if cpus else None,
        sustain_seconds=sustain,
        processes=max((s.processes for s in series), default=0),
        locust_warning=cpu_warning,
        samples=len(cpus),
    )


def generator_verdict(generator: GeneratorLoad, limit: float) -> Verdict:
    """Passes when the generator's sustained CPU was measured and below `limit`; else inconclusive, never a fail.

    Saturated (at or above `limit`, or Locust's own warning) and unmeasured (no sample, or never
    `sustain_seconds` in a row) are both inconclusive: the service is not to blame, but nothing passes.
    """
    measurement = Measurement(
        "load_generator_cpu",
        generator.sustained_cpu,
        "%",
        generator.samples,
        f"busiest process, held {generator.sustain_seconds} s",
    )
    threshold = Threshold(limit, Comparison.AT_MOST, "%", strict=True)  # at the limit is saturated
    saturated = generator.sustained_cpu is not None and not threshold.holds(generator.sustained_cpu)
    if saturated or generator.locust_warning:
        why = (
            f"the load generator saturated its CPU (its busiest process needed {generator.sustained_cpu:.0f}% "
            f">= {limit:g}% of a CPU, running or waiting for one, for {generator.sustain_seconds} s)"
            if saturated
            else "Locust warned that its CPU usage was above 90%"
        )
        fix = "add load.workers, or run workers on other machines (docs/load.md)"
        return Verdict(measurement, threshold, Outcome.INCONCLUSIVE, f"{why}; {fix}")
    if generator.samples == 0:
        # Not one sample: the listener could not measure, so saturation cannot be ruled out.
        why = "no CPU sample from the load generator, so its saturation cannot be ruled out"
        fix = "check that psutil imports in Locust's environment and that the run lasts a few seconds"
        return Verdict(measurement, threshold, Outcome.INCONCLUSIVE, f"{why}; {fix}")
    if generator.sustained_cpu is None:
        # Samples, but never `sustain_seconds` in a row: a run too short, or seconds missing, which a
        # generator too busy to report would also cause. Nothing measured is never a pass.
        why = (
            f"no {generator.sustain_seconds} consecutive seconds of CPU samples from the load generator "
            f"({generator.samples} sample(s)), so its saturation cannot be ruled out"
        )
        fix = "raise load.duration; if seconds are missing in a long run, add load.workers (docs/load.md)"
        return Verdict(measurement, threshold, Outcome.INCONCLUSIVE, f"{why}; {fix}")
    return Verdict(measurement, threshold, Outcome.PASS)


def evaluate(results: LoadResults, spec: LoadSpec) -> tuple[Verdict, ...]:
    """Every verdict of the run: the generator first, then each threshold (whole run, then windows)."""
    generator = generator_verdict(results.generator, spec.max_generator_cpu)
    verdicts: list[Verdict] = [generator]
    run_window = f"{results.elapsed:.0f} s run, {results.users} users"
    width = round(spec.window) if spec.window else 0
    runs = _SteadyWindows(results, width)
    groups: list[tuple[str | None, tuple[LoadThreshold, ...]]] = [(None, spec.thresholds)]
    groups += [(key, tuple(values)) for key, values in spec.endpoints.items()]
    for endpoint, thresholds in groups:
        stats = results.total if endpoint is None else results.endpoint(endpoint)
        for threshold in thresholds:
            check = check_name(endpoint, threshold)
            if stats is None:
                seen = ", ".join(e.key for e in results.endpoints) or "none"
                note = f"no requests named {endpoint!r} were made (seen: {seen}); check load.endpoints"
                verdicts.append(judge_threshold(check, None, 0, threshold, window=run_window, min_samples=1, note=note))
                continue
            value, samples = measure(stats, threshold)
            verdicts.append(
                judge_threshold(check, value, samples, threshold, window=run_window, min_samples=spec.min_requests)
            )
            if width:
                verdicts.append(
                    _window_verdict(check_name(endpoint, threshold, window=True), threshold, endpoint, runs)
                )
    if len(verdicts) == 1:
        verdicts.append(_nothing_to_judge())
    if generator.outcome is Outcome.INCONCLUSIVE:
        return (generator, *(_inconclusive(v, generator.reason) for v in verdicts[1:]))
    return tuple(verdicts)


def _nothing_to_judge() -> Verdict:
    # A gate without thresholds would pass any run: fail closed, saying what to add.
    return Verdict(
        Measurement("load_thresholds", 0, "thresholds", 0, "load.thresholds and load.endpoints"),
        Threshold(1, Comparison.AT_LEAST, "thresholds"),
        Outcome.FAIL,
        "no threshold to judge the run by; add some to load.thresholds, e.g. ['p95 < 300ms', 'error_rate < 1%']",
    )


def _inconclusive(verdict: Verdict, why: str) -> Verdict:
    return replace(verdict, outcome=Outcome.INCONCLUSIVE, reason=f"{verdict.reason}; inconclusive: {why}")
