"""The post-deploy alert's JSON, and the webhook that delivers it, against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pytest_athalia.canary._alert import ALERT_SCHEMA, Alert, Delivery, Notifier, WebhookNotifier
from pytest_athalia.canary._metrics import ColorWindow, Mark
from pytest_athalia.canary._monitor import PostDeployMonitor
from pytest_athalia.config._canary import JudgeSpec, PostDeploySpec
from pytest_athalia.report._slo import Outcome
from pytest_athalia.testing import FakeNotifier

WHEN = datetime(2026, 12, 4, 21, 30, 5, 123456, tzinfo=UTC)


def alert(**changes: object) -> Alert:
    values: dict[str, object] = {
        "environment": "dev",
        "candidate": "v2 (image app:2.0) on green",
        "metric": "error_rate",
        "baseline": 0.01,
        "current": 0.16,
        "limit": 0.11,
        "baseline_samples": 1000,
        "current_samples": 250,
        "watched_s": 5.0,
        "source": "haproxy",
        "action": "rollback",
        "time": WHEN,
    }
    values.update(changes)
    return Alert(**values)  # type: ignore[arg-type]


@dataclass
class Receiver:
    """A webhook receiver: answers each POST as `plan` says (default 204), records what it got."""

    url: str
    plan: list[str] = field(default_factory=list)  # per request: "ok", "500", "drop", "redirect", "slow"
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def bodies(self) -> list[dict[str, object]]:
        return [json.loads(body) for _, _, body in self.received]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.received.append((self.path, dict(self.headers.items()), body))
            action = receiver.plan.pop(0) if receiver.plan else "ok"
            if action == "drop":  # no answer at all: the client sees the connection closed
                self.close_connection = True
                return
            if action == "slow":
                time.sleep(2)
            status = {"ok": 204, "slow": 204, "500": 500, "redirect": 308}[action]
            self.send_response(status)
            if action == "redirect":
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Function: a ThreadingHTTPServer on 127.0.0.1 that takes alerts at /hook."""
    found = Receiver("")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    # a short poll interval: shutdown() waits for one, and each test stops its own receiver
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port() -> int:
    """Function: a loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def notifier(url: str, sleeps: list[float] | None = None, timeout: float = 2.0) -> WebhookNotifier:
    return WebhookNotifier(url, timeout=timeout, sleep=(sleeps if sleeps is not None else []).append)


def test_the_receiver_gets_every_field_of_the_schema(receiver: Receiver) -> None:
    """One POST of JSON to the webhook's path, field by field as docs/canary.md lists them."""
    sent = alert()
    delivery = notifier(receiver.url).send(sent)
    assert delivery == Delivery(receiver.url, True, 1, 204)
    assert len(receiver.received) == 1
    path, headers, _ = receiver.received[0]
    assert path == "/hook"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    body = receiver.bodies()[0]
    assert body.pop("schema") == ALERT_SCHEMA == "pytest-athalia/alert/1"
    assert re.fullmatch(r"[0-9a-f]{32}", str(body.pop("id")))
    assert body.pop("time") == "2026-12-04T21:30:05.123Z"
    assert body.pop("environment") == "dev"
    assert body.pop("candidate") == "v2 (image app:2.0) on green"
    assert body.pop("metric") == "error_rate"
    assert body.pop("unit") == "ratio"
    assert (body.pop("baseline"), body.pop("current"), body.pop("limit")) == (0.01, 0.16, 0.11)
    assert body.pop("samples") == {"baseline": 1000, "current": 250}
    assert body.pop("watched_s") == 5.0
    assert body.pop("source") == "haproxy"
    assert body.pop("action") == "rollback"
    assert body.pop("message") == (
        "post-deploy breach in dev: v2 (image app:2.0) on green: error_rate 16.00% > limit 11.00% "
        "(baseline 1.00%; 250 samples against 1000, 5 s after 100 %, haproxy); rolling back"
    )
    assert body == {}, f"fields the schema does not document: {sorted(body)}"


