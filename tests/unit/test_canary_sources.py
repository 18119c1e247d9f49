"""The canary's metric sources: HAProxy's stats over a Router, Prometheus over its HTTP API, and which one runs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pytest_athalia._errors import RouterError
from pytest_athalia.canary._haproxy_source import HAProxyStatsSource
from pytest_athalia.canary._metrics import ColorWindow, Mark, MetricSource
from pytest_athalia.canary._prometheus import (
    MARK_QUERY,
    REQUESTS_METRIC,
    RESPONSES_METRIC,
    PrometheusSource,
    parse_mark,
)
from pytest_athalia.canary._sources import metric_source
from pytest_athalia.config._environment import Environment, EnvironmentSpec
from pytest_athalia.release._router import FakeRouter
from pytest_athalia.testing import FakeStack


class Clock:
    """A monotonic clock in ns that tests move by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000_000

    def __call__(self) -> int:
        return self.now


# -- HAProxy's stats ---------------------------------------------------------------------------------------------


def test_haproxy_marks_are_snapshots_and_windows_are_deltas_per_color() -> None:
    """Two marks of cumulative counters give each color's requests and 5xx between them, and the seconds."""
    router, clock = FakeRouter(), Clock()
    source = HAProxyStatsSource(router, clock_ns=clock)
    router.set_stats("blue", requests=100, responses_5xx=1)
    router.set_stats("green", requests=5, responses_5xx=0)
    start = source.mark()
    router.set_stats("blue", requests=190, responses_5xx=2)
    router.set_stats("green", requests=15, responses_5xx=3)
    clock.now += 2_500_000_000
    end = source.mark()
    assert isinstance(source, MetricSource)
    assert source.name == "haproxy"
    assert start.counters == {"blue": (100, 1), "green": (5, 0)}
    assert source.window(start, end) == {
        "blue": ColorWindow("blue", requests=90, errors=1, seconds=2.5),
        "green": ColorWindow("green", requests=10, errors=3, seconds=2.5),
    }


def test_haproxy_a_router_restart_between_marks_is_an_error_never_a_window_of_zeros() -> None:
    """Counters that went backwards (the router restarted) fail closed, naming the color, both values and the fix."""
    router = FakeRouter()
    source = HAProxyStatsSource(router)
    router.set_stats("green", requests=500, responses_5xx=20)
    start = source.mark()
    router.set_stats("green", requests=12, responses_5xx=0)
    with pytest.raises(RouterError) as info:
        source.window(start, source.mark())
    message = str(info.value)
    assert "green's counters in haproxy went backwards" in message
    assert "requests 500 -> 12, 5xx 20 -> 0" in message
    assert "the router restarted" in message
    assert "Take a new start mark" in message


def test_haproxy_marks_out_of_order_or_missing_a_color_are_errors() -> None:
    """A window needs the end after the start, and every color of the start in the end."""
    source = HAProxyStatsSource(FakeRouter())
    early = Mark(1, {"blue": (0, 0), "green": (0, 0)})
    late = Mark(2, {"blue": (1, 0)})
    with pytest.raises(RouterError, match="end mark after the start mark"):
        source.window(Mark(2, early.counters), Mark(1, early.counters))
    with pytest.raises(RouterError, match="has no counters for green"):
        source.window(early, late)


def test_haproxy_an_unreachable_router_is_a_router_error() -> None:
    """The router's own error passes through: the canary must not count what it cannot read."""
    router = FakeRouter()
    router.fail("the runtime API does not answer")
    with pytest.raises(RouterError, match="the runtime API does not answer"):
        HAProxyStatsSource(router).mark()


# -- Prometheus: the answer to MARK_QUERY -----------------------------------------------------------------------


def series(server: str, kind: str, samples: Mapping[float, float]) -> dict[str, Any]:
    labels = {"__name__": REQUESTS_METRIC} if kind == "requests" else {"__name__": RESPONSES_METRIC, "code": "5xx"}
    return {
        "metric": {**labels, "instance": "web:8405", "job": "athalia-router", "proxy": "colors", "server": server},
        "values": [[at, str(value)] for at, value in samples.items()],
    }


def matrix(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "matrix", "result": list(entries)}}


def test_the_mark_query_reads_both_counters_of_the_colors_backend_in_one_range_selector() -> None:
    """The PromQL names HAProxy 2.6's exporter metrics, the rollout's backend and the 5xx class."""
    assert MARK_QUERY == (
        '{__name__=~"haproxy_server_sessions_total|haproxy_server_http_responses_total",'
        'proxy="colors",code=~"|5xx"}[5s]'
    )


