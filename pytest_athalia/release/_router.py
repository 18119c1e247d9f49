"""The router in front of the two colors of the service under deployment: its interface and values.

A rollout talks to the router only through :class:`Router`; the HAProxy driver
(:mod:`pytest_athalia.release._haproxy`) is one implementation, :class:`FakeRouter` another, and a
project can bring its own through the ``pytest_athalia_make_router`` hook. It deploys to a color
through :class:`ColorStack`, which :class:`~pytest_athalia.stack._stack.ComposeStack` and
:class:`~pytest_athalia.testing.FakeStack` implement.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final, Literal, Protocol, final, runtime_checkable

from .._errors import RouterError

__all__ = [
    "COLORS",
    "COLOR_HEADER",
    "INITIAL_WEIGHTS",
    "MAX_WEIGHT",
    "Color",
    "ColorStack",
    "FakeRouter",
    "Relocatable",
    "Router",
    "ServerStats",
    "WeightBatch",
    "WeightChange",
    "apply_weights",
    "check_weight",
    "serving",
    "wait_until_serving",
]

Color = Literal["blue", "green"]
COLORS: tuple[Color, Color] = ("blue", "green")
# The router sets it on every response it relays: the color (server) that served it.
COLOR_HEADER: Final = "X-Athalia-Color"
MAX_WEIGHT: Final = 256  # HAProxy's limit for an absolute weight
# Where every rollout starts and ends (the router's configuration, reset(), FakeRouter): blue live, green idle.
# In this order, blue first: applied one by one, at no instant do both colors weigh 0.
INITIAL_WEIGHTS: Final[Mapping[Color, int]] = MappingProxyType({COLORS[0]: 100, COLORS[1]: 0})
_SERVER_NAME = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class ServerStats:
    """One server (color) as the router counts it; counters are cumulative since the router started."""

    server: str
    status: str  # e.g. "UP", "DOWN", "MAINT", "MAINT (resolution)", "DOWN 1/2" (going up)
    weight: int  # the weight set through the API (HAProxy's uweight), even while the server is DOWN
    requests: int
    responses_5xx: int
    response_time_ms: float | None  # the router's recent average; None when it has none


@runtime_checkable
class Router(Protocol):
    """Sets and reads the traffic weights of the colors, and reads their counters."""

    def url(self, path: str = "") -> str:
        """The router's address for clients, e.g. ``http://127.0.0.1:49153/version``."""
        ...

    def set_weight(self, server: str, weight: int) -> None:
        """Give `server` (a color) weight 0..256; 0 sends it no new request."""
        ...

    def weights(self) -> Mapping[str, int]:
        """The current weight of every server."""
        ...

    def stats(self) -> tuple[ServerStats, ...]:
        """The counters of every server."""
        ...


@runtime_checkable
class WeightBatch(Protocol):
    """Optional for a :class:`Router`: applies several weight changes, in order, in one round trip."""

    def set_weights(self, changes: Sequence[tuple[str, int]]) -> None:
        """Apply each ``(server, weight)`` in order; validate all of them before applying any."""
        ...


@runtime_checkable
class Relocatable(Protocol):
    """Optional for a :class:`Router`: finds its address again after a restart moved its published ports."""

    def relocate(self) -> bool:
        """Look the address up again; True when it moved. Never raises."""
        ...


def apply_weights(router: Router, changes: Sequence[tuple[str, int]]) -> None:
    """Apply `changes` in order: in one round trip when the router can (:class:`WeightBatch`), else one by one.

    A switch is two changes (the new color to 100, then the old to 0); one round trip instead of
    two halves the time a rollback takes (measured in benchmarks/bench_rollback.py).
    """
    if isinstance(router, WeightBatch):
        router.set_weights(changes)
        return
    for server, weight in changes:
        router.set_weight(server, weight)


@runtime_checkable
class ColorStack(Protocol):
    """What a rollout needs from the stack: each color's own address and a way to redeploy one color."""

    def color_url(self, color: Color, path: str = "") -> str:
        """The color's own address on 127.0.0.1, bypassing the router (for smoke tests).

        ``color_url(color) + path`` must equal ``color_url(color, path)``: a rollout asks once per deploy.
        """
        ...

    def deploy_color(self, color: Color, *, image: str | None, env: Mapping[str, str], timeout: float) -> float:
        """Recreate only that color's service (image None: the service's own) with `env` merged over its
        environment, wait until it is healthy, and return the seconds it took.

        Raises :class:`~pytest_athalia._errors.RolloutError` (or ``StackError``) with compose's output.
        """
        ...

    def color_service(self, color: Color) -> str:
        """The compose service name of that color."""
        ...


def check_weight(server: str, weight: int) -> None:
    """Raise RouterError unless `server` is a plain name and `weight` an int in 0..256 (what HAProxy accepts)."""
    if not _SERVER_NAME.fullmatch(server):
        raise RouterError(
            f"athalia: expected a server name of letters, digits, '_', '.', '-' (the colors are "
            f"{', '.join(COLORS)}), found {server!r}. Pass a color."
        )
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= MAX_WEIGHT:
        raise RouterError(
            f"athalia: expected a weight from 0 to {MAX_WEIGHT} for server {server}, found {weight!r}. "
            "Pass 0 (no new requests) to 256; the rollout uses 0 and 100."
        )


