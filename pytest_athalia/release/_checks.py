"""Verdicts of a release, as pure functions of a :class:`~pytest_athalia.release._release.ReleaseReport`.

The switch and rollback verdicts also take the environment's ``slo.rollback``
(:class:`~pytest_athalia.config._rollout.RollbackSLO`), the probe's the minimum rate (``MIN_PROBE_RATE``);
the trigger and drill verdicts judge each trigger against its own threshold in the report.
Tests apply them through the gate (``athalia_gate.apply`` or ``apply_all``), so every value also becomes
JUnit properties ``athalia.<check>.*``. Check names: ``baseline`` (the live version before the deploy),
``deploy``, ``smoke``, ``probe_rate``, ``switch_failed_requests``, ``switch_ms``, ``switch_stray_responses``,
``rollback_ms``, ``rollback_failed_requests``, ``trigger_<name>`` (the candidate stayed healthy) and
``drill_<name>`` (a bad candidate made that trigger fire).

A release stopped before the switch is told by the check that stopped it: ``baseline`` (inconclusive,
the live version already fails), ``deploy`` (failed, with compose's output) or ``smoke`` (failed, or
inconclusive when the live version does not answer as expected either). Every later check is then
*not measured*, with the reason naming that check: recorded, never a failure of its own, never a pass.
"""

from __future__ import annotations

from ..config._rollout import RollbackSLO
from ..report._slo import Comparison, Measurement, Outcome, Threshold, Verdict, judge
from ._release import ReleaseReport
from ._timing import Cutover, describe_strays
from ._triggers import TriggerResult, TriggerState

__all__ = [
    "MIN_PROBE_RATE",
    "baseline_verdict",
    "deploy_verdict",
    "drill_verdict",
    "probe_verdict",
    "rollback_verdicts",
    "smoke_verdict",
    "switch_verdicts",
    "trigger_verdicts",
]


# The floor for the background probe: below it a "0 failed requests" says too little.
MIN_PROBE_RATE = 200.0

# The order a release runs in: a check after the one that stopped it was never reached.
_STAGES = ("baseline", "deploy", "smoke")


def _stopped(report: ReleaseReport, after: str | None = None) -> str | None:
    """Why a check (after stage `after`, or after the switch) was never reached; None when it was."""
    stop = report.stop
    if stop is None or (after is not None and _STAGES.index(after) <= _STAGES.index(stop.check)):
        return None
    return f"not reached: the release stopped at the {stop.check} check" + (
        " (the live version already fails)" if stop.inconclusive else ""
    )


def _not_measured(check: str, unit: str, threshold: Threshold, why: str, window: str = "") -> Verdict:
    return Verdict(Measurement(check, None, unit, 0, window), threshold, Outcome.NOT_MEASURED, why)


def baseline_verdict(report: ReleaseReport) -> Verdict:
    """The live version before the deploy: pass when no trigger fired on it; inconclusive when one did.

    A live version that already breaches a trigger says nothing about the candidate: the release is
    inconclusive (never a pass, never the candidate's failure), naming the trigger, its measured
    value, threshold and samples.
    """
    baseline = report.baseline
    threshold = Threshold(0, Comparison.AT_MOST, "triggers fired")
    if baseline is None:
        nothing = Measurement("baseline", None, "triggers fired", 0)
        return Verdict(nothing, threshold, Outcome.FAIL, "the live version was not watched")
    window = f"{baseline.seconds:.1f} s on {baseline.color}"
    fired = baseline.fired
    if fired is not None:
        measurement = Measurement("baseline", fired.value, fired.unit, fired.samples, window)
        why = report.stop.message if report.stop is not None else f"the live version already fails: {fired.describe()}"
        return Verdict(
            measurement, Threshold(fired.threshold, Comparison.AT_MOST, fired.unit), Outcome.INCONCLUSIVE, why
        )
    measurement = Measurement("baseline", 0.0, "triggers fired", baseline.probe.count, window)
    insufficient = [t for t in baseline.triggers if t.state is TriggerState.INSUFFICIENT]
    if insufficient:
        why = "the live version could not be judged: " + "; ".join(t.describe() for t in insufficient)
        return Verdict(measurement, threshold, Outcome.INCONCLUSIVE, why)
    return judge(measurement, threshold)


def deploy_verdict(report: ReleaseReport, max_seconds: float) -> Verdict:
    """Seconds until the candidate was healthy, against the deploy timeout; a failed deploy carries compose's output."""
    threshold = Threshold(max_seconds, Comparison.AT_MOST, "s")
    if report.stop is not None and report.stop.check == "deploy":
        return Verdict(Measurement("deploy", None, "s", 0), threshold, Outcome.FAIL, report.stop.message)
    why = _stopped(report, "deploy")
    if why is not None:
        return _not_measured("deploy", "s", threshold, why)
    if report.deploy_seconds is None:
        return Verdict(Measurement("deploy", None, "s", 0), threshold, Outcome.FAIL, "the candidate was not deployed")
    return judge(Measurement("deploy", report.deploy_seconds, "s", 1), threshold)


def smoke_verdict(report: ReleaseReport) -> Verdict:
    """Every judged path answered by the candidate as expected and as the live version does.

    Failed names the path, both statuses and the fix; inconclusive when the live version itself does
    not answer a path as expected.
    """
    threshold = Threshold(0, Comparison.AT_MOST, "paths")
    why = _stopped(report, "smoke")
    if why is not None:
        return _not_measured("smoke", "paths", threshold, why)
    smoke = report.smoke
    if smoke is None:
        return Verdict(Measurement("smoke", None, "paths", 0), threshold, Outcome.FAIL, "no smoke test ran")
    paths = [r for r in smoke.results if r.path != "(router)"]
    bad = [r for r in smoke.results if not r.ok]
    measurement = Measurement("smoke", float(len(bad)), "paths", len(paths), f"{smoke.color} beside {report.previous}")
    if not bad:
        return judge(measurement, threshold)
    message = report.stop.message if report.stop is not None else "; ".join(r.detail for r in bad)
    outcome = Outcome.INCONCLUSIVE if report.inconclusive else Outcome.FAIL
    return Verdict(measurement, threshold, outcome, message)


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
    stopped = _stopped(report)
    if stopped is not None:
        return _not_measured("probe_rate", "req/s", verdict.threshold, stopped)
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
    """One verdict per enabled trigger: pass while it stayed quiet; fired fails; too little data is inconclusive.

    None when the release stopped before the switch: the check that stopped it tells why.
    """
    if _stopped(report) is not None:
        return ()
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
    stopped = _stopped(report)
    if stopped is not None:
        return tuple(
            _not_measured(check, unit, Threshold(limit, Comparison.AT_MOST, unit), stopped, "switch")
            for check, unit, limit in (
                ("switch_failed_requests", "requests", slo.max_failed_requests),
                ("switch_ms", "ms", slo.max_switch_ms),
                ("switch_stray_responses", "responses", 0),
            )
        )
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
    stopped = _stopped(report)
    if stopped is not None:
        return (
            _not_measured("rollback_ms", "ms", Threshold(slo.max_ms, Comparison.AT_MOST, "ms"), stopped, "rollback"),
            _not_measured(
                "rollback_failed_requests",
                "requests",
                Threshold(slo.max_failed_requests, Comparison.AT_MOST, "requests"),
                stopped,
                "rollback",
            ),
        )
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
    stopped = _stopped(report)
    if stopped is not None:
        return _not_measured(f"drill_{trigger}", "", Threshold(0, Comparison.AT_LEAST, ""), stopped)
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
