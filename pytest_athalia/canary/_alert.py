"""The post-deploy alert: a versioned JSON document, and who receives it.

:class:`Alert` is what a breach of the post-deploy window looks like to the outside world
(``schema: pytest-athalia/alert/1``, every field in docs/canary.md). A :class:`Notifier` delivers it
and never raises: a failed delivery is a :class:`Delivery` value, recorded in the monitor's result,
so the release's verdict never depends on the receiver being up while the failure stays visible.
:class:`WebhookNotifier` POSTs it through the project's one HTTP client (bounded, no redirects
followed) and sends it once more when no connection could be made; ``testing.FakeNotifier`` records
alerts for tests.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol, final, runtime_checkable

from .._http import NO_CONNECTION, Answer, HttpClient, redacted, succeeded
from ..report._slo import format_number

__all__ = [
    "ALERT_SCHEMA",
    "Action",
    "Alert",
    "Delivery",
    "MonitorMetric",
    "Notifier",
    "WebhookNotifier",
    "format_metric",
    "utc_now",
]

ALERT_SCHEMA = "pytest-athalia/alert/1"  # bump on any change a receiver could notice

MonitorMetric = Literal["error_rate", "latency_p95"]
# What follows the alert: "rollback" (rollout.canary.post_deploy.rollback: true, the orchestrator rolls
# the release back right after sending it) or "none" (alert only, the release stays live).
Action = Literal["rollback", "none"]

_UNITS: Mapping[MonitorMetric, str] = {"error_rate": "ratio", "latency_p95": "ms"}


@final
@dataclass(frozen=True)
class Alert:
    """One breach of the post-deploy window, as sent to the webhook (see :meth:`to_json`)."""

    environment: str  # the environment's name (e.g. dev)
    candidate: str  # what was released, in words (e.g. "v2 (image app:2.0) on green")
    metric: MonitorMetric
    baseline: float  # the pre-deploy live version's value
    current: float  # the release's value since it reached 100 %
    limit: float  # the most `current` may be before it is a breach
    baseline_samples: int
    current_samples: int
    watched_s: float  # seconds since 100 % when the breach was found
    source: str  # the metric source: haproxy or prometheus
    action: Action
    time: datetime  # when the breach was found, UTC
    id: str = field(default_factory=lambda: uuid.uuid4().hex)  # the same on a retry: receivers may dedupe

    def __post_init__(self) -> None:
        if self.time.tzinfo is None or self.time.utcoffset() != timedelta(0):
            raise ValueError(f"an alert's time must be in UTC, found {self.time.isoformat()}")
        if not all(math.isfinite(v) for v in (self.baseline, self.current, self.limit, self.watched_s)):
            raise ValueError(f"an alert's figures must be finite numbers, found {self!r}")

    @property
    def unit(self) -> str:
        return _UNITS[self.metric]

    def describe(self) -> str:
        """One line, also sent as the JSON's ``message`` (chat receivers show it as is)."""
        then = "rolling back" if self.action == "rollback" else "not rolling back (rollback: false)"
        return (
            f"post-deploy breach in {self.environment}: {self.candidate}: {self.metric} "
            f"{format_metric(self.current, self.unit)} > limit {format_metric(self.limit, self.unit)} "
            f"(baseline {format_metric(self.baseline, self.unit)}; {self.current_samples} samples against "
            f"{self.baseline_samples}, {format_number(self.watched_s)} s after 100 %, {self.source}); {then}"
        )

    def to_json(self) -> dict[str, object]:
        """The document POSTed to the webhook: documented field by field in docs/canary.md."""
        return {
            "schema": ALERT_SCHEMA,
            "id": self.id,
            "time": self.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "environment": self.environment,
            "candidate": self.candidate,
            "metric": self.metric,
            "unit": self.unit,
            "baseline": self.baseline,
            "current": self.current,
            "limit": self.limit,
            "samples": {"baseline": self.baseline_samples, "current": self.current_samples},
            "watched_s": round(self.watched_s, 3),
            "source": self.source,
            "action": self.action,
            "message": self.describe(),
        }


@final
@dataclass(frozen=True)
class Delivery:
    """How sending one alert went. ``target`` is redacted: it never holds the URL's credentials."""

    target: str
    delivered: bool
    attempts: int
    status: int | None = None  # the receiver's last HTTP status; None when it never answered
    error: str = ""  # why not delivered, in words

    def describe(self) -> str:
        tries = f"{self.attempts} attempt" + ("" if self.attempts == 1 else "s")
        if self.delivered:
            return f"alert delivered to {self.target} ({self.status}, {tries})"
        return f"alert NOT delivered to {self.target} after {tries}: {self.error}"


@runtime_checkable
class Notifier(Protocol):
    """Delivers alerts. :meth:`send` never raises: a failure is a :class:`Delivery` with ``delivered`` False."""

    def send(self, alert: Alert) -> Delivery: ...


@final
class WebhookNotifier:
    """POSTs each alert as JSON to a URL: bounded by `timeout` per attempt, one retry when no connection was made.

    Only a 2xx is a delivery. A 3xx is not followed (point the setting at the final URL); a 4xx or 5xx,
    or a read timeout, is not retried, since the receiver may have acted on it (the alert's ``id`` lets
    it drop a duplicate anyway). Credentials in the URL are sent as Basic auth and never shown.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retry_after: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url
        self._timeout = timeout
        self._retry_after = retry_after
        self._sleep = sleep

    @property
    def target(self) -> str:
        return redacted(self._url)

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.target!r}, timeout={self._timeout:g})"

    def send(self, alert: Alert) -> Delivery:
        document = alert.to_json()
        attempts = 0
        with HttpClient(timeout=self._timeout, max_body=4096) as client:
            answer = self._attempt(client, document)
            attempts += 1
            if answer.status is None and answer.error in NO_CONNECTION:
                self._sleep(self._retry_after)
                answer = self._attempt(client, document)
                attempts += 1
        if succeeded(answer.status):
            return Delivery(self.target, True, attempts, answer.status)
        return Delivery(self.target, False, attempts, answer.status, self._why(answer))

    def _attempt(self, client: HttpClient, document: Mapping[str, object]) -> Answer:
        return client.post_json(self._url, document)

    def _why(self, answer: Answer) -> str:
        if answer.status is None:
            return (
                f"no answer ({answer.error}) within {self._timeout:g} s; check that the receiver runs and "
                "that rollout.canary.post_deploy.webhook points at it"
            )
        if 300 <= answer.status < 400:
            return (
                f"the receiver answered {answer.status} (a redirect, not followed); set "
                "rollout.canary.post_deploy.webhook to the URL it redirects to"
            )
        return f"the receiver answered {answer.status}; see the receiver's logs for why it refused the alert"


def format_metric(value: float, unit: str) -> str:
    """A metric's value for a message: ``12.50%`` for a ratio, ``180 ms`` for a latency."""
    return f"{format_number(value)} ms" if unit == "ms" else f"{value:.2%}"


def utc_now() -> datetime:
    """The wall-clock time for an alert (the monitor's clock is monotonic and says nothing about the date)."""
    return datetime.now(UTC)
