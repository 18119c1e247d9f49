"""CI suite: the stack starts within its startup SLO, is healthy, ready, and tells its version.

Run it with ``pytest suites/ci --athalia-env=dev --junitxml=reports/junit.xml``.
"""

from __future__ import annotations

import pytest
import requests

from pytest_athalia import Environment, Gate, Stack, StartupReport, sample_http


def test_stack_starts_within_startup_slo(
    athalia_stack_startup: StartupReport, athalia_environment: Environment, athalia_gate: Gate
) -> None:
    """Every service is healthy within slo.startup.max_seconds of `compose up`."""
    if athalia_stack_startup.build_seconds is not None:
        athalia_gate.record("build", athalia_stack_startup.build_seconds, "s")
    startup = athalia_stack_startup
    athalia_gate.check(
        "startup",
        startup.startup_seconds if startup.started else None,
        limit=athalia_environment.spec.slo.startup.max_seconds,
        unit="s",
        samples=1 if startup.started else 0,
        detail=startup.error,
    )


def test_every_service_is_healthy(athalia_stack: Stack, athalia_gate: Gate) -> None:
    """Every container of the stack is running and its healthcheck says healthy."""
    services = athalia_stack.services()
    unhealthy = [f"{s.service} ({s.state}/{s.health or 'no healthcheck'})" for s in services if not s.healthy]
    no_check = [s.service for s in services if not s.health]
    assert not no_check, f"services without a healthcheck cannot be judged: {', '.join(no_check)}"
    athalia_gate.check(
        "services_healthy",
        float(len(services) - len(unhealthy)),
        limit=float(len(services)),
        unit="services",
        samples=len(services),
        at_most=False,
    )
    assert not unhealthy, f"unhealthy: {', '.join(unhealthy)}"


def test_health_endpoint_meets_slo(athalia_stack: Stack, athalia_environment: Environment, athalia_gate: Gate) -> None:
    """The health path answers every probe, with p95 latency within slo.health.max_p95_ms."""
    slo = athalia_environment.spec.slo.health
    samples = sample_http(athalia_stack.url(path=athalia_environment.spec.stack.health_path), slo.samples)
    athalia_gate.check(
        "health_success_ratio",
        samples.success_ratio,
        limit=slo.min_success_ratio,
        unit="ratio",
        samples=samples.count,
        at_most=False,
        min_samples=slo.samples,
    )
    athalia_gate.check(
        "health_p95",
        samples.p95_ms(),
        limit=slo.max_p95_ms,
        unit="ms",
        samples=samples.count,
        min_samples=slo.samples,
    )


def test_app_is_ready_with_its_dependencies(athalia_stack: Stack, athalia_environment: Environment) -> None:
    """The readiness path answers 200: the app reaches its dependencies (e.g. PostgreSQL and Redis)."""
    body = _get_ok(athalia_stack, athalia_environment, "ready_path").json()
    checks = body.get("checks", {}) if isinstance(body, dict) else {}
    failing = {name: state for name, state in checks.items() if state != "ok"}
    assert not failing, f"the readiness path reports failing dependencies: {failing}"


def test_version_answers(athalia_stack: Stack, athalia_environment: Environment) -> None:
    """The version path answers 200 with a non-empty version."""
    response = _get_ok(athalia_stack, athalia_environment, "version_path")
    assert response.json().get("version"), f"the version path answered without a version: {response.text[:500]}"


def _get_ok(stack: Stack, environment: Environment, key: str) -> requests.Response:
    """GET the optional path named by stack.<key>, skipping the test where the environment has none."""
    path = getattr(environment.spec.stack, key)
    if path is None:
        pytest.skip(f"no stack.{key} in {environment.path}")
    response = requests.get(stack.url(path=path), timeout=10)
    assert response.status_code == 200, f"{path} answered {response.status_code}: {response.text[:500]}"
    return response
