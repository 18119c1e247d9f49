"""The one client for ordinary HTTP calls: health checks, smoke tests, probes and external signals.

Every call is bounded by a timeout, never follows redirects (a 3xx is an answer to judge, not to
hide), never raises for what the network does (no answer is an :class:`Answer` with ``status``
None and the error's name), and keeps at most ``max_body`` bytes of the body. The rules for what
counts as an answer live here once: :func:`answered` (2xx or 3xx) and :func:`succeeded` (2xx).
:meth:`HttpClient.post_json` sends a JSON document (the post-deploy alert's webhook) under the same
rules; :func:`redacted` is how a URL that may carry credentials appears in any message.

The release probe (:mod:`pytest_athalia.release._traffic`) keeps its own ``http.client`` loop: it
paces requests on one reused connection and timestamps each on the rollout's monotonic clock,
which a session's connection pool would hide.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self, final
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import requests

__all__ = ["NO_CONNECTION", "Answer", "HttpClient", "answered", "get", "redacted", "succeeded"]

MAX_BODY = 65536
# Errors (Answer.error) raised before any request reached a server (refused, reset before an answer,
# no route, connect timeout): safe to send again. A read timeout is not among them: the server may
# have acted on the request.
NO_CONNECTION = frozenset({"ConnectionError", "ConnectTimeout"})


def answered(status: int | None) -> bool:
    """A usable answer: 2xx or 3xx (the service is up and routing)."""
    return status is not None and 200 <= status < 400


def succeeded(status: int | None) -> bool:
    """A success: 2xx only."""
    return status is not None and 200 <= status < 300


@final
@dataclass(frozen=True)
class Answer:
    url: str
    status: int | None  # None: no HTTP answer (refused, reset, timed out, not an http URL)
    latency_ms: float
    body: str = ""
    error: str = ""  # the exception's name when there was no answer

    @property
    def ok(self) -> bool:
        return answered(self.status)

    def describe(self) -> str:
        return f"{self.url} answered {self.status}" if self.status is not None else f"{self.url}: {self.error}"


@final
class HttpClient:
    """A keep-alive session for a series of calls (a context manager); :func:`get` for one call."""

    def __init__(self, *, timeout: float, max_body: int = MAX_BODY) -> None:
        import requests  # imported on first use: the plugin stays light in runs that never call HTTP

        self._requests = requests
        self._session: requests.Session = requests.Session()
        self._timeout = timeout
        self._max_body = max_body

    def get(self, url: str) -> Answer:
        start = time.perf_counter()
        if urlsplit(url).scheme not in ("http", "https"):
            return Answer(url, None, 0.0, error=f"not an http(s) URL: {url!r}")
        try:
            with self._session.get(url, timeout=self._timeout, allow_redirects=False, stream=True) as response:
                raw = response.raw.read(self._max_body, decode_content=True) or b""
                body = raw.decode(response.encoding or "utf-8", errors="replace")
                return Answer(url, response.status_code, _ms_since(start), body)
        except (self._requests.RequestException, OSError) as exc:
            return Answer(url, None, _ms_since(start), error=type(exc).__name__)

    def post_json(self, url: str, document: Mapping[str, object]) -> Answer:
        """POST `document` as JSON (UTF-8). Credentials in the URL go as Basic auth (requests' rule).

        The answer's ``url`` is :func:`redacted`, so describing it never prints them.
        """
        start = time.perf_counter()
        shown = redacted(url)
        if urlsplit(url).scheme not in ("http", "https"):
            return Answer(shown, None, 0.0, error=f"not an http(s) URL: {shown!r}")
        body = json.dumps(document, ensure_ascii=False, allow_nan=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            with self._session.post(
                url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False, stream=True
            ) as response:
                raw = response.raw.read(self._max_body, decode_content=True) or b""
                text = raw.decode(response.encoding or "utf-8", errors="replace")
                return Answer(shown, response.status_code, _ms_since(start), text)
        except (self._requests.RequestException, OSError) as exc:
            return Answer(shown, None, _ms_since(start), error=type(exc).__name__)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def get(url: str, *, timeout: float, max_body: int = MAX_BODY) -> Answer:
    """One bounded GET on a fresh connection."""
    with HttpClient(timeout=timeout, max_body=max_body) as client:
        return client.get(url)


def redacted(url: str) -> str:
    """`url` fit for a message: user and password, and the query string (where tokens often ride), as ``***``."""
    split = urlsplit(url)
    netloc = split.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "***" if split.query else ""
    return split._replace(netloc=netloc, query=query, fragment="").geturl()


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000
