"""Doubles for rollouts without Docker, shared by the blue-green and canary unit tests.

`LocalRouter` is a threaded HTTP server on loopback implementing the Router protocol: it picks a
color by weight for every request (smooth weighted round robin, like HAProxy's), sets the color
header, and answers 503 without it when every weight is 0. Each color behaves like the demo app
with its FAULT_* settings. `LocalColors` implements the ColorStack protocol over the same server
(``/__color/<color>/<path>`` bypasses the weights).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pytest_athalia._errors import StackError
from pytest_athalia.release._router import COLOR_HEADER, ServerStats

__all__ = ["ColorState", "LocalColors", "LocalRouter", "Routing", "local_router"]

rng = random.Random(4)


@dataclass
class ColorState:
    error_rate: float = 0.0
    latency_ms: float = 0.0
    ready_fail: bool = False
    health_redirect: bool = False  # /health answers 308 (a candidate that moved its health path)
    running: bool = True
    requests: int = 0
    errors: int = 0


@dataclass
class Routing:
    weights: dict[str, int] = field(default_factory=lambda: {"blue": 100, "green": 0})
    colors: dict[str, ColorState] = field(default_factory=lambda: {"blue": ColorState(), "green": ColorState()})
    current: dict[str, int] = field(default_factory=lambda: {"blue": 0, "green": 0})
    lock: threading.Lock = field(default_factory=threading.Lock)
    weight_calls: list[tuple[str, int]] = field(default_factory=list)
    leak_every: int = 0  # > 0: every n-th request goes to a drained (weight 0) color, as a faulty router would
    picks: int = 0
    front_hits: int = 0  # requests that came in through /__front/ (a front proxy calling the service by name)

    def pick(self) -> str | None:
        with self.lock:  # smooth weighted round robin
            self.picks += 1
            drained = [c for c, w in self.weights.items() if w == 0 and self.colors[c].running]
            if self.leak_every and drained and self.picks % self.leak_every == 0:
                return drained[0]
            live = {c: w for c, w in self.weights.items() if w > 0 and self.colors[c].running}
            if not live:
                return None
            total = sum(live.values())
            for color, weight in live.items():
                self.current[color] += weight
            best = max(live, key=lambda c: self.current[c])
            self.current[best] -= total
            return best


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: Nagle would add 40 ms
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        routing = self.server.routing
        path = self.path
        if path.startswith("/__color/"):
            _, _, color, rest = path.split("/", 3)
            self._serve(color, "/" + rest, header=False)
            return
        if path.startswith("/__front/"):
            routing.front_hits += 1
            path = path.removeprefix("/__front")
        color = routing.pick()
        if color is None:
            self._answer(503, b"no server available", None)
            return
        self._serve(color, path, header=True)

    def _serve(self, color: str, path: str, *, header: bool) -> None:
        state = self.server.routing.colors[color]
        state.requests += 1
        shown = color if header else None
        if path == "/health":
            self._answer(308 if state.health_redirect else 200, b"ok", shown)
        elif path == "/missing":
            self._answer(404, b"no such path", shown)
        elif path == "/ready":
            self._answer(503 if state.ready_fail else 200, b"ready?", shown)
        else:
            if state.latency_ms:
                time.sleep(state.latency_ms / 1000)
            if state.error_rate and rng.random() < state.error_rate:
                state.errors += 1
                self._answer(500, b"injected", shown)
            else:
                self._answer(200, color.encode(), shown)

    def _answer(self, status: int, body: bytes, color: str | None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if color is not None:
            self.send_header(COLOR_HEADER, color)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routing: Routing


class LocalRouter:
    """Router protocol over the in-process server."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self.routing = server.routing
        host, port = server.server_address[:2]
        self.base = f"http://{host!s}:{port}"

    def url(self, path: str = "") -> str:
        return self.base + path

    def set_weight(self, server: str, weight: int) -> None:
        with self.routing.lock:
            self.routing.weights[server] = weight
            self.routing.weight_calls.append((server, weight))

    def weights(self) -> Mapping[str, int]:
        return dict(self.routing.weights)

    def stats(self) -> tuple[ServerStats, ...]:
        return tuple(
            ServerStats(c, "UP" if s.running else "DOWN", self.routing.weights[c], s.requests, s.errors, None)
            for c, s in self.routing.colors.items()
        )


class LocalColors:
    """ColorStack protocol: deploying a color applies the demo app's FAULT_* variables to it."""

    def __init__(self, router: LocalRouter, *, deploy_error: str = "") -> None:
        self._router = router
        self.deploy_error = deploy_error
        self.deployed: list[tuple[str, str | None, dict[str, str]]] = []

    def color_url(self, color: str, path: str = "") -> str:
        return f"{self._router.base}/__color/{color}{path}"

    def color_service(self, color: str) -> str:
        return f"app-{color}"

    def deploy_color(self, color: str, *, image: str | None, env: Mapping[str, str], timeout: float) -> float:
        if self.deploy_error:
            raise StackError(self.deploy_error)
        self.deployed.append((color, image, dict(env)))
        self._router.routing.colors[color] = ColorState(
            error_rate=float(env.get("FAULT_ERROR_RATE", 0)),
            latency_ms=float(env.get("FAULT_LATENCY_MS", 0)),
            ready_fail=env.get("FAULT_READY_FAIL", "false") == "true",
            health_redirect=env.get("HEALTH_REDIRECT", "false") == "true",
        )
        return 0.01


@pytest.fixture
def local_router() -> Iterator[LocalRouter]:
    """A LocalRouter on an ephemeral loopback port, blue=100 and green=0."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.routing = Routing()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield LocalRouter(server)
    finally:
        server.shutdown()
        server.server_close()
