"""Pollers that turn health checks, router status and the external signal into :class:`CheckSample` values.

Each poller runs one check at a fixed interval in a daemon thread, bounded in time, and records
its start and end on the same monotonic clock as the probe. The decisions are left to the pure
functions of :mod:`pytest_athalia.release._triggers`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self

from .. import _http
from .._errors import RolloutError, RouterError
from .._process import run_command
from ._router import Router, serving
from ._traffic import Clock
from ._triggers import CheckSample

__all__ = ["Poller", "external_check", "http_check", "router_status_check"]

# A check returns (ok, detail); ok None means no usable answer.
Check = Callable[[], tuple[bool | None, str]]


def http_check(url: str, *, timeout_s: float) -> Check:
    """ok when `url` answers 2xx/3xx (redirects are not followed); an error status or no answer fails."""

    def check() -> tuple[bool | None, str]:
        answer = _http.get(url, timeout=timeout_s, max_body=0)
        return answer.ok, answer.describe()

    return check


def router_status_check(router: Router, server: str) -> Check:
    """ok while the router holds `server` UP (or DRAIN), not while DOWN or MAINT; None when it cannot tell."""

    def check() -> tuple[bool | None, str]:
        try:
            stats = {s.server: s for s in router.stats()}
        except RouterError as exc:
            return None, f"router stats unavailable: {exc}"
        stat = stats.get(server)
        if stat is None:
            return None, f"the router reports no server {server!r}"
        return serving(stat.status), f"router status of {server}: {stat.status}"

    return check


def external_check(*, url: str | None, command: Sequence[str] | None, match: str | None, timeout_s: float) -> Check:
    """The external signal: False (roll back) on a non-2xx answer or non-zero exit, or when `match` matches.

    With `match` set, only a match says roll back. No answer at all (refused, timed out) is None.
    """
    pattern = re.compile(match) if match else None

    def from_url(target: str) -> tuple[bool | None, str]:
        answer = _http.get(target, timeout=timeout_s)
        if answer.status is None:
            return None, answer.describe()
        says_rollback = bool(pattern.search(answer.body)) if pattern else not _http.succeeded(answer.status)
        return not says_rollback, f"{answer.describe()}: {answer.body.strip()[:200]}"

    def from_command(argv: Sequence[str]) -> tuple[bool | None, str]:
        try:
            proc = run_command(
                argv,
                timeout=timeout_s,
                what="the external signal",
                check=False,
                split_stderr=True,
                error=RolloutError,
                timeout_error=RolloutError,
            )
        except RolloutError as exc:  # did not start, or ran past its timeout: no signal, not a rollback
            return None, str(exc)
        says_rollback = bool(pattern.search(proc.stdout)) if pattern else proc.returncode != 0
        return not says_rollback, f"`{' '.join(argv)}` exited {proc.returncode}: {proc.stdout.strip()[:200]}"

    def check() -> tuple[bool | None, str]:
        if url is not None:
            return from_url(url)
        if command is not None:
            return from_command(command)
        return None, "no external signal configured"

    return check


class Poller:
    """Runs `check` every `interval_s` in a thread until stopped or `max_seconds` passed."""

    def __init__(
        self,
        source: str,
        check: Check,
        *,
        interval_s: float,
        max_seconds: float = 60.0,
        clock: Clock = time.monotonic_ns,
    ) -> None:
        self.source = source
        self._check = check
        self._interval = interval_s
        self._max_seconds = max_seconds
        self._clock = clock
        self._samples: list[CheckSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"athalia-poll-{source}", daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> tuple[CheckSample, ...]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self._interval + 10)
        return self.samples()

    def samples(self) -> tuple[CheckSample, ...]:
        return tuple(self._samples[:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self, *_: object) -> None:
        deadline = time.monotonic() + self._max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            start = self._clock()
            ok, detail = self._check()
            self._samples.append(CheckSample(self.source, start, self._clock(), ok, detail))
            if self._stop.wait(max(0.0, self._interval - (self._clock() - start) / 1e9)):
                break
