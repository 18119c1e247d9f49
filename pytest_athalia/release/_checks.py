"""Verdicts of a release, as pure functions of a :class:`~pytest_athalia.release._release.ReleaseReport`.

The switch and rollback verdicts also take the environment's ``slo.rollback``
(:class:`~pytest_athalia.config._rollout.RollbackSLO`), the probe's the minimum rate (``MIN_PROBE_RATE``);
the trigger and drill verdicts judge each trigger against its own threshold in the report.
Tests apply them through the gate (``athalia_gate.apply`` or ``apply_all``), so every value also becomes
JUnit properties ``athalia.<check>.*``. Check names: ``probe_rate``, ``switch_failed_requests``, ``switch_ms``,
``switch_stray_responses``, ``rollback_ms``, ``rollback_failed_requests``, ``trigger_<name>`` (the
candidate stayed healthy) and ``drill_<name>`` (a bad candidate made that trigger fire).
"""

from __future__ import annotations

from ..config._rollout import RollbackSLO
from ..report._slo import Comparison, Measurement, Outcome, Threshold, Verdict, judge
from ._release import ReleaseReport
from ._timing import Cutover, describe_strays
from ._triggers import TriggerResult, TriggerState

__all__ = [
    "MIN_PROBE_RATE",
    "drill_verdict",
    "probe_verdict",
    "rollback_verdicts",
    "switch_verdicts",
    "trigger_verdicts",
]


# The floor for the background probe: below it a "0 failed requests" says too little.
MIN_PROBE_RATE = 200.0


def probe_verdict(report: ReleaseReport, *, min_rate: float = MIN_PROBE_RATE) -> Verdict:
    """The probe's achieved rate (requests per second over its whole run) is at least `min_rate`.

    Too slow a probe is *inconclusive*, never a pass and never blamed on the release: the other
    verdicts were measured over thinner traffic than promised. The probe is closed-loop, so on a
    busy machine its clients wait for answers (the latency trigger judges the candidate's).
    """
    probe = report.probe
    rate = probe.rate if probe is not None else None
    measurement = Measurement(
        "probe_rate", rate, "req/s", probe.count if probe else 0, f"{probe.seconds:.1f} s" if probe else ""
    )
    verdict = judge(measurement, Threshold(min_rate, Comparison.AT_LEAST, "req/s"))
    if probe is None:
        return Verdict(measurement, verdict.threshold, Outcome.FAIL, report.error or "the probe never ran")
    if verdict.outcome is Outcome.FAIL:
        answered = [s.latency_ms for s in probe.samples]
        mean = f", mean answer {sum(answered) / len(answered):.1f} ms" if answered else ""
        why = (
            f"probe could not reach {min_rate:g} req/s ({probe.count} requests over {probe.seconds:.1f} s{mean}); "
            "raise rollout.probe.clients (each client waits for its answer) or run on a less loaded machine"
        )
        return Verdict(measurement, verdict.threshold, Outcome.INCONCLUSIVE, why)
    return verdict


def _window(result: TriggerResult) -> str:
    return f"{result.window_ms:g} ms"


def trigger_verdicts(report: ReleaseReport) -> tuple[Verdict, ...]:
    """One verdict per enabled trigger: pass while it stayed quiet; fired fails; too little data is inconclusive."""
    out = []
    for result in report.triggers:
        measurement = Measurement(
            f"trigger_{result.trigger}", result.value, result.unit, result.samples, _window(result)
        )
        threshold = Threshold(result.threshold, Comparison.AT_MOST, result.unit)
        if result.state is TriggerState.INSUFFICIENT:
            out.append(Verdict(measurement, threshold, Outcome.INCONCLUSIVE, result.reason))
        elif result.state is TriggerState.FIRED:
            why = f"the {result.trigger} trigger fired and rolled the candidate back"
            out.append(
                Verdict(measurement, threshold, Outcome.FAIL, why + (f"; {result.reason}" if result.reason else ""))
            )
        else:
            out.append(Verdict(measurement, threshold, Outcome.PASS))
    return tuple(out)


