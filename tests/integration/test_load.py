"""Real Locust runs: against a loopback HTTP server started here, and (Docker) the load suite on the demo stack.

The first tests need no Docker: the server counts what it answered, so Locust's figures are
checked against an independent count. The Docker tests run ``suites/deployment/test_load.py``
in a pytest subprocess against the demo stack: it passes as shipped, and fails with measured
value, threshold and window when the app adds 400 ms of latency (``FAULT_LATENCY_MS``) or answers
a fifth of its requests with errors (``FAULT_ERROR_RATE``); demo/docker-compose.yml passes both
from pytest's environment to the app.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_athalia._errors import LoadError
from pytest_athalia.config._environment import Environment, load_environment
from pytest_athalia.load._results import LoadResults
from pytest_athalia.load._run import run_load
from pytest_athalia.load._verdicts import evaluate
from pytest_athalia.report._progress import Progress
from pytest_athalia.report._slo import Outcome
from pytest_athalia.testing import unavailable

REPO = Path(__file__).parents[2]
SLOW_MS = 30

LOCUSTFILE = """\
from locust import FastHttpUser, constant, task


class Visitor(FastHttpUser):
    wait_time = constant(0.01)

    @task(3)
    def fast(self):
        self.client.get("/fast", name="/fast")

    @task(1)
    def slow(self):
        self.client.get("/slow", name="/slow")

    @task(1)
    def broken(self):
        self.client.get("/broken", name="/broken")
"""


class CountingServer(http.server.ThreadingHTTPServer):
    """Answers /fast at once, /slow after SLOW_MS, /broken with 500; counts every request by path."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CountingServer

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(SLOW_MS / 1000)
        status = 500 if self.path == "/broken" else 200
        body = b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # Counted before answering: Locust never counts a request the server has not.
        with self.server.lock:
            self.server.counts[self.path] = self.server.counts.get(self.path, 0) + 1
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[CountingServer]:
    """Function: the counting loopback server, in a thread of this process."""
    httpd = CountingServer()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def environment(tmp_path: Path, load: str) -> Environment:
    (tmp_path / "compose.yml").write_text("services: {}\n", encoding="utf-8")
    (tmp_path / "locustfile.py").write_text(LOCUSTFILE, encoding="utf-8")
    path = tmp_path / "dev.yml"
    stack = "stack:\n  compose_files: [compose.yml]\n  service: app\n  port: 8000\n"
    path.write_text(stack + load, encoding="utf-8")
    return load_environment(str(path), None)


def check_against_server(results: LoadResults, server: CountingServer, users: int) -> None:
    """Locust's counts match what the server answered (give or take requests in flight at the stop)."""
    for path in ("/fast", "/slow", "/broken"):
        stats = results.endpoint(f"GET {path}")
        assert stats is not None, [e.key for e in results.endpoints]
        assert 0 <= server.counts.get(path, 0) - stats.requests <= users, (path, server.counts, stats.requests)
    assert results.endpoint("GET /broken").error_rate_pct == 100.0  # type: ignore[union-attr]
    assert results.endpoint("GET /fast").failures == 0  # type: ignore[union-attr]
    slow = results.endpoint("GET /slow")
    assert slow is not None
    median = slow.percentile(50)
    assert median is not None
    assert median >= SLOW_MS - 0.5
    series_total = sum(s.total().requests for s in results.series.seconds)
    assert series_total == results.total.requests
    assert results.series.complete
    assert results.total.rps is not None
    assert results.total.rps > 10


def test_one_process_measures_what_the_server_answered(tmp_path: Path, server: CountingServer) -> None:
    """A 3 s, 3-user run: per-endpoint counts, failures, latency and series agree with the server."""
    env = environment(tmp_path, "load:\n  locustfile: locustfile.py\n  users: 3\n  spawn_rate: 3\n  duration: 3\n")
    lines: list[str] = []
    results = run_load(env, server.url, tmp_path / "out", progress=Progress(lines.append))
    check_against_server(results, server, users=3)
    assert results.generator.processes == 1
    # Locust's own events bound the steady state: all 3 users spawned within ~1 s, stopped at ~3 s.
    assert results.series.spawned_at is not None
    assert results.series.stopping_at is not None
    assert 0.5 <= results.series.stopping_at - results.series.spawned_at <= 6.0  # room for a loaded machine
    assert lines[0].startswith("athalia: load 3 users for 3s against http://127.0.0.1:")
    assert lines[-1].startswith("athalia: load 3 users")
    assert " done in " in lines[-1]


def test_local_workers_report_through_the_master(tmp_path: Path, server: CountingServer) -> None:
    """workers: 2 runs a master and two worker processes; the series still adds up to every request."""
    # 6 s: a second in which all three processes sampled their CPU, even with one of them starved for a while.
    load = "load:\n  locustfile: locustfile.py\n  users: 4\n  spawn_rate: 4\n  duration: 6\n  workers: 2\n"
    results = run_load(environment(tmp_path, load), server.url, tmp_path / "out", progress=Progress(lambda _: None))
    check_against_server(results, server, users=4)
    assert results.generator.processes == 3  # the master and its two workers sampled their CPU
    assert results.series.spawned_at is not None  # the master saw every worker's users spawned
    assert results.series.stopping_at is not None


