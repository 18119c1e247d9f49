"""The canary's two metric sources on one real run: HAProxy's stats and a real Prometheus scraping the router.

A small stack (``web``: a few lines of Python on the local base image; ``/status/<code>`` answers
that code) with ``rollout.canary.metrics: prometheus``: the generated override adds the router and
``athalia-prometheus`` (Debian's Prometheus, built from the package's Dockerfile when its image is
missing). Known traffic goes through the router to blue and green, some of it 5xx (from the app
itself and injected by the router's fault script); both sources must count the same per color, and
give the judge the same verdict (green, whose ``/flaky`` fails one request in four, against blue).
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import subprocess
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

import pytest

from pytest_athalia.canary._haproxy_source import HAProxyStatsSource
from pytest_athalia.canary._judge import Judgement, judge
from pytest_athalia.canary._metrics import ColorWindow, Mark, MetricSource
from pytest_athalia.canary._prometheus import PrometheusSource
from pytest_athalia.canary._sources import metric_source
from pytest_athalia.config._canary import JudgeSpec
from pytest_athalia.config._environment import load_environment
from pytest_athalia.config._secrets import Redactor
from pytest_athalia.release._faults import Fault
from pytest_athalia.release._haproxy import HAProxyRouter
from pytest_athalia.release._router import COLOR_HEADER, wait_until_serving
from pytest_athalia.report._progress import Progress
from pytest_athalia.stack._cleanup import make_project_name
from pytest_athalia.stack._override import PROMETHEUS_PORT, PROMETHEUS_SERVICE
from pytest_athalia.stack._stack import ComposeStack

pytestmark = pytest.mark.docker

BASE_IMAGE = "athalia/base:bookworm"
PROJECT_LABEL = "com.docker.compose.project"

APP = """\
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "0")
FLAKY = int(os.environ.get("FLAKY_EVERY", "0"))  # /flaky answers 500 to every FLAKY-th request (0: never)
COUNT = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        status = int(self.path.split("/")[2]) if self.path.startswith("/status/") else 200
        if self.path == "/flaky" and FLAKY:
            COUNT[0] += 1
            status = 500 if COUNT[0] % FLAKY == 0 else 200
        body = json.dumps({"version": VERSION, "path": self.path}).encode()
        self.send_response(status)
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
      FLAKY_EVERY: ${{FLAKY_EVERY:-0}}
    ports: ["127.0.0.1::8000"]
    healthcheck:
      test: ["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8000/health"]
      interval: 1s
      timeout: 3s
      retries: 5
      start_period: 20s
"""

ENVIRONMENT = """\
description: canary metric sources integration tests
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
  canary:
    metrics: prometheus
slo:
  startup:
    max_seconds: 240
"""


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=False).stdout


def _labelled(project: str) -> list[str]:
    found = []
    for kind, command, row in (
        ("container", ("ps", "--all"), "{{.Names}}"),
        ("network", ("network", "ls"), "{{.Name}}"),
        ("volume", ("volume", "ls"), "{{.Name}}"),
    ):
        out = _docker(*command, "--filter", f"label={PROJECT_LABEL}={project}", "--format", row)
        found += [f"{kind} {name}" for name in out.split()]
    return found


@dataclass
class Rig:
    stack: ComposeStack
    router: HAProxyRouter
    haproxy: HAProxyStatsSource
    prometheus: PrometheusSource
    progress: list[str]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("canary-sources")
    (tmp / "app.py").write_text(APP)
    (tmp / "docker-compose.yml").write_text(COMPOSE)
    name = f"canary{secrets.token_hex(3)}"
    (tmp / f"{name}.yml").write_text(ENVIRONMENT)
    environment = load_environment(str(tmp / f"{name}.yml"), None)
    progress: list[str] = []
    stack = ComposeStack(
        environment,
        project=make_project_name(name, "main", os.getpid()),
        redactor=Redactor(),
        progress=Progress(progress.append),
        files_root=tmp / "generated",
    )
    try:
        report = stack.start()
        if not report.started:
            pytest.fail(f"the canary test stack did not start: {report.error}\n{stack.failure_logs(30)}", pytrace=False)
        router = HAProxyRouter.for_stack(stack)
        # Green, the canary: 2.0.0, whose /flaky fails one request in four (blue's never fails).
        stack.deploy_color("green", image=None, env={"APP_VERSION": "2.0.0", "FLAKY_EVERY": "4"}, timeout=60)
        wait_until_serving(router, "green", timeout=15)
        source = metric_source(environment, stack, router)
        assert isinstance(source, PrometheusSource)  # and it has scraped the router once
        yield Rig(stack, router, HAProxyStatsSource(router), source, progress)
    finally:
        stack.stop()
        leftovers = _labelled(stack.project)
        assert not leftovers, f"the canary test stack left {leftovers} behind"


def _send(url: str, paths: list[str]) -> Counter[tuple[str, bool]]:
    """GET each path through the router on one keep-alive connection; (color, 5xx) of each answer."""
    host, _, port = url.removeprefix("http://").partition("/")[0].rpartition(":")
    seen: Counter[tuple[str, bool]] = Counter()
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        for path in paths:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            seen[str(response.getheader(COLOR_HEADER)), response.status >= 500] += 1
    finally:
        conn.close()
    return seen


def _figures(windows: Mapping[str, ColorWindow]) -> dict[str, tuple[int, int]]:
    return {color: (window.requests, window.errors) for color, window in sorted(windows.items())}


def _marks(rig: Rig) -> tuple[Mark, Mark]:
    """Both sources' marks of one quiet instant: the router's now, Prometheus' first scrape after it."""
    haproxy = rig.haproxy.mark()
    return haproxy, rig.prometheus.wait_until_scraped(after_ns=haproxy.at_ns, timeout=10)


