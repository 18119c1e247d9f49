"""Deployment suite: canary releases, 5 → 25 → 50 → 100 %, each step judged against the live version.

Run it with ``pytest suites/deployment -k canary --athalia-env=dev``; it needs ``rollout.enabled: true``
and takes its steps from ``rollout.canary`` (docs/canary.md).

- The candidate (``rollout.candidate``) is promoted to 100 %: every step's metrics pass, and each
  step's figures (seconds held, requests per color, the judge's values) are JUnit properties.
- A bad candidate is caught before 100 % and rolled back: +5 % errors (router fault ``error_ratio:
  0.05``) and +100 ms (router fault ``latency_ms: 100``). These tests pass when the canary catches them
  (like blue-green's drills); the verdict's reason names the step, the metric, both values, the
  statistic, the p-value and the samples, and the rollback is timed against ``slo.rollback``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from pytest_athalia import (
    Canary,
    CanaryReport,
    Candidate,
    Environment,
    Fault,
    Gate,
    Outcome,
    Verdict,
    before_traffic_verdicts,
    canary_drill_verdict,
    canary_post_deploy_verdict,
    canary_promoted_verdict,
    canary_rollback_verdicts,
    canary_step_verdicts,
    canary_timeline,
    step_figures,
)

BAD = {"errors": Fault(error_ratio=0.05), "latency": Fault(latency_ms=100)}


def test_canary_promotes_a_good_candidate(
    athalia_canary: Canary, athalia_candidate: Candidate, athalia_gate: Gate
) -> None:
    """The candidate goes 5 → 25 → 50 → 100 % with every step's metrics passing against the live version."""
    report = athalia_canary.release(athalia_candidate)
    record(athalia_gate, report)
    verdicts = [
        *before_traffic_verdicts(report, athalia_canary.plan.deploy_timeout_s),
        *canary_step_verdicts(report),
        canary_promoted_verdict(report),
        canary_post_deploy_verdict(report),
    ]
    gate_all(athalia_gate, verdicts, report)


@pytest.mark.parametrize("bad", sorted(BAD))
def test_canary_rolls_back_a_bad_candidate(
    bad: str,
    athalia_canary: Canary,
    athalia_candidate: Candidate,
    athalia_environment: Environment,
    athalia_gate: Gate,
) -> None:
    """A candidate with a router fault (+5 % errors, +100 ms) is caught at the first step with data enough."""
    drill = replace(athalia_candidate, name=f"canary drill {bad}", fault=BAD[bad])
    report = athalia_canary.release(drill, drill=True)  # bad on purpose: the judge must catch it, not smoke
    record(athalia_gate, report)
    caught = canary_drill_verdict(report, bad)
    verdicts = [
        *before_traffic_verdicts(report, athalia_canary.plan.deploy_timeout_s),
        caught,
        *canary_rollback_verdicts(report, athalia_environment.spec.slo.rollback),
    ]
    gate_all(athalia_gate, verdicts, report)
    # The message a rolled-back release leaves: step, metric, both values, statistic and samples.
    for part in ("step", "canary", "baseline", "statistic", "samples"):
        assert part in caught.reason, f"{part!r} missing from: {caught.reason}"


# --------------------------------------------------------------------------- helpers


def record(gate: Gate, report: CanaryReport) -> None:
    """Every step's figures (seconds, requests per color, latency samples) and the detection, as properties;
    the canary's timeline (steps, weights, verdicts, rollback or promotion) for the JSON report."""
    gate.timeline(canary_timeline(report))
    for check, value, unit, samples in step_figures(report):
        gate.record(check, value, unit, samples)
    if report.probe is not None:
        gate.record("canary_probe_requests", float(report.probe.count), "requests", report.probe.count)


def gate_all(gate: Gate, verdicts: Sequence[Verdict], report: CanaryReport) -> None:
    """Record every verdict, then fail once listing each that did not pass, followed by the canary's story."""
    ordered = sorted(verdicts, key=lambda v: (v.outcome is Outcome.PASS, v.outcome is not Outcome.FAIL))
    gate.apply_all(ordered, title="canary checks", detail=report.describe())
