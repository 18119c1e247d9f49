"""Verdicts of a canary release, as pure functions of a :class:`~pytest_athalia.canary._report.CanaryReport`.

Check names (stable, recorded as JUnit properties ``athalia.<check>.*`` and in the JSON artifact):

- ``baseline``, ``deploy``, ``smoke``: the same checks as a blue-green release, before any traffic moves;
- ``canary_step_<percent>_<metric>`` (``canary_step_5_error_rate``, ``canary_step_25_latency_p95``...): the
  judge's verdict on one metric at one step: the canary's value against its limit, its samples, and in the
  window the step's length and the baseline's value; the reason names the test, statistic and p-value;
- ``canary_step_<percent>``: a step judged on no metric at all (the metric source could not tell);
- ``canary_promoted``: the share the candidate reached (at least 100 % to pass);
- ``canary_rollback_ms``, ``canary_rollback_failed_requests``: the rollback against ``slo.rollback``;
- ``canary_drill_<name>``: a bad candidate was caught (rolled back, or failed closed) before 100 %.

:func:`step_figures` gives the values that are recorded but not gated: each step's seconds and samples per
color, and the detection time and step.
"""

from __future__ import annotations

from ..config._rollout import RollbackSLO
from ..release._checks import baseline_verdict, deploy_verdict, smoke_verdict
from ..release._release import Phase, ReleaseReport
from ..report._slo import Comparison, Measurement, Outcome, Threshold, Verdict, judge
from ._report import CanaryReport, StepReport, describe_metric

__all__ = [
    "before_traffic_verdicts",
    "canary_drill_verdict",
    "canary_post_deploy_verdict",
    "canary_promoted_verdict",
    "canary_rollback_verdicts",
    "canary_step_verdicts",
    "step_figures",
]


def _as_release(report: CanaryReport) -> ReleaseReport:
    # Baseline, deploy and smoke are blue-green's own steps: judged by blue-green's own verdicts.
    return ReleaseReport(
        report.candidate,
        report.color,
        report.previous,
        Phase.FAILED if report.stop is not None else Phase.LIVE,
        deploy_seconds=report.deploy_seconds,
        smoke=report.smoke,
        error=report.error,
        baseline=report.baseline,
        stop=report.stop,
    )


def before_traffic_verdicts(report: CanaryReport, deploy_timeout_s: float) -> list[Verdict]:
    """``baseline``, ``deploy`` and ``smoke``, exactly as a blue-green release judges them."""
    release = _as_release(report)
    return [baseline_verdict(release), deploy_verdict(release, deploy_timeout_s), smoke_verdict(release)]


def _step_window(step: StepReport) -> str:
    # A short label; the baseline's value and samples are in the reason (describe_metric).
    return f"step {step.percent} %, {step.seconds:.1f} s"


def canary_step_verdicts(report: CanaryReport) -> list[Verdict]:
    """One verdict per metric per step, as the judge decided it (inconclusive stays inconclusive: fail closed)."""
    verdicts: list[Verdict] = []
    for step in report.steps:
        if not step.judgement.metrics:
            measurement = Measurement(
                f"canary_step_{step.percent}", None, "requests", step.canary_samples, _step_window(step)
            )
            reason = step.note or "the judge returned no metric"
            threshold = Threshold(0, Comparison.AT_MOST, "requests")
            verdicts.append(Verdict(measurement, threshold, Outcome.INCONCLUSIVE, reason))
            continue
        for metric in step.judgement.metrics:
            percent = metric.metric == "error_rate"
            unit = "%" if percent else "ms"
            scale = 100.0 if percent else 1.0
            window = _step_window(step)
            canary = None if metric.canary is None else metric.canary * scale
            measurement = Measurement(
                f"canary_step_{step.percent}_{metric.metric}", canary, unit, metric.canary_samples, window
            )
            limit = (metric.limit if metric.limit is not None else float("nan")) * scale
            reason = describe_metric(metric) + (f"; {step.note}" if step.note else "")
            outcome = metric.outcome
            if step.note and outcome is Outcome.PASS:
                outcome = Outcome.INCONCLUSIVE  # the live version failed in this window: nothing proven
            verdicts.append(Verdict(measurement, Threshold(limit, Comparison.AT_MOST, unit), outcome, reason))
    return verdicts


def canary_promoted_verdict(report: CanaryReport) -> Verdict:
    """The candidate reached 100 % with every step passed (a dry run: would have); names the decisive step."""
    reached = 0.0
    for step in report.steps:  # the share reached with every step up to it passed
        if step.outcome is not Outcome.PASS:
            break
        reached = float(step.percent)
    samples = sum(s.canary_samples for s in report.steps)
    seconds = sum(s.seconds for s in report.steps)
    measurement = Measurement("canary_promoted", reached if report.steps else None, "%", samples, f"{seconds:.1f} s")
    threshold = Threshold(100, Comparison.AT_LEAST, "%")
    if report.stop is not None:
        return Verdict(
            measurement,
            threshold,
            Outcome.NOT_MEASURED,
            f"not reached: the canary stopped at the {report.stop.check} check",
        )
    verdict = judge(measurement, threshold)
    decisive = report.decisive_step
    if decisive is not None:
        failing = decisive.failing
        why = describe_metric(failing) if failing is not None else decisive.note
        outcome = Outcome.FAIL if decisive.outcome is Outcome.FAIL else Outcome.INCONCLUSIVE
        return Verdict(measurement, threshold, outcome, f"{report.decision}: {why}")
    if report.post_deploy is not None and report.post_deploy.breached:
        return Verdict(measurement, threshold, Outcome.FAIL, report.decision)
    return verdict


