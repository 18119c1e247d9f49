"""JSON reports of schema ``pytest-athalia/report/2``, exactly as the contract shapes them, for tests.

``v2_report()`` is one run of a blue-green release on ``dev`` that passed; keywords change it:
``v2_report(run_id="b", environment="staging", status="failed", rollback="automatic")`` (a release a gate
rolled back: its test failed and its timeline has the automatic rollback).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from tests.support import reports_v2
from tests.support.reports_v2 import BLUE_GREEN

__all__ = ["BLUE_GREEN", "check", "v2_report"]


def check(
    name: str,
    measured: float | None,
    unit: str,
    *,
    threshold: float | None = None,
    comparison: str | None = None,
    verdict: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """One check (reports_v2.check); gated (a threshold) it defaults to ``<=`` and a pass, else it is recorded."""
    gated = threshold is not None
    return reports_v2.check(
        name,
        measured,
        unit,
        threshold=threshold,
        comparison=(comparison or "<=") if gated else None,
        verdict=(verdict or "pass") if gated else None,
        **fields,
    )


def v2_report(
    *,
    run_id: str | None = None,
    environment: str | None = "dev",
    version: str | None = "1.1.0",
    started_at: str = "2026-12-05T06:11:12.123Z",
    finished_at: str = "2026-12-05T06:15:02.456Z",
    status: str = "passed",
    exit_status: int = 0,
    deploy_s: float | None = 8.4,
    switch_ms: float | None = 1.4,
    rollback: Literal["automatic", "manual"] | None = None,
    rollback_ms: float = 3.2,
    startup_s: float | None = 8.1,
    extra_checks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A passing run of the demo's release on `environment`.

    `rollback` adds a gated rollback_ms and its timeline event on the blue-green test, whose outcome follows
    `status`: "automatic" with status failed is a release a gate rolled back, with status passed a drill;
    "manual" is a rehearsed manual rollback. Only the first counts as rolled back.
    """
    release: list[dict[str, Any]] = []
    if deploy_s is not None:
        release.append(check("deploy", deploy_s, "s", threshold=120))
    if switch_ms is not None:
        release.append(check("switch_ms", switch_ms, "ms", threshold=1000, samples=507, window="switch"))
    release.append(check("switch_failed_requests", 0, "requests", threshold=0, samples=507, window="switch"))
    release.append(check("probe_requests", 5210, "requests", samples=5210))
    timeline = [
        {"t_s": 0.0, "event": "deploy", "detail": f"green {version} started", "test": BLUE_GREEN},
        {"t_s": 8.4, "event": "switch", "detail": "blue -> green", "test": BLUE_GREEN},
    ]
    if rollback is not None:
        release.append(check("rollback_ms", rollback_ms, "ms", threshold=1000, samples=480, window="rollback"))
        why = " (error_rate trigger)" if rollback == "automatic" else ""
        detail = f"{rollback}{why}: green -> blue in {rollback_ms:.1f} ms"
        timeline.append({"t_s": 20.1, "event": "rollback", "detail": detail, "test": BLUE_GREEN})
    tests = [
        {
            "nodeid": "suites/ci/test_stack.py::test_stack_starts_within_startup_slo",
            "outcome": "passed",
            "reason": None,
            "duration_s": 9.0,
            "checks": [check("startup", startup_s, "s", threshold=120)] if startup_s is not None else [],
        },
        {
            "nodeid": BLUE_GREEN,
            "outcome": "passed" if status == "passed" else "failed",
            "reason": None,
            "duration_s": 12.3,
            "checks": release + (extra_checks or []),
        },
        {
            "nodeid": "suites/security/test_scan.py::test_image",
            "outcome": "skipped",
            "reason": "no trivy database",
            "duration_s": 0.0,
            "checks": [],
        },
    ]
    verdicts = [c["verdict"] for t in tests for c in t["checks"] if c["verdict"] is not None]
    return {
        "schema": "pytest-athalia/report/2",
        "run": {
            "id": run_id or uuid.uuid4().hex,
            "environment": environment,
            "environment_file": f"demo/environments/{environment}.yml" if environment else None,
            "candidate": {"version": version, "image": f"athalia-demo-app:{version}", "previous": "1.0.0"},
            "git": {"commit": "08a51f1d2c", "branch": "main"},
            "ci": {
                "provider": "github-actions",
                "job": f"deploy/{environment}",
                "url": "https://github.com/o/r/actions/runs/1",
            },
            "host": "runner-1",
            "started_at": started_at,
            "finished_at": finished_at,
            "duration_s": 230.3,
            "exit_status": exit_status,
            "status": status,
            "startup": None if startup_s is None else _startup(startup_s),
        },
        "summary": {
            "tests": len(tests),
            "skipped": 1,
            "checks": len(verdicts),
            "passed": verdicts.count("pass"),
            "failed": verdicts.count("fail"),
            "inconclusive": verdicts.count("inconclusive"),
            "not_measured": verdicts.count("not measured"),
        },
        "tests": tests,
        "series": [
            {
                "name": "load",
                "unit_of_t": "s",
                "columns": ["t_s", "users", "rps", "failures_per_s", "p50_ms", "p95_ms"],
                "rows": [[1, 10, 95.0, 0.0, 3.0, 7.0], [2, 10, 101.0, 0.0, 3.1, 6.8]],
            }
        ],
        "timeline": timeline,
    }


def _startup(startup_s: float) -> dict[str, Any]:
    return {"project": "athalia-dev-1", "build_s": 12.5, "startup_s": startup_s, "deadline_s": 120, "error": None}
