"""A release's story as timeline events, seconds from its start (pure, from the frozen report).

The release starts when the live version's watch (the baseline) starts; the deploy follows it, the
smoke test follows the deploy, then the switch, any trigger that fired, the rollback, and the end of
the probe. The canary's timeline (canary/_timeline.py) shares the steps before any traffic moves.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..report._identity import version_of
from ..report._series import TimelineEvent
from ._release import BaselineReport, Candidate, ReleaseReport, SmokeReport, Stop
from ._router import Color
from ._triggers import TriggerResult

__all__ = ["before_traffic_events", "release_origin_ns", "release_timeline"]

_DETAIL = 200  # characters: a detail is a label, the failure text has the whole story


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _DETAIL else line[: _DETAIL - 3] + "..."


def release_origin_ns(baseline: BaselineReport | None, *fallbacks: int | None) -> int | None:
    """When the release started: the baseline's first probe request, else the first known time."""
    if baseline is not None:
        return baseline.probe.started_ns
    return next((ns for ns in fallbacks if ns is not None), None)


def before_traffic_events(
    origin_ns: int,
    candidate: Candidate,
    color: Color,
    baseline: BaselineReport | None,
    deploy_seconds: float | None,
    smoke: SmokeReport | None,
    stop: Stop | None,
) -> list[TimelineEvent]:
    """Baseline, deploy, deployed, smoke and a stop before any traffic moved."""
    events: list[TimelineEvent] = []
    t = 0.0
    if baseline is not None:
        events.append(
            TimelineEvent(
                0.0,
                "baseline",
                f"{baseline.color} live watched {baseline.seconds:.1f} s, "
                f"{baseline.failed} failed of {baseline.probe.count} requests",
            )
        )
        t = max(0.0, (baseline.probe.stopped_ns - origin_ns) / 1e9)
    if stop is not None and stop.check == "baseline":
        return [*events, TimelineEvent(t, "stop", _short(stop.message))]
    version = version_of(dict(candidate.env), candidate.image)
    events.append(TimelineEvent(t, "deploy", f"{color} {candidate.name}" + (f" {version}" if version else "")))
    if deploy_seconds is not None:
        t += deploy_seconds
        events.append(TimelineEvent(t, "deployed", f"{color} healthy after {deploy_seconds:.1f} s"))
    if smoke is not None:
        paths = [r for r in smoke.results if r.path != "(router)"]
        bad = [r.path for r in smoke.results if not r.ok]
        detail = f"{len(paths)} paths passed" if not bad else f"failed: {', '.join(bad)}"
        events.append(TimelineEvent(t, "smoke", detail))
    if stop is not None:
        events.append(TimelineEvent(t, "stop", _short(stop.message)))
    return events


def _seconds(ns: int, origin_ns: int) -> float:
    return max(0.0, (ns - origin_ns) / 1e9)


def release_timeline(report: ReleaseReport) -> tuple[TimelineEvent, ...]:
    """deploy, smoke, switch, triggers fired, rollback and the end, in time order; () when nothing ran."""
    switch, rollback, probe = report.switch, report.rollback, report.probe
    origin = release_origin_ns(
        report.baseline, switch.started_ns if switch else None, probe.started_ns if probe else None
    )
    if origin is None:
        return ()
    events = before_traffic_events(
        origin, report.candidate, report.color, report.baseline, report.deploy_seconds, report.smoke, report.stop
    )
    if switch is not None:
        ms = "" if switch.ms is None else f" in {switch.ms:.1f} ms"
        events.append(
            TimelineEvent(
                _seconds(switch.started_ns, origin), "switch", f"{switch.from_color} -> {switch.to_color}{ms}"
            )
        )
    events.extend(_fired(report.triggers, origin))
    if rollback is not None:
        how = "automatic" if rollback.automatic else "manual"
        ms = "" if rollback.ms is None else f" in {rollback.ms:.1f} ms"
        why = f" ({rollback.trigger.trigger} trigger)" if rollback.trigger is not None else ""
        events.append(
            TimelineEvent(
                _seconds(rollback.weights_ns, origin),
                "rollback",
                f"{how}{why}: {rollback.bad_color} -> {rollback.good_color}{ms}",
            )
        )
    if probe is not None and report.stop is None:
        events.append(TimelineEvent(_seconds(probe.stopped_ns, origin), "end", report.phase.value))
    return tuple(sorted(events, key=lambda e: e.t_s))


def _fired(triggers: Sequence[TriggerResult], origin: int) -> list[TimelineEvent]:
    return [TimelineEvent(_seconds(t.at_ns, origin), "trigger", _short(t.describe())) for t in triggers if t.fired]