def test_prometheus_mark_is_the_newest_scrape_every_series_has_at_that_scrapes_time() -> None:
    """Counters come from one scrape; at_ns is the scrape's wall time moved onto the monotonic clock."""
    payload = matrix(
        series("blue", "requests", {100.0: 10, 101.0: 20, 102.0: 30}),
        series("blue", "errors", {100.0: 0, 101.0: 1, 102.0: 2}),
        series("green", "requests", {100.0: 0, 101.0: 4}),  # 102 not yet in this series
        series("green", "errors", {100.0: 0, 101.0: 1}),
    )
    mark = parse_mark(payload, wall_ns=103_000_000_000, clock_ns=50_000_000_000)
    assert mark.counters == {"blue": (20, 1), "green": (4, 1)}
    assert mark.at_ns == 48_000_000_000  # two seconds before the query


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (matrix(), "has not scraped the router yet"),
        ({"status": "success", "data": {"resultType": "vector", "result": []}}, "expected a matrix"),
        (matrix(series("blue", "requests", {1.0: 1})), "lacks the series blue errors"),
        (
            matrix(series("blue", "requests", {1.0: 1}), series("blue", "errors", {2.0: 0})),
            "no scrape in Prometheus' last 5 s has every counter",
        ),
        (
            matrix(series("blue", "requests", {1.0: 1}), series("blue", "requests", {1.0: 1})),
            "more than one requests series for server blue",
        ),
        (
            matrix(series("blue", "requests", {1.0: 1}), series("blue", "errors", {1.0: float("nan")})),
            "expected a whole count from Prometheus for server blue, found 'nan'",
        ),
    ],
    ids=["no-data", "not-a-matrix", "series-missing", "no-common-scrape", "two-jobs", "nan"],
)
def test_prometheus_answers_the_canary_cannot_count_on_are_router_errors(
    payload: dict[str, Any], expected: str
) -> None:
    """No data, a missing or doubled series, or a non-count fails closed with the reason."""
    with pytest.raises(RouterError, match=expected.replace("(", r"\(")):
        parse_mark(payload, wall_ns=0, clock_ns=0)


# -- Prometheus over HTTP: a fake API in this process -----------------------------------------------------------


class FakePrometheus:
    """Answers /api/v1/query with `answer` (a JSON body, or (status, text)) and /api/v1/targets with `targets`."""

    def __init__(self) -> None:
        self.answer: Any = matrix()
        self.targets: list[dict[str, Any]] = [
            {"scrapeUrl": "http://web:8405/metrics?scope=server", "health": "down", "lastError": "connection refused"}
        ]
        self.queries: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/api/v1/query":
                    fake.queries.append(parse_qs(url.query)["query"][0])
                    answer = fake.answer() if callable(fake.answer) else fake.answer
                else:
                    answer = {"status": "success", "data": {"activeTargets": fake.targets}}
                status, body = answer if isinstance(answer, tuple) else (200, json.dumps(answer))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()
    yield fake
    fake.close()


def scrape(at: float, blue: tuple[int, int], green: tuple[int, int]) -> dict[str, Any]:
    return matrix(
        series("blue", "requests", {at: blue[0]}),
        series("blue", "errors", {at: blue[1]}),
        series("green", "requests", {at: green[0]}),
        series("green", "errors", {at: green[1]}),
    )


def test_prometheus_source_marks_and_windows_over_http(prometheus: FakePrometheus) -> None:
    """The source sends MARK_QUERY and turns two answers into per-color windows between the two scrapes."""
    source = PrometheusSource(prometheus.url, wall_ns=lambda: 200_000_000_000, clock_ns=lambda: 200_000_000_000)
    prometheus.answer = scrape(100.0, (10, 0), (0, 0))
    start = source.mark()
    prometheus.answer = scrape(104.0, (110, 1), (20, 5))
    end = source.mark()
    assert isinstance(source, MetricSource)
    assert source.name == "prometheus"
    assert prometheus.queries == [MARK_QUERY, MARK_QUERY]
    assert source.window(start, end) == {
        "blue": ColorWindow("blue", requests=100, errors=1, seconds=4.0),
        "green": ColorWindow("green", requests=20, errors=5, seconds=4.0),
    }


def test_prometheus_without_data_says_what_its_targets_say(prometheus: FakePrometheus) -> None:
    """No series yet: the error names the scrape target, its health and its last error."""
    with pytest.raises(RouterError) as info:
        PrometheusSource(prometheus.url).mark()
    message = str(info.value)
    assert "has not scraped the router yet" in message
    assert "http://web:8405/metrics?scope=server is down (connection refused)" in message


