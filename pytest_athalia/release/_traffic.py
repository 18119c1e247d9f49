"""The background probe: steady keep-alive traffic through the router, every request timestamped.

Each request becomes a frozen :class:`ProbeSample` with its start and end on one monotonic clock
(``time.monotonic_ns``), its status, the color that served it (the router's ``X-Athalia-Color``
header) and any transport error. Rollback, detection and switch times are derived from these
timestamps (:mod:`pytest_athalia.release._timing`), never by polling.

The probe is closed-loop: ``clients`` threads, each with one keep-alive connection, paced so that
together they aim at ``rate`` requests per second. A slow server lowers the achieved rate (each
client waits for its answer; one that fell behind catches up on a few slots); the achieved rate
is reported. It stops by itself after
``max_seconds`` or ``max_requests``, whichever comes first.

It speaks ``http.client`` directly, not :mod:`pytest_athalia._http`: each client owns exactly one
connection, paces it, and stamps each request on the rollout's clock right around the bytes on the
wire; a session's pool and redirect handling would blur those timestamps.
"""

from __future__ import annotations

import http.client
import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

from .._errors import RolloutError
from .._http import answered
from ._router import COLOR_HEADER

__all__ = ["CATCH_UP", "Clock", "ProbeLog", "ProbeSample", "TrafficProbe"]

Clock = Callable[[], int]
CATCH_UP = 5  # slots a client that fell behind may send back to back


@dataclass(frozen=True)
class ProbeSample:
    """One probe request: start and end in monotonic ns, status (None: no HTTP answer), serving color."""

    start_ns: int
    end_ns: int
    status: int | None
    color: str | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return answered(self.status)

    @property
    def latency_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    def describe(self) -> str:
        what = str(self.status) if self.status is not None else (self.error or "no answer")
        return f"{what} from {self.color or 'no color'}"


@dataclass(frozen=True)
class ProbeLog:
    """Everything one probe run recorded, sorted by start time."""

    url: str
    started_ns: int
    stopped_ns: int
    samples: tuple[ProbeSample, ...]

    @property
    def count(self) -> int:
        return len(self.samples)

    @property
    def seconds(self) -> float:
        return max(0, self.stopped_ns - self.started_ns) / 1e9

    @property
    def rate(self) -> float | None:
        """Achieved requests per second, None for a run too short to tell."""
        return self.count / self.seconds if self.seconds > 0 else None

    def failures(self) -> tuple[ProbeSample, ...]:
        return tuple(s for s in self.samples if not s.ok)


