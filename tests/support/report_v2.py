"""JSON reports of schema ``pytest-athalia/report/2`` (docs: /work/briefs/report-v2.md, docs/reports.md), as
parsed JSON, for the consumers' tests: every kind of check (pass, fail, inconclusive, not measured,
recorded), a subject, a skipped test with its reason, series and timeline."""

from __future__ import annotations

import copy
from typing import Any

RUN: dict[str, Any] = {
    "id": "3f2c0a1b9d8e4f5a8b7c6d5e4f3a2b1c",
    "environment": "staging",
    "environment_file": "demo/environments/staging.yml",
    "candidate": {"version": "1.1.0", "image": "athalia-demo-app:1.1.0", "previous": "1.0.0"},
    "git": {"commit": "08a51f1c0ffee0123456789abcdef0123456789a", "branch": "main"},
    "ci": {"provider": "github-actions", "job": "deploy/staging", "url": "https://github.com/o/r/actions/runs/1"},
    "host": "runner-1",
    "started_at": "2026-12-05T06:11:12.123Z",
    "finished_at": "2026-12-05T06:15:02.456Z",
    "duration_s": 230.3,
    "exit_status": 1,
    "status": "failed",
    "startup": {
        "project": "athalia-staging-main-p4242-1a2b3c",
        "build_s": 12.5,
        "startup_s": 8.1,
        "deadline_s": 120,
        "error": None,
    },
}


def _check(name: str, measured: float | None, unit: str, samples: int, **fields: Any) -> dict[str, Any]:
    check = {
        "name": name,
        "subject": None,
        "measured": measured,
        "unit": unit,
        "samples": samples,
        "threshold": None,
        "comparison": None,
        "window": None,
        "verdict": None,
        "reason": None,
    }
    check.update(fields)
    return check


TESTS: list[dict[str, Any]] = [
    {
        "nodeid": "suites/ci/test_stack.py::test_stack_starts_within_startup_slo",
        "outcome": "passed",
        "reason": None,
        "duration_s": 9.4,
        "checks": [
            _check("startup", 8.1, "s", 1, threshold=120, comparison="<=", verdict="pass"),
            _check("build", 12.5, "s", 1),  # a recorded value: no threshold, no verdict
        ],
    },
    {
        "nodeid": "suites/deployment/test_release.py::test_blue_green",
        "outcome": "failed",
        "reason": "switch_ms: measured 1400 ms, threshold <= 1000 ms (507 samples): fail",
        "duration_s": 12.3,
        "checks": [
            _check("deploy", 4.2, "s", 1, threshold=60, comparison="<=", verdict="pass"),
            _check(
                "switch_ms",
                1400,
                "ms",
                507,
                threshold=1000,
                comparison="<=",
                window="switch",
                verdict="fail",
                reason="measured 1400 ms > 1000 ms",
            ),
            _check(
                "rollback_ms",
                None,
                "ms",
                0,
                threshold=1000,
                comparison="<=",
                verdict="not measured",
                reason="not reached: the release stopped at the switch_ms check",
            ),
        ],
    },
    {
        "nodeid": "suites/security/test_images.py::test_image[athalia-demo-app:1.1.0-secret]",
        "outcome": "passed",
        "reason": None,
        "duration_s": 3.2,
        "checks": [
            _check(
                "trivy-secret",
                0,
                "findings",
                1,
                subject="athalia-demo-app:1.1.0",
                threshold=0,
                comparison="<=",
                verdict="pass",
            ),
        ],
    },
    {
        "nodeid": 'suites/deployment/test_load.py::test_load[a "quoted" | piped\\path]',
        "outcome": "failed",
        "reason": "too few samples",
        "duration_s": 30.0,
        "checks": [
            _check(
                "load_ok_ratio",
                0.9975,
                "ratio",
                3,
                threshold=0.99,
                comparison=">=",
                window="worst 1 s window",
                verdict="inconclusive",
                reason="too few samples: 3 < 10 required\nsecond line",
            ),
        ],
    },
    {
        "nodeid": "suites/deployment/test_release.py::test_canary",
        "outcome": "skipped",
        "reason": "rollout.canary is not enabled in staging",
        "duration_s": 0.0,
        "checks": [],
    },
]

REPORT: dict[str, Any] = {
    "schema": "pytest-athalia/report/2",
    "run": RUN,
    "summary": {"tests": 5, "skipped": 1, "checks": 6, "passed": 3, "failed": 1, "inconclusive": 1, "not_measured": 1},
    "tests": TESTS,
    "series": [
        {
            "name": "load",
            "unit_of_t": "s",
            "columns": ["t_s", "users", "rps", "failures_per_s", "p50_ms", "p95_ms"],
            "rows": [[1, 10, 95.0, 0.0, 3.0, 7.0], [2, 10, 101.0, 0.0, 3.1, 6.8]],
        }
    ],
    "timeline": [
        {"t_s": 0.0, "event": "deploy", "detail": "green 1.1.0 started", "test": TESTS[1]["nodeid"]},
        {"t_s": 8.4, "event": "switch", "detail": "blue -> green", "test": TESTS[1]["nodeid"]},
    ],
}

# A local run with no environment, no CI, no git, and nothing judged.
EMPTY: dict[str, Any] = {
    "schema": "pytest-athalia/report/2",
    "run": {
        "id": "00000000000000000000000000000000",
        "environment": None,
        "environment_file": None,
        "candidate": {"version": None, "image": None, "previous": None},
        "git": {"commit": None, "branch": None},
        "ci": {"provider": None, "job": None, "url": None},
        "host": "laptop",
        "started_at": "2026-12-05T06:11:12.123Z",
        "finished_at": "2026-12-05T06:11:13.000Z",
        "duration_s": 0.877,
        "exit_status": 2,
        "status": "interrupted",
        "startup": None,
    },
    "summary": {"tests": 0, "skipped": 0, "checks": 0, "passed": 0, "failed": 0, "inconclusive": 0, "not_measured": 0},
    "tests": [],
    "series": [],
    "timeline": [],
}


def report(**changes: Any) -> dict[str, Any]:
    """A deep copy of REPORT with top-level keys replaced."""
    data = copy.deepcopy(REPORT)
    data.update(changes)
    return data