def test_a_latency_alert_is_in_ms_and_says_when_it_does_not_roll_back(receiver: Receiver) -> None:
    """unit ms for latency_p95; action none with rollback: false."""
    notifier(receiver.url).send(alert(metric="latency_p95", baseline=100.0, current=130.0, limit=120.0, action="none"))
    body = receiver.bodies()[0]
    assert (body["unit"], body["action"]) == ("ms", "none")
    assert "latency_p95 130 ms > limit 120 ms (baseline 100 ms" in str(body["message"])
    assert str(body["message"]).endswith("not rolling back (rollback: false)")


def test_a_connection_dropped_without_an_answer_is_retried_once_with_the_same_id(receiver: Receiver) -> None:
    """The first POST gets no answer; after retry_after the second is delivered, the same alert (same id)."""
    receiver.plan = ["drop", "ok"]
    sleeps: list[float] = []
    delivery = notifier(receiver.url, sleeps).send(alert())
    assert (delivery.delivered, delivery.attempts, delivery.status) == (True, 2, 204)
    assert sleeps == [0.5]
    first, second = receiver.bodies()
    assert first == second
    assert delivery.describe() == f"alert delivered to {receiver.url} (204, 2 attempts)"


def test_a_receiver_answering_500_is_not_delivered_nor_retried(receiver: Receiver) -> None:
    """A 500 is an answer: the receiver may have acted on it, so no retry; the failure says why."""
    receiver.plan = ["500"]
    sleeps: list[float] = []
    delivery = notifier(receiver.url, sleeps).send(alert())
    assert (delivery.delivered, delivery.attempts, delivery.status) == (False, 1, 500)
    assert (len(receiver.received), sleeps) == (1, [])
    assert delivery.describe() == (
        f"alert NOT delivered to {receiver.url} after 1 attempt: the receiver answered 500; "
        "see the receiver's logs for why it refused the alert"
    )


def test_a_receiver_that_is_down_fails_after_two_attempts(closed_port: int) -> None:
    """Refused twice: not delivered, no HTTP status, and the message names the setting to check."""
    sleeps: list[float] = []
    url = f"http://127.0.0.1:{closed_port}/hook"
    delivery = notifier(url, sleeps).send(alert())
    assert (delivery.delivered, delivery.attempts, delivery.status, sleeps) == (False, 2, None, [0.5])
    assert delivery.error.startswith("no answer (ConnectionError) within 2 s;")
    assert "rollout.canary.post_deploy.webhook" in delivery.error


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    """A 308 is not delivery and is not followed: /elsewhere never gets the alert."""
    receiver.plan = ["redirect"]
    delivery = notifier(receiver.url).send(alert())
    assert (delivery.delivered, delivery.attempts, delivery.status) == (False, 1, 308)
    assert [path for path, _, _ in receiver.received] == ["/hook"]
    assert "a redirect, not followed" in delivery.error


def test_a_slow_receiver_is_bounded_by_the_timeout_and_not_retried(receiver: Receiver) -> None:
    """A receiver that takes 2 s against a 0.3 s timeout: one attempt, well under the receiver's time."""
    receiver.plan = ["slow"]
    began = time.monotonic()
    delivery = notifier(receiver.url, timeout=0.3).send(alert())
    assert time.monotonic() - began < 1.5
    assert (delivery.delivered, delivery.attempts) == (False, 1)
    assert delivery.error.startswith("no answer (ReadTimeout) within 0.3 s")


def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown(receiver: Receiver, closed_port: int) -> None:
    """user:password and a query token reach the receiver, but no delivery, error or repr shows them."""
    with_secrets = receiver.url.replace("http://", "http://alerts:s3cret-pw@") + "?token=t0ken-v4lue"
    good = notifier(with_secrets)
    delivery = good.send(alert())
    assert delivery.delivered
    path, headers, _ = receiver.received[0]
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"alerts:s3cret-pw").decode()
    assert path == "/hook?token=t0ken-v4lue"
    down = notifier(f"http://alerts:s3cret-pw@127.0.0.1:{closed_port}/hook?token=t0ken-v4lue")
    failed = down.send(alert())
    for shown in (delivery.describe(), repr(delivery), repr(good), failed.describe(), repr(failed), repr(down)):
        assert "s3cret-pw" not in shown
        assert "t0ken-v4lue" not in shown
    assert failed.target == f"http://***@127.0.0.1:{closed_port}/hook?***"