class TrafficProbe:
    """Sends paced GETs to `url` from several keep-alive clients in threads until stopped or bounded.

    A context manager: ``with TrafficProbe(url) as probe: ...`` starts it and always stops it.
    """

    def __init__(
        self,
        url: str,
        *,
        rate: float = 300.0,
        clients: int = 6,
        timeout_s: float = 2.0,
        max_seconds: float = 60.0,
        max_requests: int | None = None,
        clock: Clock = time.monotonic_ns,
        color_header: str = COLOR_HEADER,
        locate: Callable[[], str] | None = None,
    ) -> None:
        split = urlsplit(url)
        if split.scheme != "http" or not split.hostname:
            raise RolloutError(f"athalia: the probe needs an http:// URL with a host, got {url!r}.")
        if rate <= 0 or clients < 1 or max_seconds <= 0:
            raise RolloutError(
                f"athalia: the probe needs rate > 0, clients >= 1 and max_seconds > 0, got {rate}, {clients}, "
                f"{max_seconds}; see rollout.probe in the environment file."
            )
        self.url = url
        self._host = split.hostname
        self._port = split.port or 80
        self._path = (split.path or "/") + (f"?{split.query}" if split.query else "")
        self._rate = rate
        self._clients = clients
        self._timeout = timeout_s
        self._max_seconds = max_seconds
        self._max_requests = max_requests if max_requests is not None else int(rate * max_seconds) + clients
        self._clock = clock
        self._header = color_header
        # Only ever appended to, under _record_lock with the end time read inside it: ordered by end_ns,
        # so readers bisect it without a lock (list reads are atomic, and the first n items never move).
        self._samples: list[ProbeSample] = []
        self._record_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sent = 0
        self._sent_lock = threading.Lock()
        self._started_ns = 0
        self._stopped_ns = 0
        # Where the URL is now, asked after a failed request (a restarted router gets new host ports).
        self._locate = locate
        self._locate_lock = threading.Lock()
        self._located_ns = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> Self:
        if self._threads:
            raise RolloutError("athalia: this probe was already started; create a new TrafficProbe per run.")
        self._started_ns = self._clock()
        for i in range(self._clients):
            thread = threading.Thread(target=self._run, args=(i,), name=f"athalia-probe-{i}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def stop(self) -> ProbeLog:
        """Stop every client (each finishes its request in flight) and return what was recorded."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self._timeout + 5)
        if not self._stopped_ns:
            self._stopped_ns = self._clock()
        return self.log()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    # -- reading while it runs -----------------------------------------------------------------------
    def recent(self, since_ns: int) -> tuple[ProbeSample, ...]:
        """Samples that ended at or after `since_ns`, in end order (cheap: copies only those)."""
        samples = self._samples
        count = len(samples)
        first = bisect_left(samples, since_ns, 0, count, key=_end_ns)
        return tuple(samples[first:count])

    def count(self) -> int:
        return len(self._samples)

    def log(self) -> ProbeLog:
        stopped = self._stopped_ns or self._clock()
        ordered = tuple(sorted(self._samples[:], key=lambda s: (s.start_ns, s.end_ns)))
        return ProbeLog(self.url, self._started_ns, stopped, ordered)

    # -- the clients ---------------------------------------------------------------------------------
    def _take_ticket(self) -> bool:
        with self._sent_lock:
            if self._sent >= self._max_requests:
                return False
            self._sent += 1
            return True

    def _run(self, index: int) -> None:
        interval_ns = int(self._clients / self._rate * 1e9)
        backlog_ns = CATCH_UP * interval_ns
        deadline = self._started_ns + int(self._max_seconds * 1e9)
        # Spread the clients over one interval so their requests interleave evenly.
        next_ns = self._started_ns + index * interval_ns // self._clients
        conn: http.client.HTTPConnection | None = None
        try:
            while not self._stop.is_set():
                now = self._clock()
                if now >= deadline or not self._take_ticket():
                    break
                if next_ns > now:
                    if self._stop.wait((next_ns - now) / 1e9):
                        break
                elif now - next_ns > backlog_ns:
                    # Behind after a slow answer: catch up on at most CATCH_UP slots, back to back, so a
                    # short stall does not lower the rate and a long one does not end in a burst.
                    next_ns = now - backlog_ns
                next_ns += interval_ns
                if conn is None:
                    conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
                conn = self._one(conn)
        finally:
            if conn is not None:
                conn.close()

    def _one(self, conn: http.client.HTTPConnection) -> http.client.HTTPConnection | None:
        start = self._clock()
        try:
            conn.request("GET", self._path, headers={"Connection": "keep-alive"})
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._record(start, None, None, type(exc).__name__)
            conn.close()
            self._relocate()
            return None
        self._record(start, response.status, response.getheader(self._header))
        if response.will_close:
            conn.close()
            return None
        return conn

    def _relocate(self) -> None:
        """Ask `locate` where the URL is now, at most once a second and from one client at a time."""
        if self._locate is None or not self._locate_lock.acquire(blocking=False):
            return
        try:
            now = self._clock()
            if now - self._located_ns < RELOCATE_EVERY_NS:
                return
            self._located_ns = now
            split = urlsplit(self._locate())  # `locate` never raises (HAProxyRouter.relocate)
            if split.hostname:
                self._host, self._port = split.hostname, split.port or 80
        finally:
            self._locate_lock.release()

    def _record(self, start_ns: int, status: int | None, color: str | None, error: str = "") -> None:
        # The end time is read under the lock, so the list stays ordered by end_ns (see recent()).
        with self._record_lock:
            self._samples.append(ProbeSample(start_ns, self._clock(), status, color, error))


RELOCATE_EVERY_NS = 1_000_000_000


def _end_ns(sample: ProbeSample) -> int:
    return sample.end_ns
