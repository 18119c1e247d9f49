"""A canary's story as timeline events, seconds from its start (pure, from the frozen report).

Before any traffic moves it is the blue-green release's (baseline, deploy, smoke); then each step
with its share and weight, the step's verdict, and the rollback or the promotion.
"""

from __future__ import annotations

from ..release._timeline import before_traffic_events, release_origin_ns
from ..report._series import TimelineEvent
from ._report import CanaryReport

__all__ = ["canary_timeline"]


def _seconds(ns: int, origin_ns: int) -> float:
    return max(0.0, (ns - origin_ns) / 1e9)


def canary_timeline(report: CanaryReport) -> tuple[TimelineEvent, ...]:
    """baseline, deploy, smoke, each step and its verdict, the rollback or the promotion; () when nothing ran."""
    first = report.steps[0].started_ns if report.steps else None
    origin = release_origin_ns(report.baseline, first, report.probe.started_ns if report.probe else None)
    if origin is None:
        return ()
    events = before_traffic_events(
        origin, report.candidate, report.color, report.baseline, report.deploy_seconds, report.smoke, report.stop
    )
    for step in report.steps:
        events.append(
            TimelineEvent(_seconds(step.started_ns, origin), "step", f"{step.percent} % (weight {step.weight})")
        )
        failing = step.failing
        why = f": {failing.metric} {failing.outcome.value}" if failing is not None else ""
        if step.note:
            why += f" ({step.note})"
        events.append(
            TimelineEvent(_seconds(step.ended_ns, origin), "verdict", f"{step.percent} % {step.outcome.value}{why}")
        )
    rb = report.rollback
    if rb is not None:
        ms = "" if rb.ms is None else f" in {rb.ms:.1f} ms"
        events.append(
            TimelineEvent(
                _seconds(rb.weights_ns, origin), "rollback", f"at {rb.step} %: {rb.bad_color} -> {rb.good_color}{ms}"
            )
        )
    elif report.promoted and report.steps:
        events.append(TimelineEvent(_seconds(report.steps[-1].ended_ns, origin), "promote", f"{report.color} at 100 %"))
    elif report.dry_run and report.steps:
        events.append(TimelineEvent(_seconds(report.steps[-1].ended_ns, origin), "end", "dry run"))
    return tuple(sorted(events, key=lambda e: e.t_s))