def test_a_non_http_webhook_is_a_failed_delivery_not_an_exception() -> None:
    """A URL the client will not POST to fails the delivery, naming it (redacted)."""
    delivery = notifier("ftp://user:pw@host/x").send(alert())
    assert (delivery.delivered, delivery.status) == (False, None)
    assert "pw" not in delivery.describe()


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"time": datetime(2026, 12, 4, 21, 30)}, "must be in UTC"),
        ({"time": datetime(2026, 12, 4, 21, 30, tzinfo=timezone(timedelta(hours=1)))}, "must be in UTC"),
        ({"current": float("nan")}, "must be finite"),
    ],
    ids=["naive", "not-utc", "nan"],
)
def test_an_alert_is_in_utc_with_finite_figures(changes: dict[str, object], problem: str) -> None:
    """A time without a zone or off UTC, or a NaN, is refused when the alert is made, not by the receiver."""
    with pytest.raises(ValueError, match=problem):
        alert(**changes)


def test_the_fakes_and_the_webhook_are_notifiers() -> None:
    """Both keep to the Protocol (behaviour is tested above; this guards the runtime check)."""
    assert isinstance(WebhookNotifier("http://127.0.0.1/"), Notifier)
    assert isinstance(FakeNotifier(), Notifier)


# -- end to end: the monitor's verdict does not depend on the receiver ----------------------------------


@dataclass
class BadRelease:
    """A metric source where green fails half its requests: a breach at the first check."""

    name: str = "fake"
    at: int = 0

    def mark(self) -> Mark:
        self.at += 1_000_000_000
        return Mark(self.at, {"green": (100 * self.at // 1_000_000_000, 50 * self.at // 1_000_000_000)})

    def window(self, start: Mark, end: Mark) -> Mapping[str, ColorWindow]:
        (r0, e0), (r1, e1) = start.counters["green"], end.counters["green"]
        return {"green": ColorWindow("green", r1 - r0, e1 - e0)}


@pytest.mark.parametrize("up", [True, False], ids=["receiver-up", "receiver-down"])
def test_the_monitor_alerts_a_real_receiver_and_breaches_either_way(
    receiver: Receiver, closed_port: int, up: bool
) -> None:
    """A breach alerts the webhook; with the receiver down the verdict is the same and the failure is shown."""
    url = receiver.url if up else f"http://127.0.0.1:{closed_port}/hook"
    spec = PostDeploySpec(window_s=3, interval_s=0.01, webhook=url)
    result = PostDeployMonitor(
        BadRelease(), lambda since: {}, baseline=ColorWindow("blue", 1000, 0, (50.0,) * 1000), color="green",
        spec=spec, judge=JudgeSpec(min_samples=10), environment="dev", candidate="v2 on green",
        notifier=WebhookNotifier(url, timeout=1.0, retry_after=0.01),
    ).watch()  # fmt: skip
    assert (result.outcome, result.should_roll_back) == (Outcome.FAIL, True)
    assert result.delivery is not None
    assert result.delivery.delivered is up
    assert len(receiver.received) == (1 if up else 0)
    if up:
        assert receiver.bodies()[0]["metric"] == "error_rate"
    else:
        assert "alert NOT delivered" in result.describe()


def test_docs_example_and_field_table_match_the_schema() -> None:
    """docs/canary.md's example payload has exactly the fields to_json() sends, and its table lists each one."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "canary.md").read_text(encoding="utf-8")
    section = docs.split("## Post-deploy monitoring", 1)[1].split("\n## ", 1)[0]
    example = json.loads(re.findall(r"```json\n(.*?)```", section, re.S)[0])
    sent = alert().to_json()
    assert sorted(example) == sorted(sent)
    assert example["schema"] == ALERT_SCHEMA
    assert example["message"] == sent["message"]
    tabled = set(re.findall(r"^\| `(\w+)` \| (?:string|number|object) \|", section, re.M))
    assert tabled == set(sent)