def test_prometheus_refusing_a_query_is_a_router_error_with_its_reason(prometheus: FakePrometheus) -> None:
    """Prometheus' own error type and message reach the canary's error."""
    prometheus.answer = (400, json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"}))
    with pytest.raises(RouterError, match=r"refused the canary's query .* HTTP 400, bad_data: parse error"):
        PrometheusSource(prometheus.url).mark()


def test_an_address_that_is_not_prometheus_is_a_router_error(prometheus: FakePrometheus) -> None:
    """A body that is not JSON names the address and what it answered."""
    prometheus.answer = (200, "<html>hello</html>")
    with pytest.raises(RouterError, match=r"expected a JSON object from Prometheus .* found HTTP 200 '<html>"):
        PrometheusSource(prometheus.url).mark()


def test_prometheus_down_is_a_router_error_naming_the_address_and_where_to_look() -> None:
    """Nothing listening: the error names the address and the hint (the stack's log command)."""
    source = PrometheusSource(
        "http://127.0.0.1:1", timeout=1, hint="check `docker compose -p x logs athalia-prometheus`"
    )
    with pytest.raises(RouterError) as info:
        source.mark()
    assert "cannot reach Prometheus at http://127.0.0.1:1" in str(info.value)
    assert "check `docker compose -p x logs athalia-prometheus`" in str(info.value)


def test_wait_until_scraped_waits_for_a_scrape_after_the_instant(prometheus: FakePrometheus) -> None:
    """No data, then an old scrape, then a newer one: the first mark after the instant is returned."""
    answers = iter([matrix(), scrape(99.0, (1, 0), (0, 0)), scrape(101.0, (2, 0), (0, 0))])
    last: list[dict[str, Any]] = []

    def answer() -> dict[str, Any]:
        last[:] = [next(answers, last[0] if last else matrix())]
        return last[0]

    prometheus.answer = answer
    source = PrometheusSource(prometheus.url, wall_ns=lambda: 100_000_000_000, clock_ns=lambda: 100_000_000_000)
    mark = source.wait_until_scraped(after_ns=100_000_000_000, timeout=5, interval=0.01)
    assert mark.at_ns == 101_000_000_000
    assert mark.counters == {"blue": (2, 0), "green": (0, 0)}


def test_wait_until_scraped_gives_up_with_the_last_reason(prometheus: FakePrometheus) -> None:
    """Never scraped within the timeout: the error says so and why."""
    with pytest.raises(RouterError, match=r"has no scrape of the router within 0\.1 s .* Last: .*connection refused"):
        PrometheusSource(prometheus.url).wait_until_scraped(timeout=0.1, interval=0.02)


# -- which source ------------------------------------------------------------------------------------------------


def environment(tmp_path: Path, metrics: str) -> Environment:
    spec = EnvironmentSpec.model_validate(
        {
            "stack": {"compose_files": ["docker-compose.yml"], "service": "web", "port": 8000},
            "rollout": {"enabled": True, "canary": {"metrics": metrics}},
        }
    )
    return Environment("dev", tmp_path / "dev.yml", spec)


def test_metric_source_follows_rollout_canary_metrics(tmp_path: Path, prometheus: FakePrometheus) -> None:
    """haproxy reads the router; prometheus reads the stack's athalia-prometheus, once it has scraped the router."""
    router = FakeRouter()
    haproxy_env = environment(tmp_path, "haproxy")
    chosen = metric_source(haproxy_env, FakeStack(haproxy_env), router)
    assert isinstance(chosen, HAProxyStatsSource)
    prometheus.answer = scrape(1.0, (0, 0), (0, 0))
    prometheus_env = environment(tmp_path, "prometheus")
    chosen = metric_source(prometheus_env, FakeStack(prometheus_env, base_url=prometheus.url), router)
    assert isinstance(chosen, PrometheusSource)
    assert chosen.base_url == prometheus.url
    assert prometheus.queries == [MARK_QUERY]


def test_metric_source_fails_when_prometheus_never_scrapes(tmp_path: Path, prometheus: FakePrometheus) -> None:
    """No scrape within the timeout: RouterError, not a source whose first mark would fail later."""
    env = environment(tmp_path, "prometheus")
    with pytest.raises(RouterError, match="has no scrape of the router"):
        metric_source(env, FakeStack(env, base_url=prometheus.url), FakeRouter(), scrape_timeout=0.1)
