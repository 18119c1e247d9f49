"""Shared test settings: the `docker` marker skips without a daemon, and fails under CI=true."""

from __future__ import annotations

import functools
import os

import pytest


@functools.cache
def docker_problem() -> str | None:
    """Why Docker tests cannot run here, or None when a daemon and compose v2 answer."""
    from pytest_athalia.compose import compose_version, docker_engine_version
    from pytest_athalia.errors import DockerUnavailable

    if docker_engine_version() is None:
        return "no Docker daemon answers (docker info fails)"
    try:
        compose_version()
    except DockerUnavailable as exc:
        return str(exc)
    return None


def require_docker() -> None:
    """Skip the calling test without Docker; under CI=true a missing Docker is a failure."""
    problem = docker_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true requires Docker, but {problem}", pytrace=False)
    pytest.skip(problem)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") is not None:
        require_docker()