def test_thresholds_judge_a_real_run(tmp_path: Path, server: CountingServer) -> None:
    """On real output, `/broken` breaches its error rate and `/slow` meets a generous p95; the rest passes."""
    # 5 s: the generator's CPU must be sampled 3 s in a row, or every verdict is inconclusive.
    load = (
        "load:\n  locustfile: locustfile.py\n  users: 2\n  spawn_rate: 2\n  duration: 5\n  min_requests: 5\n"
        '  endpoints:\n    "GET /broken": ["error_rate < 1%"]\n    "GET /slow": ["p95 < 2s", "med >= 30ms"]\n'
    )
    env = environment(tmp_path, load)
    results = run_load(env, server.url, tmp_path / "out", progress=Progress(lambda _: None))
    verdicts = {v.check: v for v in evaluate(results, env.spec.load)}
    assert verdicts["load_get_broken_error_rate"].outcome is Outcome.FAIL
    assert verdicts["load_get_slow_p95"].outcome is Outcome.PASS
    assert verdicts["load_get_slow_med"].outcome is Outcome.PASS, verdicts["load_get_slow_med"].message()


def test_a_locustfile_that_breaks_surfaces_locusts_exit_code_and_output(tmp_path: Path) -> None:
    """A locustfile that raises on import: LoadError with Locust's exit code, its traceback and the file."""
    env = environment(tmp_path, "load:\n  locustfile: locustfile.py\n  users: 1\n  spawn_rate: 1\n  duration: 2\n")
    (tmp_path / "locustfile.py").write_text("raise RuntimeError('the locustfile is broken: 42')\n", encoding="utf-8")
    with pytest.raises(LoadError, match=r"Locust exited with [1-9]") as caught:
        run_load(env, "http://127.0.0.1:9", tmp_path / "out", progress=Progress(lambda _: None))
    assert "RuntimeError: the locustfile is broken: 42" in str(caught.value)
    assert "dev.yml" in str(caught.value)


# --- the demo stack (Docker) ------------------------------------------------------------------------


def _run_suite(tmp_path: Path, **extra_env: str) -> tuple[int, str, Path]:
    """Run the load suite against the demo's dev environment in a pytest subprocess."""
    if not (REPO / "demo" / "secrets" / "dev-db-password").is_file():
        unavailable("demo/secrets/dev-db-password is missing; run `make secrets`")
    if shutil.which("docker") is None:
        unavailable("the docker CLI is missing")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATHALIA_", "PYTEST_", "FAULT_"))}
    env.update(PYTHONUNBUFFERED="1", **extra_env)
    report = tmp_path / "reports" / "athalia.json"
    argv = [sys.executable, "-m", "pytest", "suites/deployment/test_load.py", "--athalia-env=dev"]
    argv += ["-p", "no:cacheprovider", f"--athalia-report={report}", "--athalia-log-lines=0", "-W", "error"]
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    return proc.returncode, proc.stdout + proc.stderr, report.parent / "load" / "dev-main"


def _breach(text: str, check: str, unit: str) -> tuple[str, float]:
    """The failure line of `check` in the suite's output, and the value it measured in `unit`."""
    line = next((line for line in text.splitlines() if line.startswith(f"{check}: measured")), None)
    assert line is not None, text[-6000:]
    found = re.search(rf"measured ([\d.]+) {re.escape(unit)},", line)
    assert found is not None, line
    return line, float(found.group(1))


@pytest.mark.docker
def test_the_load_suite_passes_on_the_demo_stack(tmp_path: Path) -> None:
    """As shipped, the demo stack meets dev's load thresholds; artifacts land beside the report."""
    code, text, artifacts = _run_suite(tmp_path)
    assert code == 0, text[-6000:]
    assert re.search(r"\d+ checks: \d+ passed, 0 failed, 0 inconclusive", text), text[-3000:]
    assert (artifacts / "results.json").is_file()
    assert (artifacts / "series.csv").is_file()


@pytest.mark.docker
def test_the_load_suite_fails_when_the_release_adds_latency(tmp_path: Path) -> None:
    """With FAULT_LATENCY_MS=400 the suite fails, naming measured p95, its threshold, samples and window."""
    code, text, artifacts = _run_suite(tmp_path, FAULT_LATENCY_MS="400")
    assert code == 1, text[-6000:]
    line, measured = _breach(text, "load_p95", "ms")
    assert measured >= 400
    assert "threshold < 300 ms" in line
    assert "s run, 10 users" in line
    assert "fail ('p95 < 300ms'" in line
    assert re.search(
        r"load_p95_window: measured [\d.]+ ms, threshold < 300 ms \(\d+ samples over worst 5 s window", text
    )
    assert (artifacts / "results.json").is_file()


@pytest.mark.docker
def test_the_load_suite_fails_when_the_release_answers_with_errors(tmp_path: Path) -> None:
    """With FAULT_ERROR_RATE=0.2 the suite fails, naming the measured error rate, its threshold, samples and window."""
    code, text, artifacts = _run_suite(tmp_path, FAULT_ERROR_RATE="0.2")
    assert code == 1, text[-6000:]
    line, measured = _breach(text, "load_error_rate", "%")
    assert 8 <= measured <= 35  # a fifth of the requests, give or take chance on a few hundred
    assert "threshold < 1 %" in line
    assert "s run, 10 users" in line
    assert "fail ('error_rate < 1%')" in line
    assert re.search(
        r"load_error_rate_window: measured [\d.]+ %, threshold < 1 % \(\d+ samples over worst 5 s window", text
    )
    assert not any(line.startswith("load_p95: measured") for line in text.splitlines())  # latency is not blamed
    document = json.loads((artifacts / "results.json").read_text(encoding="utf-8"))
    verdicts = {v["check"]: v for v in document["verdicts"]}
    assert verdicts["load_error_rate"]["verdict"] == "fail"