def test_prometheus_runs_beside_the_router_on_loopback_with_the_runs_labels(rig: Rig) -> None:
    """athalia-prometheus is healthy, published on 127.0.0.1 only, and labelled as the run's."""
    print("\n".join(line for line in rig.progress if "image" in line or "started" in line))
    (state,) = [s for s in rig.stack.services() if s.service == PROMETHEUS_SERVICE]
    assert state.health == "healthy", state
    endpoint = rig.stack.endpoint(PROMETHEUS_SERVICE, PROMETHEUS_PORT)
    assert endpoint.host == "127.0.0.1"
    ids = _docker(
        "ps", "--filter", f"label={PROJECT_LABEL}={rig.stack.project}",
        "--filter", f"label=com.docker.compose.service={PROMETHEUS_SERVICE}", "--format", "{{.ID}}",
    ).split()  # fmt: skip
    (container,) = ids
    labels = json.loads(_docker("inspect", "--format", "{{json .Config.Labels}}", container))
    assert labels["dev.athalia.env"] == rig.stack.environment.name.lower()
    assert labels["dev.athalia.role"] == "metrics"
    assert labels["dev.athalia.owner.pid"] == str(os.getpid())
    ports = _docker("port", container, str(PROMETHEUS_PORT)).split()
    assert ports, "athalia-prometheus publishes nothing"
    assert all(port.startswith("127.0.0.1:") for port in ports), ports


def _measure(rig: Rig, paths: list[str]) -> tuple[dict[str, tuple[int, int]], ...]:
    """(client, haproxy, prometheus) figures per color of sending `paths` between two quiet marks."""
    haproxy_start, prometheus_start = _marks(rig)
    seen = _send(rig.router.url(), paths)
    haproxy_end, prometheus_end = _marks(rig)
    colors = sorted({color for color, _ in seen})
    client = {color: (seen[color, True] + seen[color, False], seen[color, True]) for color in colors}
    haproxy = _figures(rig.haproxy.window(haproxy_start, haproxy_end))
    prometheus = _figures(rig.prometheus.window(prometheus_start, prometheus_end))
    return client, haproxy, prometheus


def test_both_sources_count_the_same_requests_and_5xx_per_color(
    rig: Rig, record_property: pytest.RecordProperty
) -> None:
    """Known traffic at blue 3 : green 1, one in 20 answered 503 by the app: equal windows, equal to the client's."""
    rig.router.set_weights([("blue", 75), ("green", 25)])
    try:
        # 800 requests: 40 answered 503 by the app itself.
        client, haproxy, prometheus = _measure(rig, ["/status/503" if n % 20 == 0 else "/version" for n in range(800)])
    finally:
        rig.router.set_weights([("blue", 100), ("green", 0)])
    for name, figures in (("client", client), ("haproxy", haproxy), ("prometheus", prometheus)):
        record_property(f"canary_sources_{name}", json.dumps(figures))
    print(f"app 5xx: client={client} haproxy={haproxy} prometheus={prometheus}")
    assert haproxy == prometheus
    assert haproxy == client
    assert sum(errors for _, errors in haproxy.values()) == 40