def serving(status: str) -> bool | None:
    """Whether a server with this ``show stat`` status takes what its weight sends it.

    True for UP (also "UP 1/2": one failed check so far), DRAIN (up at weight 0) and NO CHECK;
    False for DOWN, MAINT and NOLB; None for anything else.
    """
    upper = status.upper()
    if upper.startswith(("DOWN", "MAINT", "NOLB")):
        return False
    return True if upper.startswith(("UP", "DRAIN", "NO CHECK")) else None


def wait_until_serving(router: Router, server: str, *, timeout: float = 10.0, interval: float = 0.05) -> float:
    """Seconds until the router holds `server` :func:`serving` (e.g. a freshly deployed color).

    A container that compose reports healthy is UP in HAProxy only after its address is resolved and
    its first health check passed (about a second); switching traffic before that would answer 503.
    Raises RouterError naming the last status seen when `timeout` passes.
    """
    start = time.monotonic()
    while True:
        try:
            current = {s.server: s.status for s in router.stats()}
            seen = current.get(server, f"no server {server!r} (servers: {', '.join(current) or 'none'})")
        except RouterError as exc:
            current, seen = {}, f"stats unavailable: {exc}"
        if server in current and serving(seen):
            return time.monotonic() - start
        if time.monotonic() - start >= timeout:
            raise RouterError(
                f"athalia: the router did not report server {server} as UP within {timeout:g} s; "
                f"last status: {seen}. A color that compose reports healthy must also pass the router's health "
                "check (stack.health_path); check the color's logs and the router's (service stack.service)."
            )
        time.sleep(interval)


@dataclass(frozen=True)
class WeightChange:
    """One successful ``set_weight`` on a :class:`FakeRouter`; `at` comes from the fake's clock."""

    at: float
    server: str
    weight: int


@final
class FakeRouter:
    """An in-memory :class:`Router` for unit tests: records weight changes, serves configurable stats.

    ``fail("...")`` makes the next calls (all, or `times` of them) raise RouterError, as an unreachable
    router would. Unknown servers and weights outside 0..256 are refused like HAProxy refuses them.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:1",
        *,
        weights: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._clock = clock
        initial = dict(weights if weights is not None else INITIAL_WEIGHTS)
        self._stats: dict[str, ServerStats] = {
            name: ServerStats(name, "UP", weight, 0, 0, None) for name, weight in initial.items()
        }
        self.changes: list[WeightChange] = []
        self.calls: list[str] = []
        self._failure: str | None = None
        self._failures_left: int | None = None

    # -- Router -----------------------------------------------------------------------------------
    def url(self, path: str = "") -> str:
        return self._base_url + path

    def set_weight(self, server: str, weight: int) -> None:
        self._call(f"set_weight {server} {weight}")
        check_weight(server, weight)
        if server not in self._stats:
            raise RouterError(f"athalia: the fake router has no server {server!r}; it has {', '.join(self._stats)}.")
        self._stats[server] = replace(self._stats[server], weight=weight)
        self.changes.append(WeightChange(self._clock(), server, weight))

    def set_weights(self, changes: Sequence[tuple[str, int]]) -> None:
        """Every change validated first, then applied in order as one call (like HAProxyRouter)."""
        self._call("set_weights " + ", ".join(f"{server} {weight}" for server, weight in changes))
        for server, weight in changes:
            check_weight(server, weight)
            if server not in self._stats:
                raise RouterError(
                    f"athalia: the fake router has no server {server!r}; it has {', '.join(self._stats)}."
                )
        for server, weight in changes:
            self._stats[server] = replace(self._stats[server], weight=weight)
            self.changes.append(WeightChange(self._clock(), server, weight))

    def weights(self) -> Mapping[str, int]:
        self._call("weights")
        return {name: stat.weight for name, stat in self._stats.items()}

    def stats(self) -> tuple[ServerStats, ...]:
        self._call("stats")
        return tuple(self._stats.values())

    # -- test controls ----------------------------------------------------------------------------
    def set_stats(
        self,
        server: str,
        *,
        status: str | None = None,
        requests: int | None = None,
        responses_5xx: int | None = None,
        response_time_ms: float | None = None,
    ) -> None:
        """Change what ``stats()`` reports for `server` (adding it if new); None leaves a field as it is."""
        current = self._stats.get(server, ServerStats(server, "UP", 0, 0, 0, None))
        self._stats[server] = ServerStats(
            server,
            current.status if status is None else status,
            current.weight,
            current.requests if requests is None else requests,
            current.responses_5xx if responses_5xx is None else responses_5xx,
            current.response_time_ms if response_time_ms is None else response_time_ms,
        )

    def fail(self, message: str = "the fake router is unreachable", *, times: int | None = None) -> None:
        """Make the next `times` calls (None: every call until ``recover()``) raise RouterError(message)."""
        self._failure = message
        self._failures_left = times

    def recover(self) -> None:
        self._failure = None
        self._failures_left = None

    def weight_history(self, server: str) -> tuple[int, ...]:
        """The weights set on `server`, in order."""
        return tuple(change.weight for change in self.changes if change.server == server)

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if self._failure is None:
            return
        message = self._failure
        if self._failures_left is not None:
            self._failures_left -= 1
            if self._failures_left <= 0:
                self.recover()
        raise RouterError(f"athalia: {message} ({what}).")
