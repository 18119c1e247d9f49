"""Report documents of schema "pytest-athalia/report/2", written field by field per the contract, and a fake store.

`history()` is six runs in two environments (dev, staging): passed, failed, one interrupted, each with its
deploy/switch/rollback checks. One failed run was rolled back by a gate (its failed test has an automatic
rollback event); a drill and a rehearsed manual rollback roll back too but do not count. The newest has a
load series and a release timeline. `hostile()` is two runs whose every free text is markup.
"""

from __future__ import annotations

import copy
from typing import Any

from pytest_athalia.testing import unavailable

SCHEMA = "pytest-athalia/report/2"


def require_plotly() -> None:
    """The dashboard draws with plotly (the `report` extra): a skip without it, a failure under CI=true."""
    try:
        import plotly  # noqa: F401
    except ImportError:
        unavailable("plotly is not installed (pip install 'pytest-athalia[report]')")


BLUE_GREEN = "suites/deployment/test_release.py::test_blue_green"


def check(
    name: str,
    measured: float | None,
    unit: str,
    *,
    threshold: float | None = None,
    comparison: str | None = None,
    verdict: str | None = None,
    samples: int = 1,
    window: str | None = None,
    subject: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "subject": subject,
        "measured": measured,
        "unit": unit,
        "samples": samples,
        "threshold": threshold,
        "comparison": comparison,
        "window": window,
        "verdict": verdict,
        "reason": reason,
    }


def report(
    n: int,
    environment: str | None,
    *,
    status: str = "passed",
    version: str = "1.1.0",
    deploy_s: float | None = 10.0,
    switch_ms: float | None = 2.0,
    rollback_ms: float | None = None,
    timeline: list[dict[str, Any]] | None = None,
    series: list[dict[str, Any]] | None = None,
    day: int = 1,
) -> dict[str, Any]:
    """Run number `n` (its id and start follow from it), with the release checks of one blue-green test."""
    checks = []
    if deploy_s is not None:
        verdict = "pass" if deploy_s <= 60 else "fail"
        checks.append(check("deploy", deploy_s, "s", threshold=60, comparison="<=", verdict=verdict))
    if switch_ms is not None:
        checks.append(check("switch_ms", switch_ms, "ms", threshold=1000, comparison="<=", verdict="pass", samples=500))
    if rollback_ms is not None:
        checks.append(check("rollback_ms", rollback_ms, "ms", samples=480, window="rollback"))
    checks.append(
        check(
            "trivy_image",
            0,
            "findings",
            threshold=0,
            comparison="<=",
            verdict="pass" if status == "passed" else "fail",
            subject=f"athalia-demo-app:{version}",
            reason=None if status == "passed" else "2 HIGH findings",
        )
    )
    failed = sum(c["verdict"] == "fail" for c in checks)
    return {
        "schema": SCHEMA,
        "run": {
            "id": f"{n:032x}",
            "environment": environment,
            "environment_file": None if environment is None else f"demo/environments/{environment}.yml",
            "candidate": {"version": version, "image": f"athalia-demo-app:{version}", "previous": "1.0.0"},
            "git": {"commit": f"{n:07x}" + "a" * 33, "branch": "main"},
            "ci": {
                "provider": "github-actions",
                "job": f"deploy/{environment}",
                "url": f"https://github.com/o/r/actions/runs/{n}",
            },
            "host": "runner-1",
            "started_at": f"2026-12-{day:02d}T{n:02d}:11:12.123Z",
            "finished_at": f"2026-12-{day:02d}T{n:02d}:15:02.456Z",
            "duration_s": 230.3,
            "exit_status": 0 if status == "passed" else 1,
            "status": status,
            "startup": {
                "project": f"athalia-{environment}-x",
                "build_s": 12.5,
                "startup_s": 8.1,
                "deadline_s": 120,
                "error": None,
            },
        },
        "summary": {
            "tests": 2,
            "skipped": 0,
            "checks": len(checks),
            "passed": sum(c["verdict"] == "pass" for c in checks),
            "failed": failed,
            "inconclusive": 0,
            "not_measured": 0,
        },
        "tests": [
            {
                "nodeid": BLUE_GREEN,
                "outcome": "passed" if status == "passed" else "failed",
                "reason": None,
                "duration_s": 12.3,
                "checks": checks,
            },
            {
                "nodeid": "suites/security/test_scan.py::test_skipped",
                "outcome": "skipped",
                "reason": "no scanner configured",
                "duration_s": 0.0,
                "checks": [],
            },
        ],
        "series": series or [],
        "timeline": timeline or [],
    }