def canary_post_deploy_verdict(report: CanaryReport) -> Verdict:
    """After 100 %: no breach of the pre-deploy baseline during ``rollout.canary.post_deploy.window_s``."""
    result = report.post_deploy
    threshold = Threshold(0, Comparison.AT_MOST, "breaches")
    if result is None:
        why = (
            "not reached: the canary was not promoted"
            if report.stop is not None or not report.steps or report.decisive_step is not None
            else "not watched: no post-deploy hook (athalia_canary_post_deploy returned None)"
        )
        return Verdict(Measurement("canary_post_deploy", None, "breaches", 0), threshold, Outcome.NOT_MEASURED, why)
    measurement = Measurement(
        "canary_post_deploy", 1.0 if result.breached else 0.0, "breaches", result.checks, f"{result.seconds:.1f} s"
    )
    return Verdict(measurement, threshold, result.outcome, result.reason)


def canary_rollback_verdicts(report: CanaryReport, slo: RollbackSLO) -> list[Verdict]:
    """The candidate's weight to 0: within ``slo.rollback.max_ms`` and losing at most its failed requests."""
    rb = report.rollback
    ms = Threshold(slo.max_ms, Comparison.AT_MOST, "ms")
    failed = Threshold(slo.max_failed_requests, Comparison.AT_MOST, "requests")
    if rb is None:
        why = "not reached: the canary was not rolled back"
        return [
            Verdict(Measurement("canary_rollback_ms", None, "ms", 0), ms, Outcome.NOT_MEASURED, why),
            Verdict(
                Measurement("canary_rollback_failed_requests", None, "requests", 0), failed, Outcome.NOT_MEASURED, why
            ),
        ]
    window = f"step {rb.step} %"
    timed = judge(Measurement("canary_rollback_ms", rb.ms, "ms", rb.cutover.after, window), ms)
    if rb.ms is None:
        timed = Verdict(timed.measurement, ms, Outcome.FAIL, rb.cutover.reason)
    lost = judge(
        Measurement("canary_rollback_failed_requests", float(len(rb.failed)), "requests", rb.requests, window), failed
    )
    return [timed, lost]


def canary_drill_verdict(report: CanaryReport, name: str) -> Verdict:
    """A bad candidate was caught before 100 %: rolled back on a failed metric (or failed closed).

    The reason names the step, the metric, both values, the statistic, the p-value and the samples.
    """
    rb = report.rollback
    threshold = Threshold(100, Comparison.AT_MOST, "%")  # caught at a step below 100 %... or at it at the latest
    check = f"canary_drill_{name}"
    if report.stop is not None:
        measurement = Measurement(check, None, "%", 0)
        return Verdict(
            measurement,
            threshold,
            Outcome.NOT_MEASURED,
            f"not reached: the canary stopped at the {report.stop.check} check",
        )
    step = report.decisive_step
    if rb is None or step is None:
        samples = sum(s.canary_samples for s in report.steps)
        measurement = Measurement(check, None, "%", samples)
        return Verdict(measurement, threshold, Outcome.FAIL, f"the bad candidate was not caught: {report.decision}")
    measurement = Measurement(check, float(rb.step), "%", step.canary_samples, f"decided after {rb.detected_s:.1f} s")
    return Verdict(measurement, threshold, Outcome.PASS, f"{report.decision}: {rb.reason}")


def step_figures(report: CanaryReport) -> list[tuple[str, float, str, int]]:
    """Values recorded but not gated, as ``(check, value, unit, samples)``: per step and for the rollback."""
    figures: list[tuple[str, float, str, int]] = []
    for step in report.steps:
        name = f"canary_step_{step.percent}"
        figures.append((f"{name}_seconds", step.seconds, "s", step.judged))
        figures.append((f"{name}_canary_requests", float(step.canary_samples), "requests", step.canary_samples))
        figures.append((f"{name}_baseline_requests", float(step.baseline_samples), "requests", step.baseline_samples))
        latencies = step.canary.latencies_ms if step.canary is not None else ()
        figures.append((f"{name}_canary_latency_samples", float(len(latencies)), "samples", len(latencies)))
    rb = report.rollback
    if rb is not None:
        figures.append(("canary_detection_s", rb.detected_s, "s", 1))
        figures.append(("canary_detected_step", float(rb.step), "%", 1))
    return figures
