"""The background probe: paced keep-alive traffic, every request timestamped, bounded in count and time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pytest_athalia._errors import RolloutError
from pytest_athalia.release._router import COLOR_HEADER
from pytest_athalia.release._traffic import TrafficProbe
from pytest_athalia.testing import wait_until


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.connections.add(self.client_address)  # type: ignore[attr-defined]
        if self.path == "/stall":  # every 10th request of a connection answers 100 ms late
            arrived = time.monotonic()
            self.served = getattr(self, "served", 0) + 1
            if self.served % 10 == 0:
                time.sleep(0.1)
            times = self.server.times.setdefault(self.client_address, [])  # type: ignore[attr-defined]
            times.append((arrived, time.monotonic()))  # (arrived, answered) per connection, i.e. per probe client
        status = 500 if self.path == "/fail" else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.send_header(COLOR_HEADER, "blue")
        self.end_headers()
        self.wfile.write(b"ok")


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    """A keep-alive HTTP server on loopback that answers as `blue`, recording client addresses."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.connections = set()  # type: ignore[attr-defined]
    httpd.times = {}  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(httpd: ThreadingHTTPServer, path: str = "/version") -> str:
    host, port = httpd.server_address[:2]
    return f"http://{host!s}:{port}{path}"


def test_probe_reaches_its_rate_with_keep_alive_clients(server: ThreadingHTTPServer) -> None:
    """At 250 req/s with 5 clients for 1 s: about 250 requests on 5 connections, each with color and times."""
    with TrafficProbe(url(server), rate=250, clients=5) as probe:
        time.sleep(1.0)
    log = probe.log()
    # Bounds with room for a loaded machine (a starved client loses slots), on the rate rather than the count: sleep()
    # may overrun. The pacer never runs ahead of 250/s; one ignoring its rate would send many times more.
    assert log.count >= 175
    assert log.rate is not None
    assert 175 <= log.rate <= 275
    assert len(server.connections) == 5  # type: ignore[attr-defined]
    assert all(s.ok and s.color == "blue" and s.end_ns >= s.start_ns for s in log.samples)
    assert [s.start_ns for s in log.samples] == sorted(s.start_ns for s in log.samples)


def test_probe_stops_at_max_requests_and_max_seconds(server: ThreadingHTTPServer) -> None:
    """The probe stops by itself: after max_requests, or after max_seconds, whichever is first."""
    probe = TrafficProbe(url(server), rate=500, clients=2, max_requests=30).start()
    # Wait for the probe to stop by itself instead of a fixed sleep: a loaded machine may need longer.
    assert wait_until(lambda: not probe.running, 10) is not None
    assert probe.stop().count == 30
    # max_requests far above what 0.3 s allows: only max_seconds can stop this one.
    probe = TrafficProbe(url(server), rate=200, clients=2, max_seconds=0.3, max_requests=10_000).start()
    assert wait_until(lambda: not probe.running, 10) is not None
    log = probe.stop()
    assert 20 <= log.count <= 70  # about 60 in 0.3 s; a starved machine loses slots


def test_probe_records_error_statuses(server: ThreadingHTTPServer) -> None:
    """A 500 answer is a sample with its status and color, and not ok."""
    probe = TrafficProbe(url(server, "/fail"), rate=200, clients=1, max_requests=5).start()
    assert wait_until(lambda: not probe.running, 10) is not None  # all 5 sent: stop() would cut the rest short
    samples = probe.stop().samples
    assert [(s.status, s.color, s.ok) for s in samples] == [(500, "blue", False)] * 5


