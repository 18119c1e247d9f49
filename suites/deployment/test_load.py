"""Post-deployment load validation: the deployed stack meets its load SLOs under Locust.

Run it with ``pytest suites/deployment/test_load.py --athalia-env=dev --junitxml=reports/junit.xml``.
Locust runs in a subprocess (``athalia_load``); its artifacts go to ``reports/load/<env>-<worker>/``.
Rehearse a bad release with ``FAULT_LATENCY_MS=400`` or ``FAULT_ERROR_RATE=0.2`` in the environment.
The gate also records the run's per-second series as ``load`` in the JSON report (docs/reports.md).
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_athalia import LoadResults, Verdict


def test_load_meets_slos(
    athalia_load: LoadResults, athalia_load_gate: Callable[[LoadResults], tuple[Verdict, ...]]
) -> None:
    """Under the environment's load, every threshold of load (total, per endpoint, every window) holds."""
    assert athalia_load.total.requests > 0, f"Locust made no requests against {athalia_load.target}"
    athalia_load_gate(athalia_load)
