"""The pollers' checks: health over HTTP, router status, and the external signal (URL or command)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pytest_athalia.release._router import FakeRouter
from pytest_athalia.release._signals import Poller, external_check, http_check, router_status_check
from pytest_athalia.testing import wait_until


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        status = int(self.path.strip("/").split("/")[0] or 200)
        body = f"status {status}: {'ROLLBACK please' if 'rollback' in self.path else 'all fine'}".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def base() -> Iterator[str]:
    """A loopback server answering /<status>[/rollback] with that status and a body."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_check_is_ok_on_2xx_and_fails_on_errors_and_silence(base: str) -> None:
    """2xx is ok; 503 and a refused connection are failed checks that say what happened."""
    assert http_check(f"{base}/200", timeout_s=2)() == (True, f"{base}/200 answered 200")
    assert http_check(f"{base}/503", timeout_s=2)() == (False, f"{base}/503 answered 503")
    ok, detail = http_check("http://127.0.0.1:9/", timeout_s=1)()
    assert ok is False
    assert detail == "http://127.0.0.1:9/: ConnectionError"


def test_http_check_refuses_other_schemes() -> None:
    """A file:// URL is never opened: the check fails instead."""
    ok, detail = http_check("file:///etc/passwd", timeout_s=1)()
    assert ok is False
    assert "not an http(s) URL" in detail


def test_external_url_says_roll_back_on_non_2xx_or_on_a_match(base: str) -> None:
    """Without match a 503 says roll back; with match only a matching body does, whatever the status."""
    assert external_check(url=f"{base}/503", command=None, match=None, timeout_s=2)()[0] is False
    assert external_check(url=f"{base}/200", command=None, match=None, timeout_s=2)()[0] is True
    assert external_check(url=f"{base}/200/rollback", command=None, match="ROLLBACK", timeout_s=2)()[0] is False
    assert external_check(url=f"{base}/503", command=None, match="ROLLBACK", timeout_s=2)()[0] is True


def test_external_url_without_answer_is_unknown() -> None:
    """A complaints desk that does not answer gives no signal (None), not a rollback."""
    ok, detail = external_check(url="http://127.0.0.1:9/", command=None, match=None, timeout_s=1)()
    assert ok is None
    assert detail.startswith("http://127.0.0.1:9/: ")


def test_external_command_exit_status_and_output() -> None:
    """A command says roll back by a non-zero exit, or, with match, by matching output."""
    python = sys.executable
    assert external_check(url=None, command=[python, "-c", "raise SystemExit(3)"], match=None, timeout_s=10)() == (
        False,
        f"`{python} -c raise SystemExit(3)` exited 3: ",
    )
    assert external_check(url=None, command=[python, "-c", "pass"], match=None, timeout_s=10)()[0] is True
    says = external_check(url=None, command=[python, "-c", "print('ROLLBACK')"], match="ROLLBACK", timeout_s=10)()
    assert says[0] is False
    slow = external_check(url=None, command=[python, "-c", "import time; time.sleep(5)"], match=None, timeout_s=0.2)()
    assert slow[0] is None
    assert "did not finish within 0.2 s and was stopped" in slow[1]


def test_router_status_check_reads_down_up_and_unknown() -> None:
    """DOWN and MAINT fail, UP and DRAIN pass, an unknown server or status gives no signal."""
    router = FakeRouter()
    check = router_status_check(router, "green")
    assert check() == (True, "router status of green: UP")
    router.set_stats("green", status="DOWN")
    assert check() == (False, "router status of green: DOWN")
    router.set_stats("green", status="MAINT (resolution)")
    assert check()[0] is False
    router.set_stats("green", status="DRAIN")
    assert check()[0] is True
    router.set_stats("green", status="whatever")
    assert check()[0] is None
    assert router_status_check(router, "purple")() == (None, "the router reports no server 'purple'")


def test_poller_runs_at_its_interval_and_stops() -> None:
    """A poller records one timestamped sample per interval, and none after stop()."""
    calls = iter(range(1000))
    start = time.monotonic()
    poller = Poller("health", lambda: (next(calls) % 2 == 0, "x"), interval_s=0.02).start()
    # Wait for 5 samples (80 ms at its interval) rather than sleeping a fixed time: 0.5 s leaves room for a loaded
    # machine and still catches a poller 10x too slow (0.8 s).
    waited = wait_until(lambda: len(poller.samples()) >= 5, 10, interval=0.01)
    samples = poller.stop()
    elapsed = time.monotonic() - start
    assert waited is not None
    assert waited < 0.5, f"{waited:.2f} s for 5 samples"
    # At most one sample per interval, however long it ran: one ignoring its interval would record far more.
    assert 5 <= len(samples) <= elapsed / 0.02 + 2
    assert [s.ok for s in samples[:4]] == [True, False, True, False]
    assert all(s.source == "health" and s.end_ns >= s.start_ns for s in samples)
    time.sleep(0.05)
    assert len(poller.samples()) == len(samples)
