"""The default metric source: the router's own per-server counters (``show stat`` through :class:`Router`).

A mark is a snapshot of every server's cumulative ``requests`` and ``responses_5xx``
(:class:`~pytest_athalia.release._router.ServerStats`), read in one call, so both colors are
counted at the same instant; a window is the difference of two marks
(:func:`~pytest_athalia.canary._windows.windows_between`: a router restart in between is an error).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final, final

from .._errors import RouterError
from ..release._router import Router
from ._metrics import ColorWindow, Mark
from ._windows import windows_between

__all__ = ["HAProxyStatsSource"]

NAME: Final = "haproxy"


@final
class HAProxyStatsSource:
    """:class:`~pytest_athalia.canary._metrics.MetricSource` over a :class:`Router`'s stats (HAProxy, or FakeRouter)."""

    def __init__(self, router: Router, *, clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self._router = router
        self._clock_ns = clock_ns

    @property
    def name(self) -> str:
        return NAME

    def mark(self) -> Mark:
        """Every server's counters now; at_ns halfway through the call (the router answers in about a millisecond)."""
        before = self._clock_ns()
        stats = self._router.stats()
        at_ns = (before + self._clock_ns()) // 2
        if not stats:
            raise RouterError(
                "athalia: the router's stats list no server, so the canary has nothing to count. Expected the "
                "servers blue and green of the router's backend; check the router (the service under deployment)."
            )
        return Mark(at_ns, MappingProxyType({stat.server: (stat.requests, stat.responses_5xx) for stat in stats}))

    def window(self, start: Mark, end: Mark) -> Mapping[str, ColorWindow]:
        return windows_between(start, end, source=NAME)
