"""Deployment suite: blue-green releases through the router, automatic rollbacks, and their SLOs.

Run it with ``pytest suites/deployment --athalia-env=dev --junitxml=reports/junit.xml``. It needs
``rollout.enabled: true``; see docs/rollout.md.

- The candidate (``rollout.candidate``) takes all traffic with 0 failed requests, every later
  response comes from it, and no rollback trigger fires while it is watched; the background probe
  reached at least 200 requests/s.
- A manual rollback completes within ``slo.rollback.max_ms`` with 0 failed requests.
- Every release first watches the live version (``baseline``) and smoke-tests the candidate beside
  it on every judged path (``smoke``). A live version that already fails makes the test fail with an
  *inconclusive* ``baseline`` (or ``smoke``) check, "the live version already fails: ...": never a
  pass, never blamed on the candidate. A failed deploy is the ``deploy`` check, with compose's output
  once; the checks it kept from running are recorded as *not measured*, not as failures.
- Each bad candidate of ``rollout.drills`` (``error_rate``, ``latency``, ``health``) is rolled back
  automatically by its trigger within the SLO; so is a good one the users complain about (``external``).
  Without ``rollout.drills``, each is the candidate with a fault the router injects into its answers,
  sized from the triggers (docs/rollout.md, "Drills on your own app"): the app needs no fault switch.

Rehearse a bad build without editing the file:
``ATHALIA_CANDIDATE_ENV='FAULT_ERROR_RATE=0.5' pytest suites/deployment --athalia-env=dev``; the
first test then fails naming the trigger that fired, its measured value, threshold and sample count.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pytest_athalia import (
    BlueGreen,
    Candidate,
    Environment,
    ExternalTrigger,
    Gate,
    Outcome,
    ReleaseReport,
    Verdict,
    baseline_verdict,
    deploy_verdict,
    drill_verdict,
    probe_verdict,
    release_timeline,
    rollback_verdicts,
    smoke_verdict,
    switch_verdicts,
    trigger_verdicts,
)


def test_candidate_switches_with_zero_failed_requests(
    athalia_rollout: BlueGreen, athalia_candidate: Candidate, athalia_environment: Environment, athalia_gate: Gate
) -> None:
    """The candidate takes 100 % of the traffic: no trigger fires, 0 failed requests, every later answer is its own."""
    report = athalia_rollout.release(athalia_candidate)
    record(athalia_gate, report, rollback=True)
    slo = athalia_environment.spec.slo.rollback
    verdicts = [*trigger_verdicts(report), *switch_verdicts(report, slo), probe_verdict(report)]
    gate_all(athalia_gate, [*before_switch(athalia_rollout, report), *verdicts], report)


def test_manual_rollback_within_slo(
    athalia_rollout: BlueGreen, athalia_candidate: Candidate, athalia_environment: Environment, athalia_gate: Gate
) -> None:
    """A rollback by hand returns all traffic to the old color within slo.rollback.max_ms, losing no request."""
    report = athalia_rollout.release(athalia_candidate, manual_rollback=True)
    record(athalia_gate, report)
    slo = athalia_environment.spec.slo.rollback
    verdicts = [*switch_verdicts(report, slo), *rollback_verdicts(report, slo), probe_verdict(report)]
    gate_all(athalia_gate, [*before_switch(athalia_rollout, report), *verdicts], report)


@pytest.mark.parametrize("trigger", ["error_rate", "latency", "health"])
def test_bad_candidate_is_rolled_back_automatically(
    trigger: str,
    athalia_rollout: BlueGreen,
    athalia_drills: Mapping[str, Candidate],
    athalia_environment: Environment,
    athalia_gate: Gate,
) -> None:
    """The drill rollout.drills.<trigger> (default: a router fault) makes that trigger fire and is rolled back."""
    drill = athalia_drills.get(trigger)
    if drill is None:
        pytest.skip(
            f"no drill {trigger}: {athalia_environment.path} names other rollout.drills, or disables "
            f"rollout.triggers.{trigger}"
        )
    report = athalia_rollout.release(drill, drill=True)  # bad on purpose: its trigger must catch it, not smoke
    record(athalia_gate, report)
    slo = athalia_environment.spec.slo.rollback
    verdicts = [drill_verdict(report, trigger), *rollback_verdicts(report, slo)]
    gate_all(athalia_gate, [*before_switch(athalia_rollout, report), *verdicts], report)


def test_external_signal_rolls_back(
    athalia_rollout: BlueGreen, complaints_url: str, athalia_environment: Environment, athalia_gate: Gate
) -> None:
    """When the users complain (a URL answering 503), the release is rolled back automatically within the SLO."""
    unchanged = Candidate("drill external")  # a good release: only the complaints are bad
    report = athalia_rollout.release(
        unchanged, external=ExternalTrigger(url=complaints_url, interval_ms=50), drill=True
    )
    record(athalia_gate, report)
    slo = athalia_environment.spec.slo.rollback
    verdicts = [drill_verdict(report, "external"), *rollback_verdicts(report, slo)]
    gate_all(athalia_gate, [*before_switch(athalia_rollout, report), *verdicts], report)


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def complaints_url() -> Iterator[str]:
    """Function: the URL of a complaints desk on 127.0.0.1 that answers 503 'users complain' to every poll."""

    class Desk(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"users complain: checkout is broken"
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Desk)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/complaints"
    finally:
        server.shutdown()
        server.server_close()


def before_switch(rollout: BlueGreen, report: ReleaseReport) -> list[Verdict]:
    """The checks of every release before traffic moves: the live version, the deploy, the smoke test."""
    return [baseline_verdict(report), deploy_verdict(report, rollout.plan.deploy_timeout_s), smoke_verdict(report)]


def record(gate: Gate, report: ReleaseReport, *, rollback: bool = False) -> None:
    """Record the values that are reported but not gated: the baseline's traffic, detection time, probe requests,
    and the release's timeline (deploy, smoke, switch, triggers fired, rollback) for the JSON report.

    With `rollback`, also the rollback of a test that does not gate it (a bad candidate in the switch test).
    """
    gate.timeline(release_timeline(report))
    rb = report.rollback
    if rollback and rb is not None:
        if rb.ms is not None:
            gate.record("rollback_ms", rb.ms, "ms", rb.cutover.after)
        gate.record("rollback_failed_requests", float(len(rb.failed)), "requests", rb.requests)
    baseline = report.baseline
    if baseline is not None:  # what the live version did before the deploy (its verdict is the baseline check)
        gate.record("baseline_failed_requests", float(baseline.failed), "requests", baseline.probe.count)
        if baseline.probe.rate is not None:
            gate.record("baseline_probe_rate", baseline.probe.rate, "req/s", baseline.probe.count)
    if report.rollback is not None and report.rollback.detection_ms is not None:
        gate.record("detection", report.rollback.detection_ms, "ms")
    if report.probe is not None:
        gate.record("probe_requests", float(report.probe.count), "requests", report.probe.count)


def gate_all(gate: Gate, verdicts: Sequence[Verdict], report: ReleaseReport) -> None:
    """Record every verdict, then fail once listing each that did not pass, followed by the release's story.

    Failed verdicts are listed before inconclusive ones: a trigger that fired explains more than one
    that had too few samples when it did. Checks a stopped release never reached are recorded as
    *not measured* and not listed; the check that stopped it says why, once.
    """
    ordered = sorted(verdicts, key=lambda v: (v.outcome is Outcome.PASS, v.outcome is not Outcome.FAIL))
    gate.apply_all(ordered, title="release checks", detail=report.describe())
