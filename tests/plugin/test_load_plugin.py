"""The load fixtures in a pytest run: Locust in a subprocess, no gevent in pytest, gates with properties.

Each inner run is a real pytest subprocess that runs real Locust for a few seconds against a
loopback HTTP server started here (no Docker): the stack is a FakeStack pointing at it.
"""

from __future__ import annotations

import http.server
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_athalia.testing import wait_until

from .helpers import ENVIRONMENT_YML, Project, output
from .helpers import project_fixture as project_fixture  # the `project` fixture

LOCUSTFILE = """\
from locust import FastHttpUser, constant, task


class Visitor(FastHttpUser):
    wait_time = constant(0.02)

    @task
    def page(self):
        self.client.get("/page", name="/page")
"""

LOAD = """\
load:
  locustfile: ../locustfile.py
  users: 2
  spawn_rate: 2
  duration: 4s
  window: 1s
  min_requests: 10
  thresholds: [{thresholds}]
"""

SUITE = """\
import socket
import sys


def test_load(athalia_load, athalia_load_gate):
    athalia_load_gate(athalia_load)


def test_pytest_was_not_gevent_patched():
    assert "gevent" not in sys.modules
    assert "locust" not in sys.modules
    assert socket.socket.__module__ == "socket"
"""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay = 0.0

    def do_GET(self) -> None:
        time.sleep(self.delay)
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    """Function: a loopback HTTP server answering 200 (after `RequestHandlerClass.delay` seconds)."""
    handler = type("Handler", (_Handler,), {"delay": 0.0})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def setup_load(project: Project, server: http.server.ThreadingHTTPServer, thresholds: str) -> None:
    project.environment("dev", ENVIRONMENT_YML + LOAD.format(thresholds=thresholds))
    (project.path / "locustfile.py").write_text(LOCUSTFILE, encoding="utf-8")
    project.fake(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    project.pytester.makepyfile(test_load_suite=SUITE)


def test_a_load_run_passes_and_leaves_pytest_unpatched(
    project: Project, server: http.server.ThreadingHTTPServer
) -> None:
    """Locust runs in a subprocess: with -W error no warning appears and pytest's modules stay unpatched."""
    setup_load(project, server, '"p95 < 2s", "error_rate < 1%", "rps > 5"')
    result = project.pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider", "--junitxml=junit.xml")
    text = output(result)
    result.assert_outcomes(passed=2)
    assert "MonkeyPatchWarning" not in text
    assert "monkey" not in text.lower()
    assert "warning" not in text.lower()
    assert "athalia: load 2 users for 4s against http://127.0.0.1:" in text
    props = project.measured()["test_load"]
    assert props["athalia.load_p95.verdict"] == "pass"
    assert props["athalia.load_p95_window.verdict"] == "pass"
    assert props["athalia.load_p95_window.window"].startswith("worst 1 s window")
    assert int(props["athalia.load_rps.samples"]) >= 10
    artifacts = project.path / "reports" / "load" / "dev-main"
    document = json.loads((artifacts / "results.json").read_text(encoding="utf-8"))
    assert {v["check"] for v in document["verdicts"]} >= {"load_generator_cpu", "load_p95", "load_error_rate"}
    assert document["endpoints"][0]["endpoint"] == "Total"
    assert (artifacts / "series.csv").read_text(encoding="utf-8").startswith("t,users,requests")
    assert (artifacts / "locust.json").is_file()


def test_a_breached_threshold_fails_with_value_threshold_and_window(
    project: Project, server: http.server.ThreadingHTTPServer
) -> None:
    """Answers in ~50 ms breach `p95 < 10ms`: the test fails saying measured, threshold, samples and window."""
    server.RequestHandlerClass.delay = 0.05  # type: ignore[attr-defined]
    setup_load(project, server, '"p95 < 10ms"')
    result = project.pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    text = output(result)
    assert "load checks did not pass" in text
    line = next(line for line in text.splitlines() if line.startswith("load_p95: measured"))
    assert "threshold < 10 ms" in line
    assert "samples over" in line
    assert "s run, 2 users" in line
    assert "fail ('p95 < 10ms'" in line
    window = next(line for line in text.splitlines() if line.startswith("load_p95_window: measured"))
    # On a starved machine no second may have run all users: then the window check fails closed.
    assert "worst 1 s window" in window or "no 1 s window of steady load" in window
    report = project.checks()
    assert report["load_p95"]["verdict"] == "fail"
    assert report["load_p95"]["measured"] >= 50
    # The per-second series reaches the JSON report even though the gate failed.
    (series,) = project.report()["series"]
    assert series["name"] == "load"
    assert series["columns"] == [
        "t_s",
        "users",
        "rps",
        "failures_per_s",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "generator_cpu_pct",
    ]
    seconds = [row[0] for row in series["rows"]]
    assert seconds[0] == 1
    assert seconds == sorted(set(seconds))
    assert all(row[2] >= 0 for row in series["rows"])  # requests per second, a number in every row
    # The artifacts are written even though the gate failed.
    assert (project.path / "reports" / "load" / "dev-main" / "results.json").is_file()


def test_an_environment_without_load_skips_the_load_test(project: Project) -> None:
    """No load.locustfile: the load test is skipped with the file named, not passed."""
    project.pytester.makepyfile(test_load_suite=SUITE)
    result = project.pytester.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    assert "no load.locustfile in" in output(result)
    assert project.stopped() == [], "a stack was started for a load test that skips"


def _locust_processes(marker: Path) -> list[int]:
    """Live processes running Locust for the project at `marker` (master and forked workers alike)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if b"locust" in argv and any(str(marker).encode() in arg for arg in argv) and state != "Z":
            found.append(int(entry.name))
    return found


def test_ctrl_c_during_a_load_run_leaves_no_locust_process(
    project: Project, server: http.server.ThreadingHTTPServer
) -> None:
    """SIGINT to pytest mid-run stops Locust's master and both workers, and the stack; nothing of the run remains."""
    setup_load(project, server, '"p95 < 2s"')
    body = (project.path / "environments" / "dev.yml").read_text(encoding="utf-8")
    body = body.replace("  duration: 4s\n  window: 1s\n", "  duration: 60s\n  workers: 2\n")
    project.environment("dev", body)
    log = project.path / "inner.log"
    with log.open("w", encoding="utf-8") as out:
        inner = project.pytester.popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_load_suite.py"], stdout=out, stderr=out
        )
    try:
        # The master and its two forked workers, all carrying the run's paths on their command line.
        started = wait_until(lambda: len(_locust_processes(project.path)) >= 3, 60)
        assert started is not None, log.read_text(encoding="utf-8")[-3000:]
        inner.send_signal(signal.SIGINT)
        code = inner.wait(timeout=60)
    finally:
        if inner.poll() is None:
            inner.kill()
    text = log.read_text(encoding="utf-8")
    assert code == pytest.ExitCode.INTERRUPTED, text[-3000:]
    assert "KeyboardInterrupt" in text
    # SIGKILLed stragglers take a moment to vanish (the runner does not wait for them): wait rather than look once.
    gone = wait_until(lambda: not _locust_processes(project.path), 10)
    assert gone is not None, f"still running: {_locust_processes(project.path)}\n{text[-3000:]}"
    assert project.stopped(), "the stack was not stopped after the interrupt"
