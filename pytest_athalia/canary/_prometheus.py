"""The second metric source: PromQL against the Prometheus the run starts beside the router.

With ``rollout.canary.metrics: prometheus`` the generated override adds ``athalia-prometheus``
(:mod:`pytest_athalia.stack._override`), which scrapes HAProxy's built-in exporter
(``<service>:8405/metrics?scope=server``) every second. Checked against HAProxy 2.6's exporter,
the per-server counters the canary needs are:

- ``haproxy_server_sessions_total{proxy="colors",server=...}``: ``show stat``'s ``stot``. In HTTP
  mode each request is a stream of its own, so it equals ``req_tot`` (what
  :class:`~pytest_athalia.canary._haproxy_source.HAProxyStatsSource` counts); HAProxy 2.6 exports no
  per-server ``http_requests_total``;
- ``haproxy_server_http_responses_total{proxy="colors",server=...,code="5xx"}``: ``hrsp_5xx``.

Both come from one query, :data:`MARK_QUERY`: the raw samples of the last :data:`LOOKBACK_S`
seconds (a range selector), so the answer carries each scrape's own timestamp and both counters of
one scrape are read together. A mark is the newest scrape every series has; its ``at_ns`` is that
scrape's time (on our monotonic clock), not the time of the query. So a Prometheus mark lags the
router by at most one scrape interval (1 s) plus the scrape's own duration, and its window covers
exactly the time between two scrapes: the probe's latencies (``latencies_by_color``) are cut on
the same instants. :meth:`PrometheusSource.wait_until_scraped` waits for a scrape after a given
instant, for a mark that must include everything sent before it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, final

import requests

from .._errors import RouterError
from ..stack._override import BACKEND
from ._metrics import ColorWindow, Mark
from ._windows import windows_between

__all__ = ["LOOKBACK_S", "MARK_QUERY", "REQUESTS_METRIC", "RESPONSES_METRIC", "PrometheusSource", "parse_mark"]

NAME: Final = "prometheus"

# -- the PromQL: every query the canary sends to Prometheus ---------------------------------------
REQUESTS_METRIC: Final = "haproxy_server_sessions_total"  # show stat `stot`; = req_tot in HTTP mode
RESPONSES_METRIC: Final = "haproxy_server_http_responses_total"  # by `code`: 1xx..5xx, other
ERRORS_CODE: Final = "5xx"  # show stat `hrsp_5xx`
LOOKBACK_S: Final = 5  # a mark needs a scrape at most this old (five scrapes at 1 s)
# `code=~"|5xx"`: the empty alternative matches the requests series, which has no `code` label.
MARK_QUERY: Final = (
    f'{{__name__=~"{REQUESTS_METRIC}|{RESPONSES_METRIC}",proxy="{BACKEND}",code=~"|{ERRORS_CODE}"}}[{LOOKBACK_S}s]'
)


@final
class PrometheusSource:
    """:class:`~pytest_athalia.canary._metrics.MetricSource` over Prometheus' HTTP API (``/api/v1/query``).

    `base_url` is Prometheus' address, e.g. ``http://127.0.0.1:49160``; `hint` says where to look
    when it does not answer (the stack's log command).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        hint: str = "",
        wall_ns: Callable[[], int] = time.time_ns,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._hint = hint or "check that the run's Prometheus (service athalia-prometheus) is running and its log"
        self._wall_ns = wall_ns
        self._clock_ns = clock_ns

    @property
    def name(self) -> str:
        return NAME

    @property
    def base_url(self) -> str:
        return self._base_url

    def mark(self) -> Mark:
        """The counters of the newest scrape (at most one scrape interval old); its at_ns is the scrape's time."""
        payload = self._query(MARK_QUERY)
        try:
            return parse_mark(payload, wall_ns=self._wall_ns(), clock_ns=self._clock_ns())
        except RouterError as exc:
            raise RouterError(f"{exc} {self._targets()}") from None

    def window(self, start: Mark, end: Mark) -> Mapping[str, ColorWindow]:
        return windows_between(start, end, source=NAME)

    def wait_until_scraped(self, after_ns: int | None = None, *, timeout: float = 30.0, interval: float = 0.2) -> Mark:
        """The first mark of a scrape taken after `after_ns` (monotonic; None: any scrape), waiting up to `timeout`.

        Before its first scrape of the router Prometheus has no series and :meth:`mark` fails: call
        this once after the stack starts. With `after_ns` (e.g. ``time.monotonic_ns()`` once the
        traffic stopped) the mark includes every request the router counted before that instant.
        Raises RouterError with the last reason when `timeout` passes.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                mark = self.mark()
                if after_ns is None or mark.at_ns > after_ns:
                    return mark
                last = f"its newest scrape is {(after_ns - mark.at_ns) / 1e9:.3f} s older than the instant waited for"
            except RouterError as exc:
                last = str(exc)
            if time.monotonic() >= deadline:
                raise RouterError(
                    f"athalia: Prometheus at {self._base_url} has no scrape of the router "
                    f"{'after the instant waited for ' if after_ns is not None else ''}within {timeout:g} s "
                    f"(it scrapes every second). Last: {last}"
                )
            time.sleep(interval)

    # -- the HTTP API ---------------------------------------------------------------------------------
    def _query(self, promql: str) -> Mapping[str, Any]:
        return self._get("/api/v1/query", {"query": promql}, what=f"query `{promql}`")

    def _get(self, path: str, params: Mapping[str, str], *, what: str) -> Mapping[str, Any]:
        url = self._base_url + path
        try:
            response = requests.get(url, params=dict(params), timeout=self._timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise RouterError(
                f"athalia: cannot reach Prometheus at {self._base_url} for the canary's {what} "
                f"({type(exc).__name__}). Expected its HTTP API (port 9090, published on 127.0.0.1); {self._hint}."
            ) from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, Mapping):
            raise RouterError(
                f"athalia: expected a JSON object from Prometheus at {url} ({what}), found HTTP {response.status_code} "
                f"{response.text[:200]!r}. Is {self._base_url} Prometheus' address?"
            )
        if payload.get("status") != "success":
            raise RouterError(
                f"athalia: Prometheus at {self._base_url} refused the canary's {what}: HTTP {response.status_code}, "
                f"{payload.get('errorType', '?')}: {payload.get('error', '?')}. The queries are in "
                "pytest_athalia/canary/_prometheus.py; expected Prometheus 2.x."
            )
        return payload

    def _targets(self) -> str:
        """What Prometheus says of its scrape targets, for an error message; never raises."""
        try:
            data = self._get("/api/v1/targets", {"state": "active"}, what="targets").get("data")
        except RouterError as exc:
            return f"(Its targets could not be read: {exc})"
        targets = data.get("activeTargets") if isinstance(data, Mapping) else None
        if not isinstance(targets, list) or not targets:
            return "Prometheus has no scrape target: its configuration is the generated one (stack/_override.py)?"
        described = []
        for target in targets:
            if isinstance(target, Mapping):
                error = target.get("lastError") or "no error"
                described.append(f"{target.get('scrapeUrl', '?')} is {target.get('health', '?')} ({error})")
        return "Its targets: " + "; ".join(described) + "."


def parse_mark(payload: Mapping[str, Any], *, wall_ns: int, clock_ns: int) -> Mark:
    """The :class:`Mark` in Prometheus' answer to :data:`MARK_QUERY`, taken when `wall_ns` was `clock_ns`.

    Per server, one requests series and one 5xx series; the mark is the newest scrape timestamp
    all of them have. Raises RouterError when the answer is not a matrix, a series is missing or
    doubled, no scrape has every series, or a value is not a whole number.
    """
    data = payload.get("data")
    result = data.get("result") if isinstance(data, Mapping) else None
    if not isinstance(data, Mapping) or data.get("resultType") != "matrix" or not isinstance(result, list):
        raise RouterError(
            f"athalia: expected a matrix from Prometheus for `{MARK_QUERY}`, found "
            f"{data.get('resultType') if isinstance(data, Mapping) else data!r}. Expected Prometheus 2.x."
        )
    if not result:
        raise RouterError(
            f"athalia: Prometheus has no sample of {REQUESTS_METRIC} or {RESPONSES_METRIC} for backend {BACKEND} in "
            f"the last {LOOKBACK_S} s: it has not scraped the router yet, or no longer can. Call "
            "wait_until_scraped() after the stack starts."
        )
    series: dict[tuple[str, str], dict[float, str]] = {}
    for entry in result:
        labels = entry.get("metric") if isinstance(entry, Mapping) else None
        values = entry.get("values") if isinstance(entry, Mapping) else None
        if not isinstance(labels, Mapping) or not isinstance(values, list):
            raise RouterError(f"athalia: expected series with `metric` and `values` from Prometheus, found {entry!r}.")
        kind = "requests" if labels.get("__name__") == REQUESTS_METRIC else "errors"
        key = (str(labels.get("server", "")), kind)
        if key in series:
            raise RouterError(
                f"athalia: Prometheus has more than one {kind} series for server {key[0]} of backend {BACKEND} "
                f"({dict(labels)}): it scrapes more than one router. Expected only the run's scrape job."
            )
        series[key] = {float(at): str(value) for at, value in values}
    servers = sorted({server for server, _ in series})
    missing = [
        f"{server} {kind}" for server in servers for kind in ("requests", "errors") if (server, kind) not in series
    ]
    if missing:
        raise RouterError(
            f"athalia: Prometheus lacks the series {', '.join(missing)} (metrics {REQUESTS_METRIC}, "
            f'{RESPONSES_METRIC}{{code="{ERRORS_CODE}"}}) for backend {BACKEND}. Expected HAProxy 2.6\'s exporter.'
        )
    common = set.intersection(*(set(samples) for samples in series.values()))
    if not common:
        raise RouterError(
            f"athalia: no scrape in Prometheus' last {LOOKBACK_S} s has every counter of backend {BACKEND}; "
            "take the mark again."
        )
    at = max(common)
    counters = {
        server: (_whole(series[server, "requests"][at], server), _whole(series[server, "errors"][at], server))
        for server in servers
    }
    # The scrape's wall time on our monotonic clock: the container shares the host's clock.
    return Mark(clock_ns - (wall_ns - round(at * 1e9)), MappingProxyType(counters))


def _whole(raw: str, server: str) -> int:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise RouterError(
            f"athalia: expected a whole count from Prometheus for server {server}, found {raw!r}. Is the router's "
            "backend in mode http?"
        )
    return int(value)
