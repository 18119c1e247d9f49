"""Which metric source a canary reads: ``rollout.canary.metrics`` of the environment."""

from __future__ import annotations

from ..config._environment import Environment
from ..release._router import Router
from ..stack._override import PROMETHEUS_PORT, PROMETHEUS_SERVICE
from ..stack._stack import Stack
from ._haproxy_source import HAProxyStatsSource
from ._metrics import MetricSource
from ._prometheus import PrometheusSource

__all__ = ["metric_source"]


def metric_source(
    environment: Environment, stack: Stack, router: Router, *, scrape_timeout: float = 30.0
) -> MetricSource:
    """``haproxy``: the `router`'s own stats; ``prometheus``: the Prometheus the generated override added to `stack`.

    A Prometheus source is returned once it has scraped the router (within `scrape_timeout`
    seconds, else RouterError): before its first scrape it has no series, and a first mark
    would fail.
    """
    if environment.spec.rollout.canary.metrics == "prometheus":
        endpoint = stack.endpoint(PROMETHEUS_SERVICE, PROMETHEUS_PORT)
        source = PrometheusSource(
            endpoint.url(),
            hint=f"check it with `docker compose -p {stack.project} logs {PROMETHEUS_SERVICE}`",
        )
        source.wait_until_scraped(timeout=scrape_timeout)
        return source
    return HAProxyStatsSource(router)
