"""The one HTTP client: bounded, no redirects followed, no exception for what the network does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pytest_athalia._http import Answer, HttpClient, answered, get, redacted, succeeded


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/moved":
            self.send_response(308)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = (b"x" * 100_000) if self.path == "/big" else b"fine"
        self.send_response(503 if self.path == "/down" else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(308 if self.path == "/moved" else 200)
        self.send_header("Location", "/ok")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)  # an echo

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def base() -> Iterator[str]:
    """Function: a loopback HTTP server; its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "is_answer", "is_success"),
    [(None, False, False), (199, False, False), (200, True, True), (299, True, True), (308, True, False),
     (399, True, False), (400, False, False), (503, False, False)],
)  # fmt: skip
def test_the_status_rules(status: int | None, is_answer: bool, is_success: bool) -> None:
    """2xx and 3xx are answers; only 2xx is a success; no status is neither."""
    assert answered(status) is is_answer
    assert succeeded(status) is is_success


def test_a_redirect_is_the_answer_not_followed(base: str) -> None:
    """A 308 comes back as 308: the client never follows it to the target's 200."""
    answer = get(f"{base}/moved", timeout=2)
    assert (answer.status, answer.ok, answer.describe()) == (308, True, f"{base}/moved answered 308")


def test_the_body_is_bounded(base: str) -> None:
    """At most max_body bytes of the body are kept."""
    assert len(get(f"{base}/big", timeout=2, max_body=1000).body) == 1000
    assert get(f"{base}/ok", timeout=2).body == "fine"


def test_no_answer_is_a_value_not_an_exception() -> None:
    """A refused connection and a non-http URL give status None and say why."""
    refused = get("http://127.0.0.1:9/", timeout=1)
    assert (refused.status, refused.error) == (None, "ConnectionError")
    other = get("file:///etc/passwd", timeout=1)
    assert other.status is None
    assert "not an http(s) URL" in other.error


def test_a_client_reuses_its_session_for_a_series(base: str) -> None:
    """Several calls through one client each give their own answer."""
    with HttpClient(timeout=2) as client:
        answers = [client.get(f"{base}/ok"), client.get(f"{base}/down")]
    assert [a.status for a in answers] == [200, 503]
    assert all(isinstance(a, Answer) and a.latency_ms >= 0 for a in answers)


def test_post_json_sends_utf8_json_and_does_not_follow_redirects(base: str) -> None:
    """The document arrives as UTF-8 JSON (echoed back); a 308 to a POST is the answer, not followed."""
    with HttpClient(timeout=2) as client:
        echoed = client.post_json(f"{base}/ok", {"candidate": "vé", "n": 1})
        moved = client.post_json(f"{base}/moved", {})
    assert (echoed.status, echoed.body) == (200, '{"candidate": "vé", "n": 1}')
    assert moved.status == 308


def test_post_json_answers_carry_a_redacted_url() -> None:
    """No answer is a value, and its URL (hence its description) hides the credentials."""
    answer = HttpClient(timeout=1).post_json("http://u:pw@127.0.0.1:9/x?key=k3y", {})
    assert (answer.status, answer.error) == (None, "ConnectionError")
    assert answer.describe() == "http://***@127.0.0.1:9/x?***: ConnectionError"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example/alerts", "https://hooks.example/alerts"),
        ("http://user:pa@ss@h:8080/p?token=1#frag", "http://***@h:8080/p?***"),
        ("http://token@h/p", "http://***@h/p"),
        ("http://h/p?", "http://h/p"),
    ],
)
def test_redacted_hides_userinfo_and_query(url: str, shown: str) -> None:
    """User, password and query (where tokens ride) become ***; scheme, host, port and path stay."""
    assert redacted(url) == shown