def _cutover_verdict(check: str, cut: Cutover, max_ms: float, window: str) -> Verdict:
    """A cutover's time against `max_ms`, over the requests after it; inconclusive when it was not shown."""
    measurement = Measurement(check, cut.ms, "ms", cut.after, window)
    threshold = Threshold(max_ms, Comparison.AT_MOST, "ms")
    if cut.ms is None:
        return Verdict(measurement, threshold, Outcome.INCONCLUSIVE, cut.reason)
    return judge(measurement, threshold)


def switch_verdicts(report: ReleaseReport, slo: RollbackSLO) -> tuple[Verdict, ...]:
    """Failed requests during the switch, the switch time, and responses after it not from the candidate."""
    switch = report.switch
    if switch is None:
        why = report.error or "the release never switched"
        nothing = Measurement("switch_failed_requests", None, "requests", 0, "switch")
        return (
            Verdict(nothing, Threshold(slo.max_failed_requests, Comparison.AT_MOST, "requests"), Outcome.FAIL, why),
        )
    failed = judge(
        Measurement("switch_failed_requests", float(len(switch.failed)), "requests", switch.requests, "switch"),
        Threshold(slo.max_failed_requests, Comparison.AT_MOST, "requests"),
    )
    ms = _cutover_verdict("switch_ms", switch.cutover, slo.max_switch_ms, "switch")
    stray = judge(
        Measurement("switch_stray_responses", float(len(switch.stray)), "responses", switch.after, "after switch"),
        Threshold(0, Comparison.AT_MOST, "responses"),
        min_samples=1,
    )
    if switch.stray:
        stray = Verdict(
            stray.measurement, stray.threshold, stray.outcome, describe_strays(switch.stray, switch.weights_ns)
        )
    return failed, ms, stray


def rollback_verdicts(report: ReleaseReport, slo: RollbackSLO) -> tuple[Verdict, ...]:
    """Rollback time against ``slo.max_ms`` and failed requests during it against ``slo.max_failed_requests``."""
    rollback = report.rollback
    if rollback is None:
        why = report.error or "no rollback happened"
        nothing = Measurement("rollback_ms", None, "ms", 0, "rollback")
        return (Verdict(nothing, Threshold(slo.max_ms, Comparison.AT_MOST, "ms"), Outcome.FAIL, why),)
    ms = _cutover_verdict("rollback_ms", rollback.cutover, slo.max_ms, "rollback")
    failed = judge(
        Measurement("rollback_failed_requests", float(len(rollback.failed)), "requests", rollback.requests, "rollback"),
        Threshold(slo.max_failed_requests, Comparison.AT_MOST, "requests"),
    )
    return ms, failed


def drill_verdict(report: ReleaseReport, trigger: str) -> Verdict:
    """Passes when `trigger` fired and rolled the bad candidate back; otherwise says what it measured."""
    result = report.trigger(trigger)
    if result is None:
        nothing = Measurement(f"drill_{trigger}", None, "", 0)
        why = report.error or f"the {trigger} trigger was not evaluated (is rollout.triggers.{trigger} enabled?)"
        return Verdict(nothing, Threshold(0, Comparison.AT_LEAST, ""), Outcome.FAIL, why)
    measurement = Measurement(f"drill_{trigger}", result.value, result.unit, result.samples, _window(result))
    # Each trigger fires above its threshold (the health trigger's is one failure short of it).
    threshold = Threshold(result.threshold, Comparison.AT_LEAST, result.unit, strict=True)
    fired = report.fired
    if fired is not None and fired.trigger == trigger:
        return Verdict(measurement, threshold, Outcome.PASS, "fired: " + fired.describe())
    if fired is not None:
        why = f"another trigger fired first: {fired.describe()}"
    else:
        why = f"the {trigger} trigger did not fire: {result.describe()}"
    outcome = Outcome.INCONCLUSIVE if result.state is TriggerState.INSUFFICIENT else Outcome.FAIL
    return Verdict(measurement, threshold, outcome, why)
