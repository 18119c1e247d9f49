"""The router against real Docker: HAProxy in front of two colors of a small stack, driven through its runtime API.

The stack is written into a temporary folder: ``web`` (a few lines of Python on the local base image
answering ``/version`` from ``APP_VERSION``) and ``sidecar`` (which ``web`` depends on, so a deploy with
``--no-deps`` must leave it alone). The plugin's generated override runs HAProxy as ``web`` and the
user's definition as ``web-blue`` and ``web-green``; the router image is built from the package's
Dockerfile when it is missing.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

from pytest_athalia._errors import RolloutError, RouterError
from pytest_athalia.config._environment import load_environment
from pytest_athalia.config._secrets import Redactor
from pytest_athalia.release import _faults as faults
from pytest_athalia.release._haproxy import HAProxyRouter
from pytest_athalia.release._router import COLOR_HEADER, COLORS, Color, wait_until_serving
from pytest_athalia.report._progress import Progress
from pytest_athalia.stack import _override as override
from pytest_athalia.stack._cleanup import make_project_name
from pytest_athalia.stack._stack import ComposeStack

pytestmark = pytest.mark.docker

BASE_IMAGE = "athalia/base:bookworm"
LABEL = "com.docker.compose.project"

APP = """\
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "0")
if VERSION == "crash":
    sys.exit("APP_VERSION=crash: exiting on purpose")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = json.dumps({"version": VERSION, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("", 8000), Handler).serve_forever()
"""

COMPOSE = f"""\
services:
  web:
    image: {BASE_IMAGE}
    init: true
    command: ["python3", "-u", "/srv/app.py"]
    volumes: ["./app.py:/srv/app.py:ro"]
    environment:
      APP_VERSION: ${{APP_VERSION:-0}}
    ports: ["127.0.0.1::8000"]
    depends_on: [sidecar]
    healthcheck:
      test: ["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8000/health"]
      interval: 1s
      timeout: 3s
      retries: 5
      start_period: 20s
  sidecar:
    image: {BASE_IMAGE}
    init: true
    command: ["sleep", "infinity"]
"""

ENVIRONMENT = """\
description: router integration tests
provider: compose
stack:
  compose_files: [docker-compose.yml]
  service: web
  port: 8000
  health_path: /health
  build: false
  env:
    APP_VERSION: "1.0.0"
    BASE_IMAGE: athalia/base:bookworm
rollout:
  enabled: true
slo:
  startup:
    max_seconds: 90
"""


def _docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def _labelled(project: str) -> list[str]:
    found = []
    listings = (("container", "ps", "--all", "{{.Names}}"), ("network", "network", "ls", "{{.Name}}"))
    for kind, *command, row in (*listings, ("volume", "volume", "ls", "{{.Name}}")):
        out = _docker(*command, "--filter", f"label={LABEL}={project}", "--format", row).stdout
        found += [f"{kind} {name}" for name in out.split()]
    return found


@dataclass
class Rig:
    stack: ComposeStack
    router: HAProxyRouter
    progress: list[str]


def _make_stack(tmp: Path, progress: list[str]) -> ComposeStack:
    (tmp / "app.py").write_text(APP)
    (tmp / "docker-compose.yml").write_text(COMPOSE)
    name = f"router{secrets.token_hex(3)}"
    (tmp / f"{name}.yml").write_text(ENVIRONMENT)
    environment = load_environment(str(tmp / f"{name}.yml"), None)
    return ComposeStack(
        environment,
        project=make_project_name(name, "main", os.getpid()),
        redactor=Redactor(),
        progress=Progress(progress.append),
        files_root=tmp / "generated",
    )


def _started(stack: ComposeStack) -> None:
    report = stack.start()
    if not report.started:
        logs = stack.failure_logs(30)
        stack.stop()
        pytest.fail(f"the router test stack did not start: {report.error}\n{logs}", pytrace=False)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    progress: list[str] = []
    stack = _make_stack(tmp_path_factory.mktemp("router"), progress)
    try:
        _started(stack)
        yield Rig(stack, HAProxyRouter.for_stack(stack), progress)
    finally:
        stack.stop()


@pytest.fixture
def reset(rig: Rig) -> Rig:
    """Blue live at 100, green idle at 0, as the rollout leaves the router between tests."""
    rig.router.set_weight("blue", 100)
    rig.router.set_weight("green", 0)
    return rig


def _get(url: str) -> tuple[int, str | None, dict[str, str | None]]:
    host, _, rest = url.removeprefix("http://").partition("/")
    name, _, port = host.rpartition(":")
    conn = http.client.HTTPConnection(name, int(port), timeout=10)
    try:
        conn.request("GET", "/" + rest)
        response = conn.getresponse()
        raw = response.read()
        body = json.loads(raw) if response.status == 200 else {"version": None, "body": raw.decode(errors="replace")}
        return response.status, response.getheader(COLOR_HEADER), body
    finally:
        conn.close()


def _ensure_green(rig: Rig, version: str) -> float:
    """Deploy green with APP_VERSION=version unless it already runs it; seconds the deploy took (0 if none)."""
    try:
        if _get(rig.stack.color_url("green", "/version"))[2]["version"] == version:
            return 0.0
    except Exception:  # not deployed yet: no container, no published port
        pass
    seconds = rig.stack.deploy_color("green", image=None, env={"APP_VERSION": version}, timeout=60)
    wait_until_serving(rig.router, "green", timeout=15)
    return seconds


def _switch(router: HAProxyRouter, to: Color, *, batched: bool = False) -> None:
    other = COLORS[1] if to == COLORS[0] else COLORS[0]
    if batched:  # one runtime-API line `cmd1; cmd2`, as the rollout sends it
        router.set_weights([(to, 100), (other, 0)])
        return
    router.set_weight(to, 100)  # raise first: both at 0 would answer 503
    router.set_weight(other, 0)


# -- the router image -------------------------------------------------------------------------------------------


def test_router_image_builds_from_the_packaged_dockerfile_and_accepts_the_generated_config() -> None:
    """The shipped Dockerfile builds HAProxy 2.6 with the Prometheus exporter, non-root, and the config checks."""
    image = f"athalia-test/router:{secrets.token_hex(4)}"
    with resources.as_file(override.router_dockerfile_dir()) as context:
        build = subprocess.run(
            override.router_build_command(image, str(context), {"BASE_IMAGE": BASE_IMAGE}),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    try:
        assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
        version = _docker("run", "--rm", image, "-vv")
        assert "HAProxy version 2.6" in version.stdout
        assert "Prometheus exporter" in version.stdout
        assert _docker("run", "--rm", "--entrypoint", "id", image, "-u").stdout.strip() != "0"
        # With the fault script it loads (release/_faults.py), at a path the non-root user can write.
        lua = faults.lua_script(override.BACKEND)
        config = override.haproxy_config("web", 8000, "/health").replace(faults.LUA_PATH, "/tmp/faults.lua")
        check = subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "-i",
                "--entrypoint",
                "bash",
                image,
                "-c",
                f"head -c {len(lua.encode())} >/tmp/faults.lua; cat >/tmp/h.cfg; haproxy -c -f /tmp/h.cfg",
            ],
            input=lua + config,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert "Configuration file is valid" in check.stdout + check.stderr
    finally:
        _docker("rmi", "--force", image)


# -- one stack for the tests below --------------------------------------------------------------------------------


def test_traffic_flows_to_blue_through_the_router(reset: Rig) -> None:
    """After start the router answers from blue (the user's definition), and its stats count the requests."""
    before = {s.server: s for s in reset.router.stats()}
    answers = [_get(reset.router.url("/version")) for _ in range(10)]
    assert {(status, color, body["version"]) for status, color, body in answers} == {(200, "blue", "1.0.0")}
    after = {s.server: s for s in reset.router.stats()}
    assert after["blue"].requests - before["blue"].requests >= 10
    assert after["blue"].status == "UP"
    assert after["blue"].responses_5xx == 0
    assert dict(reset.router.weights()) == {"blue": 100, "green": 0}


def test_switch_to_a_deployed_green_serves_every_request_from_green(reset: Rig) -> None:
    """deploy_color recreates green alone with the new env; after the switch every response is green's 9.9.9."""
    sidecar_before = {s.service: s.container for s in reset.stack.services()}["sidecar"]
    seconds = _ensure_green(reset, "9.9.9")
    assert seconds >= 0
    assert _get(reset.stack.color_url("green", "/version"))[2]["version"] == "9.9.9"
    assert _get(reset.stack.color_url("blue", "/version"))[2]["version"] == "1.0.0"  # bypasses the router
    assert {s.service: s.container for s in reset.stack.services()}["sidecar"] == sidecar_before
    _switch(reset.router, "green")
    answers = [_get(reset.router.url("/version")) for _ in range(30)]
    assert {(status, color, body["version"]) for status, color, body in answers} == {(200, "green", "9.9.9")}
    _switch(reset.router, "blue")
    answers = [_get(reset.router.url("/version")) for _ in range(10)]
    assert {(color, body["version"]) for _, color, body in answers} == {("blue", "1.0.0")}


def test_a_recreated_color_is_found_again_at_its_new_address(reset: Rig) -> None:
    """Green recreated at another address (its old one taken meanwhile) is resolved again and serves the new version."""
    _ensure_green(reset, "9.9.9")

    def address(container: str) -> str:
        return _docker(
            "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container
        ).stdout

    def green() -> str:
        return {s.service: s.container for s in reset.stack.services()}["web-green"]

    network = f"{reset.stack.project}_default"
    before = address(green())
    _docker("rm", "--force", green())
    # Docker hands a freed address to the next container: take green's old one, so its new container gets another.
    squatter = _docker(
        "run",
        "--detach",
        "--rm",
        "--network",
        network,
        "--label",
        f"{LABEL}={reset.stack.project}",
        "--label",
        "com.docker.compose.service=squatter",
        BASE_IMAGE,
        "sleep",
        "120",
    ).stdout.strip()
    try:
        assert address(squatter) == before
        reset.stack.deploy_color("green", image=None, env={"APP_VERSION": "7.7.7"}, timeout=60)
        assert address(green()) not in ("", before)
        wait_until_serving(reset.router, "green", timeout=15)
        _switch(reset.router, "green")
        answers = [_get(reset.router.url("/version")) for _ in range(20)]
    finally:
        _switch(reset.router, "blue")
        _docker("rm", "--force", squatter)
    assert {(status, color, body["version"]) for status, color, body in answers} == {(200, "green", "7.7.7")}


def test_keep_alive_clients_lose_no_request_while_the_weights_switch(reset: Rig) -> None:
    """Four keep-alive clients through 20 switches (one or two API round trips): only 200s, none to the old color."""
    _ensure_green(reset, "9.9.9")
    expected = {"blue": "1.0.0", "green": "9.9.9"}
    stop = threading.Event()
    results: list[tuple[int, int, str | None, str]] = []  # (start ns, status, color, version)
    errors: list[str] = []
    lock = threading.Lock()
    host, _, port = reset.router.url().removeprefix("http://").rpartition(":")

    def client() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        deadline = time.monotonic() + 30  # bounded even if the main thread never sets stop
        while not stop.is_set() and time.monotonic() < deadline:
            start = time.monotonic_ns()
            try:
                conn.request("GET", "/version")
                response = conn.getresponse()
                body = json.loads(response.read())
                with lock:
                    results.append((start, response.status, response.getheader(COLOR_HEADER), body["version"]))
            except Exception as exc:  # any failure is a lost request
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    live: list[tuple[int, int, Color]] = []  # (first call, both calls returned, new color), in ns
    try:
        for cycle in range(20):
            time.sleep(0.05)
            begin, color = time.monotonic_ns(), COLORS[(cycle + 1) % 2]
            _switch(reset.router, color, batched=cycle % 2 == 0)
            live.append((begin, time.monotonic_ns(), color))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    assert errors == []
    assert len(results) >= 100, f"only {len(results)} requests went through"
    assert {status for _, status, _, _ in results} == {200}
    assert all(color is not None and expected[color] == version for _, _, color, version in results)
    assert {color for _, _, color, _ in results} == {"blue", "green"}
    # A request that started after a switch returned, and before the next one began, went to the new color.
    stray = [
        (index, start - done, color)
        for index, (_, done, new) in enumerate(live)
        for start, _, color, _ in results
        if done < start < (live[index + 1][0] if index + 1 < len(live) else start + 1) and color != new
    ]
    assert stray == [], "requests routed to the old color after the switch returned (switch, ns after, color)"


def test_set_weights_with_an_unknown_server_changes_nothing_on_the_real_router(reset: Rig) -> None:
    """HAProxy would drain blue after refusing `purple`; the driver refuses first, and blue stays live."""
    with pytest.raises(RouterError, match="has no server purple"):
        reset.router.set_weights([("purple", 100), ("blue", 0)])
    assert dict(reset.router.weights()) == {"blue": 100, "green": 0}
    reset.router.set_weights([("green", 7), ("blue", 9)])
    assert dict(reset.router.weights()) == {"blue": 9, "green": 7}


def test_a_weight_change_takes_well_under_50_ms(reset: Rig, record_property: Callable[[str, object], None]) -> None:
    """One `set server ... weight` round trip through the runtime API is fast (the issue measured 0.6 ms)."""
    latencies = []
    for index in range(40):
        reset.router.set_weight("green", index % 2)
        assert reset.router.last_command_seconds is not None
        latencies.append(reset.router.last_command_seconds * 1000)
    p50 = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    record_property("router_weight_change_p50_ms", f"{p50:.3f}")
    record_property("router_weight_change_p95_ms", f"{p95:.3f}")
    print(f"weight change: p50 {p50:.3f} ms, p95 {p95:.3f} ms over {len(latencies)} changes")
    # The median: two scheduler stalls on a loaded machine decide a p95 of 40 (benchmarks/ has the tail).
    assert p50 < 50, f"weight change p50 {p50:.1f} ms, threshold 50 ms, {len(latencies)} samples"


def test_every_published_port_of_the_router_and_green_binds_to_loopback(reset: Rig) -> None:
    """`docker port` shows 127.0.0.1 for the router's client, API and monitor ports and for each color's port."""
    _ensure_green(reset, "9.9.9")
    containers = {s.service: s.container for s in reset.stack.services()}
    for service, count in (("web", 3), ("web-blue", 1), ("web-green", 1)):
        lines = _docker("port", containers[service]).stdout.split("\n")
        bindings = [line.split(" -> ")[1] for line in lines if " -> " in line]
        assert len(bindings) == count, lines
        assert all(binding.startswith("127.0.0.1:") for binding in bindings), bindings


def test_router_health_and_prometheus_pages_answer_on_loopback(reset: Rig) -> None:
    """The monitor port answers /healthz (200 while a color is UP) and the Prometheus exporter's /metrics."""
    endpoint = reset.stack.endpoint("web", override.MONITOR_PORT)
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() is not None
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        text = response.read().decode()
    finally:
        conn.close()
    assert response.status == 200
    assert 'haproxy_server_weight{proxy="colors",server="blue"}' in text


def test_a_deploy_that_does_not_become_healthy_is_a_rollout_error(reset: Rig) -> None:
    """A candidate that exits at start fails deploy_color with compose's output, and blue keeps serving."""
    with pytest.raises(RolloutError) as info:
        reset.stack.deploy_color("green", image=None, env={"APP_VERSION": "crash"}, timeout=8)
    message = str(info.value)
    assert "deploying green (service web-green)" in message
    assert "compose said:" in message
    status, color, body = _get(reset.router.url("/version"))
    assert (status, color, body["version"]) == (200, "blue", "1.0.0")


# -- a stack of its own ------------------------------------------------------------------------------------------


def test_stopping_the_stack_leaves_no_container_network_volume_or_generated_file(tmp_path: Path) -> None:
    """After stop, nothing labelled with the project remains, green included, and the generated folder is gone."""
    stack = _make_stack(tmp_path, [])
    try:
        _started(stack)
        stack.deploy_color("green", image=None, env={}, timeout=60)
        generated = list((tmp_path / "generated").iterdir())
        assert len(generated) == 1
        assert oct(generated[0].stat().st_mode & 0o777) == "0o700"
        files = {p.name: oct(p.stat().st_mode & 0o777) for p in generated[0].iterdir()}
        assert files == dict.fromkeys(["athalia.yml", "owner.json", "rollout.yml"], "0o600")
        assert any("web-green" in item for item in _labelled(stack.project))
    finally:
        stack.stop()
    assert _labelled(stack.project) == []
    assert list((tmp_path / "generated").iterdir()) == []
