"""The shipped CI suite (suites/ci/test_stack.py) against a FakeStack: startup gate, setup errors, green run."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from .helpers import Project
from .helpers import project_fixture as project_fixture  # the `project` fixture

SUITE = Path(__file__).parents[2] / "suites" / "ci" / "test_stack.py"
SUITE_TESTS = [
    "test_stack_starts_within_startup_slo",
    "test_every_service_is_healthy",
    "test_health_endpoint_meets_slo",
    "test_app_is_ready_with_its_dependencies",
    "test_version_answers",
]


class _App(BaseHTTPRequestHandler):
    """Answers like the demo app: /health, /ready with its checks, /version."""

    ANSWERS: ClassVar[dict[str, object]] = {
        "/health": {"status": "ok"},
        "/ready": {"checks": {"db": "ok", "cache": "ok"}},
        "/version": {"version": "1.2.3"},
    }

    def do_GET(self) -> None:
        body = self.ANSWERS.get(self.path)
        data = json.dumps(body or {"error": "not found"}).encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def app_url() -> Iterator[str]:
    """Function: a tiny app on 127.0.0.1 (an ephemeral port) for the suite's HTTP checks."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def suite(project: Project) -> Project:
    """Function: the project with a copy of the CI suite."""
    project.pytester.makepyfile(test_stack=SUITE.read_text(encoding="utf-8"))
    return project


def test_failed_startup_fails_the_startup_gate_and_errors_the_rest(suite: Project) -> None:
    """A stack that did not start fails the startup test with the error text; the others error in setup."""
    suite.fake(error="compose up failed: service app exited with code 3", startup_seconds=None)
    recorder = suite.pytester.inline_run("-p", "no:cacheprovider")
    failed = {
        (r.nodeid.split("::")[1], r.when): r.longreprtext
        for r in recorder.getreports("pytest_runtest_logreport")
        if r.failed
    }
    # The startup gate fails in its call phase; every test that needs the running stack errors in setup.
    assert set(failed) == {(SUITE_TESTS[0], "call"), *((name, "setup") for name in SUITE_TESTS[1:])}
    startup = failed[(SUITE_TESTS[0], "call")]
    assert "startup: measured nothing, threshold <= 5 s (0 samples): fail (no value was measured)" in startup
    assert "compose up failed: service app exited with code 3" in startup
    for name in SUITE_TESTS[1:]:
        assert "the stack did not start:\ncompose up failed: service app exited with code 3" in failed[(name, "setup")]
    assert len(suite.stopped()) == 1  # removed once, although it never came up


def test_healthy_stack_passes_every_check_of_the_suite(suite: Project, app_url: str) -> None:
    """Against a healthy FakeStack and a live app on loopback, the CI suite passes and records every gate."""
    suite.fake(base_url=app_url, startup_seconds=1.5, build_seconds=0.5)
    result = suite.pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)
    checks = suite.checks()
    assert {name: fields.get("verdict") for name, fields in checks.items()} == {
        "build": None,
        "startup": "pass",
        "services_healthy": "pass",
        "health_success_ratio": "pass",
        "health_p95": "pass",
    }
    assert checks["startup"]["measured"] == 1.5
    assert checks["health_p95"]["samples"] == 5
    assert suite.report()["run"]["startup"] == {
        "project": suite.stopped()[0],
        "build_s": 0.5,
        "startup_s": 1.5,
        "deadline_s": 5,
        "error": None,
    }
    assert len(suite.stopped()) == 1
