"""The router in front of the two colors of the service under deployment: its interface and values.

A rollout talks to the router only through :class:`Router`; the HAProxy driver
(:mod:`pytest_athalia.haproxy`) is one implementation, :class:`FakeRouter` another, and a
project can bring its own through the ``pytest_athalia_make_router`` hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

__all__ = ["COLORS", "Color", "Router", "ServerStats"]

Color = Literal["blue", "green"]
COLORS: tuple[Color, Color] = ("blue", "green")


@dataclass(frozen=True)
class ServerStats:
    """One server (color) as the router counts it; counters are cumulative since the router started."""

    server: str
    status: str  # e.g. "UP", "DOWN", "MAINT"
    weight: int
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
