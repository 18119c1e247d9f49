"""HTTP probes against a tiny local server, turned into frozen samples."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pytest_athalia.stack._probe import HttpSample, HttpSamples, sample_http


class Handler(BaseHTTPRequestHandler):
    """`/ok` 200, `/fail` 500, `/moved` 302 to `/ok`, `/slow` answers only when the server is released."""

    protocol_version = "HTTP/1.1"  # keep-alive, so one session reuses one connection
    server: Server

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.client_address[1]))
        if self.path == "/slow":
            self.server.release.wait(5)
        status = {"/ok": 200, "/fail": 500, "/moved": 302, "/slow": 200}.get(self.path, 404)
        body = b"hello"
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/ok")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads: nothing outlives a test
    seen: list[tuple[str, int]]
    release: threading.Event

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and left is expected here


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.seen = []
    httpd.release = threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def url(server: Server, path: str) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}{path}"


@pytest.fixture
def refused_url() -> str:
    """A loopback URL where nothing listens (a port that was just free)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/health"


def test_ok_responses_are_counted_and_timed(server: Server) -> None:
    """Every GET becomes a sample with its status and a positive latency; all succeed."""
    result = sample_http(url(server, "/ok"), 5)
    assert result.url == url(server, "/ok")
    assert result.count == 5
    assert [s.status for s in result.samples] == [200] * 5
    assert all(s.latency_ms > 0 and s.error == "" for s in result.samples)
    assert result.success_ratio == 1.0
    assert result.failures() == ()
    assert [path for path, _ in server.seen] == ["/ok"] * 5


def test_samples_share_one_keep_alive_connection(server: Server) -> None:
    """The probe reuses one session, so a keep-alive server sees a single client port."""
    sample_http(url(server, "/ok"), 4)
    assert len({port for _, port in server.seen}) == 1


def test_server_errors_are_failures_with_their_status(server: Server) -> None:
    """A 500 is an answered but failed sample; the ratio and the failure text show it."""
    result = sample_http(url(server, "/fail"), 3)
    assert [s.status for s in result.samples] == [500, 500, 500]
    assert result.success_ratio == 0.0
    assert result.p95_ms() is None
    assert result.describe_failures() == "500, 500, 500"


def test_redirects_are_not_followed_the_redirect_status_is_the_answer(server: Server) -> None:
    """A redirect is recorded with its own 3xx status: the probe never hides it behind the target's 200."""
    result = sample_http(url(server, "/moved"), 1)
    assert 300 <= (result.samples[0].status or 0) < 400
    assert [path for path, _ in server.seen] == ["/moved"]


def test_a_refused_connection_is_a_sample_without_status(refused_url: str) -> None:
    """No HTTP answer gives status None and the exception's name, never an exception."""
    result = sample_http(refused_url, 2, timeout=2)
    assert result.count == 2
    assert [(s.status, s.error) for s in result.samples] == [(None, "ConnectionError")] * 2
    assert not any(s.ok for s in result.samples)
    assert result.success_ratio == 0.0
    assert result.p95_ms() is None
    assert result.describe_failures() == "ConnectionError, ConnectionError"


def test_a_slow_answer_is_a_timeout_sample(server: Server) -> None:
    """An answer slower than `timeout` is recorded as a ReadTimeout after about `timeout` seconds."""
    result = sample_http(url(server, "/slow"), 1, timeout=0.1)
    sample = result.samples[0]
    assert (sample.status, sample.error) == (None, "ReadTimeout")
    assert 90 <= sample.latency_ms < 2000


def test_zero_samples_give_no_ratio_and_no_percentile(server: Server) -> None:
    """Asking for nothing sends nothing and measures nothing (callers fail closed on None)."""
    result = sample_http(url(server, "/ok"), 0)
    assert result.count == 0
    assert result.success_ratio is None
    assert result.p95_ms() is None
    assert server.seen == []


def test_interval_sleeps_between_requests_only(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """`interval` is waited between samples, not after the last one."""
    sleeps: list[float] = []
    monkeypatch.setattr("pytest_athalia.stack._probe.time.sleep", sleeps.append)
    sample_http(url(server, "/ok"), 3, interval=0.25)
    assert sleeps == [0.25, 0.25]


# -- HttpSample / HttpSamples -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "ok"), [(None, False), (199, False), (200, True), (204, True), (399, True), (400, False), (503, False)]
)
def test_ok_means_an_answer_from_200_to_399(status: int | None, ok: bool) -> None:
    """2xx and 3xx are successes; no answer, 1xx, 4xx and 5xx are not."""
    assert HttpSample(status, 1.0).ok is ok


def test_p95_uses_successful_samples_only() -> None:
    """Fast failures (e.g. refused connections) do not make the latency look better."""
    ok = [HttpSample(200, float(ms)) for ms in range(1, 21)]
    failed = [HttpSample(None, 0.1, "ConnectionError")] * 20
    samples = HttpSamples("http://x", (*failed, *ok))
    assert samples.p95_ms() == 19.0
    assert samples.success_ratio == 0.5


def test_describe_failures_is_limited_and_mixes_statuses_and_errors() -> None:
    """At most `limit` failures are described, statuses as numbers and no-answers by error name."""
    samples = HttpSamples(
        "http://x",
        (HttpSample(200, 1), HttpSample(503, 1), HttpSample(None, 1, "ReadTimeout"), HttpSample(500, 1)),
    )
    assert samples.describe_failures() == "503, ReadTimeout, 500"
    assert samples.describe_failures(limit=2) == "503, ReadTimeout"
    assert [s.status for s in samples.failures()] == [503, None, 500]