LOAD = {
    "name": "load",
    "unit_of_t": "s",
    "columns": ["t_s", "users", "rps", "failures_per_s", "p50_ms", "p95_ms"],
    "rows": [[t, 10 if t < 5 else 20, 90.0 + 4 * t, 0.0 if t != 7 else 2.0, 3.0, 7.0 + (t % 3)] for t in range(1, 13)],
}
# The newest run's release: it passed, then rehearsed a manual rollback (not a gate's: not counted).
TIMELINE = [
    {"t_s": 0.0, "event": "deploy", "detail": "green 1.3.0 started", "test": BLUE_GREEN},
    {"t_s": 8.4, "event": "switch", "detail": "blue -> green", "test": BLUE_GREEN},
    {"t_s": 20.1, "event": "rollback", "detail": "manual: green -> blue in 1.9 ms", "test": BLUE_GREEN},
]


def automatic_rollback(t_s: float, ms: float | None = None) -> dict[str, Any]:
    """A trigger's rollback of the blue-green release (it counts when that test failed: a gate stopped it)."""
    took = "" if ms is None else f" in {ms:.1f} ms"
    return {
        "t_s": t_s,
        "event": "rollback",
        "detail": f"automatic (error_rate trigger): green -> blue{took}",
        "test": BLUE_GREEN,
    }


def history() -> list[dict[str, Any]]:
    """Six runs, oldest first (a fresh copy each call)."""
    return copy.deepcopy(
        [
            report(1, "dev", deploy_s=11.0, switch_ms=1.8),
            report(2, "staging", deploy_s=14.0, switch_ms=3.1),
            # a gate rolled it back: its test failed, its rollback was automatic
            report(
                3,
                "dev",
                status="failed",
                version="1.2.0",
                deploy_s=70.0,
                switch_ms=None,
                timeline=[automatic_rollback(72.0)],
            ),
            # a drill: the bad candidate was rolled back on purpose and the test passed
            report(4, "dev", deploy_s=9.5, switch_ms=1.5, rollback_ms=2.2, timeline=[automatic_rollback(12.0, 2.2)]),
            report(5, "staging", status="interrupted", deploy_s=None, switch_ms=None),
            report(
                6,
                "dev",
                version="1.3.0",
                deploy_s=10.2,
                switch_ms=1.4,
                rollback_ms=1.9,
                timeline=TIMELINE,
                series=[LOAD],
            ),
        ]
    )


EVIL = '<b>bold</b><img src=x onerror="alert(1)">'
CLOSE = "</script><script>alert(2)</script>"


def hostile() -> list[dict[str, Any]]:
    """Two runs whose every free text is markup: environment, version, commit, CI job, checks, timeline."""
    docs = history()[-2:]
    for doc in docs:
        run = doc["run"]
        run["environment"] = f"dev{EVIL}"
        run["candidate"]["version"] = f"1.0{CLOSE}"
        run["git"]["commit"] = f"abc{EVIL}"
        run["ci"]["job"] = f"job{EVIL}"
        run["ci"]["url"] = 'https://ci.example/run?a=1&b="><script>alert(3)</script>'
        doc["tests"][0]["nodeid"] = f"tests/test_x.py::test[{EVIL}]"
        doc["tests"][0]["checks"].append(
            check(
                f"name{EVIL}",
                1.0,
                f"u{EVIL}",
                threshold=2,
                comparison="<=",
                verdict="fail",
                subject=f"image:{CLOSE}",
                reason=f"because {EVIL}",
                window=f"w{EVIL}",
            )
        )
        doc["timeline"] = [
            *TIMELINE,
            {"t_s": 30.0, "event": f"ev{EVIL}", "detail": f"detail {CLOSE}", "test": BLUE_GREEN},
        ]
    return docs


class FakeHistory:
    """A history store in memory, with the HistoryStore methods the dashboard calls."""

    def __init__(self, reports: list[dict[str, Any]]) -> None:
        self.stored = reports
        self.closed = False
        self.calls: list[tuple[str | None, int | None]] = []

    def reports(self, environment: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        self.calls.append((environment, limit))
        chosen = [r for r in self.stored if environment is None or r["run"]["environment"] == environment]
        return copy.deepcopy(chosen[-limit:] if limit else chosen)

    def close(self) -> None:
        self.closed = True