def test_probe_records_transport_errors() -> None:
    """Nothing listening: every request is a sample without status, with the error's type."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    probe = TrafficProbe(f"http://127.0.0.1:{port}/", rate=200, clients=1, max_requests=3, timeout_s=1).start()
    assert wait_until(lambda: not probe.running, 10) is not None  # all 3 sent: stop() would cut the rest short
    samples = probe.stop().samples
    assert len(samples) == 3
    assert all(s.status is None and s.error == "ConnectionRefusedError" and not s.ok for s in samples)
    assert samples[0].describe() == "ConnectionRefusedError from no color"


def test_recent_returns_samples_that_ended_since(server: ThreadingHTTPServer) -> None:
    """recent(t) returns exactly the samples that ended at or after t."""
    probe = TrafficProbe(url(server), rate=300, clients=3, max_requests=60).start()
    assert wait_until(lambda: not probe.running, 10) is not None  # all 60 sent, so that samples[30] exists
    log = probe.stop()
    middle = log.samples[30].end_ns
    assert {s for s in probe.recent(middle)} == {s for s in log.samples if s.end_ns >= middle}


def test_recent_is_exact_while_slow_answers_end_out_of_start_order(server: ThreadingHTTPServer) -> None:
    """Read while the probe runs, with some answers 100 ms late: recent(t) is in end order and misses none."""
    probe = TrafficProbe(url(server, "/stall"), rate=400, clients=4, max_requests=120).start()
    seen = []
    while probe.running:
        seen.append(probe.recent(0))
        time.sleep(0.005)
    log = probe.stop()
    for recent in [*seen, probe.recent(0)]:
        ends = [s.end_ns for s in recent]
        assert ends == sorted(ends)
    assert set(probe.recent(0)) == set(log.samples)
    assert [s.start_ns for s in log.samples] != [s.start_ns for s in probe.recent(0)]  # really out of start order
    middle = sorted(s.end_ns for s in log.samples)[60]
    assert set(probe.recent(middle)) == {s for s in log.samples if s.end_ns >= middle}


@pytest.mark.parametrize("bad", ["https://127.0.0.1/", "127.0.0.1:80", "http:///x"])
def test_probe_needs_an_http_url(bad: str) -> None:
    """Anything but http://host... is refused with the URL in the message."""
    with pytest.raises(RolloutError, match="needs an http:// URL"):
        TrafficProbe(bad)


def test_a_client_catches_up_after_a_slow_answer(server: ThreadingHTTPServer) -> None:
    """Every 10th answer 100 ms late (5 slots lost at 50 req/s per client): the clients catch up, 250 req/s hold."""
    with TrafficProbe(url(server, "/stall"), rate=250, clients=5) as probe:
        time.sleep(1.2)
    log = probe.log()
    assert sum(s.latency_ms >= 100 for s in log.samples) >= 10
    assert log.rate is not None
    # Room for a loaded machine, where a starved client loses slots beyond its catch-up (and without catch-up the
    # rate would be ~180): the catch-up itself is checked on the server, per connection, below.
    assert log.rate >= 150, f"{log.rate:.0f} req/s"
    # After a late answer a client sends its next 3 requests back to back; one that did not catch up would wait
    # 2 intervals (>= 40 ms) before the third. The median leaves room for a starved client now and then.
    times: dict[object, list[tuple[float, float]]] = server.times  # type: ignore[attr-defined]
    gaps = sorted(t[i + 3][0] - t[i][1] for t in times.values() for i in range(9, len(t) - 3, 10))
    assert len(gaps) >= 10
    assert gaps[len(gaps) // 2] < 0.03, [f"{g * 1000:.1f} ms" for g in gaps]


def test_probe_follows_its_url_after_a_restart_moved_it(server: ThreadingHTTPServer) -> None:
    """A failed request asks `locate` where the URL is now (a restarted router's new port), at most once a second."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/version"
    asked: list[int] = []

    def locate() -> str:
        asked.append(1)
        return url(server)

    probe = TrafficProbe(dead, rate=100, clients=2, max_seconds=5, timeout_s=1, locate=locate).start()
    assert wait_until(lambda: any(s.ok for s in probe.recent(0)), 5) is not None, "the probe never moved"
    samples = probe.stop().samples
    assert samples[0].error == "ConnectionRefusedError"
    assert sum(1 for s in samples if s.ok) > 0
    assert len(asked) == 1  # the first failures moved it; no lookup per failed request