def test_both_sources_agree_on_router_injected_5xx(rig: Rig, record_property: pytest.RecordProperty) -> None:
    """With the router's fault script answering 20 % of green's requests 500, both sources count the same."""
    rig.router.set_weights([("blue", 75), ("green", 25)])
    rig.router.inject("green", Fault(error_ratio=0.2))
    try:
        client, haproxy, prometheus = _measure(rig, ["/version"] * 800)
    finally:
        rig.router.clear()
        rig.router.set_weights([("blue", 100), ("green", 0)])
    for name, figures in (("client", client), ("haproxy", haproxy), ("prometheus", prometheus)):
        record_property(f"canary_sources_injected_{name}", json.dumps(figures))
    print(f"injected 5xx: client={client} haproxy={haproxy} prometheus={prometheus}")
    assert haproxy == prometheus
    assert {color: requests for color, (requests, _) in haproxy.items()} == {c: r for c, (r, _) in client.items()}
    # Known and documented (docs/canary.md): the fault script rewrites the status in an
    # http-response rule, after HAProxy counted the server's own answer, so neither source sees
    # these 5xx. A canary drill of a bad release needs errors from the app (rollout.candidate.env).
    assert client["green"][1] > 0
    assert haproxy["green"][1] == 0, "the router now counts injected 5xx: update docs/canary.md"


def test_a_prometheus_mark_under_load_lags_the_router_by_at_most_one_scrape(rig: Rig) -> None:
    """Taken while traffic flows, a Prometheus mark is at most one scrape interval (1 s) plus its duration old."""
    source: MetricSource = rig.prometheus
    lags = []
    for _ in range(5):
        _send(rig.router.url(), ["/version"] * 50)
        before = time.monotonic_ns()
        mark = source.mark()
        lags.append((before - mark.at_ns) / 1e9)
        time.sleep(0.3)
    print(f"prometheus mark lag under load: {', '.join(f'{lag:.3f}' for lag in lags)} s")
    assert max(lags) < 1.5, lags
    assert min(lags) >= -0.05, lags  # a scrape is never in the future (same clock)


def _send_timed(url: str, paths: list[str]) -> dict[str, list[float]]:
    """GET each path through the router on one keep-alive connection; each answer's latency (ms) by color."""
    host, _, port = url.removeprefix("http://").partition("/")[0].rpartition(":")
    found: dict[str, list[float]] = {}
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        for path in paths:
            start = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            found.setdefault(str(response.getheader(COLOR_HEADER)), []).append((time.perf_counter() - start) * 1e3)
    finally:
        conn.close()
    return found


def _verdicts(rig: Rig, paths: list[str]) -> tuple[Judgement, Judgement]:
    """The judge of green (canary) against blue (baseline) on one window, counted by each source.

    Latencies are the client's, as in a canary (the probe's): the sources differ only in their counts.
    """
    rig.router.set_weights([("blue", 50), ("green", 50)])
    try:
        # Warm both colors up first: HAProxy's round robin catches a server up from weight 0 in a burst.
        _send_timed(rig.router.url(), ["/version"] * 200)
        haproxy_start, prometheus_start = _marks(rig)
        latencies = _send_timed(rig.router.url(), paths)
        haproxy_end, prometheus_end = _marks(rig)
    finally:
        rig.router.set_weights([("blue", 100), ("green", 0)])
    spec = JudgeSpec()
    judged = []
    for windows in (
        rig.haproxy.window(haproxy_start, haproxy_end),
        rig.prometheus.window(prometheus_start, prometheus_end),
    ):
        blue, green = (replace(windows[c], latencies_ms=tuple(latencies.get(c, ()))) for c in ("blue", "green"))
        judged.append(judge(blue, green, spec))
    return judged[0], judged[1]


def _summary(judgement: Judgement) -> list[tuple[str, str, float | None, float | None, int, int]]:
    return [
        (m.metric, m.outcome.value, m.statistic, m.p_value, m.canary_samples, m.baseline_samples)
        for m in judgement.metrics
    ]


@pytest.mark.parametrize(("path", "expected"), [("/version", "pass"), ("/flaky", "fail")])
def test_both_sources_give_the_judge_the_same_verdict(
    rig: Rig, path: str, expected: str, record_property: pytest.RecordProperty
) -> None:
    """Green against blue at 50 %: the same verdict, metric by metric, whichever source counted the requests.

    Errors decide: none on /version (error_rate passes), one in four of green's /flaky (it fails, and so does
    the whole judgement). Latency is one sequential client's here, so only its agreement is asserted.
    """
    haproxy, prometheus = _verdicts(rig, [path] * 600)
    for name, judgement in (("haproxy", haproxy), ("prometheus", prometheus)):
        record_property(f"canary_verdict_{name}", json.dumps(_summary(judgement)))
        print(f"{name}: {judgement.outcome.value}: {_summary(judgement)}")
    (error_rate,) = [m for m in haproxy.metrics if m.metric == "error_rate"]
    assert error_rate.outcome.value == expected, _summary(haproxy)
    if expected == "fail":
        assert haproxy.outcome.value == "fail"
    assert prometheus.outcome == haproxy.outcome
    assert _summary(prometheus) == _summary(haproxy)  # the same statistics on the same counts
