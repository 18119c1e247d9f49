"""Shared test settings: the `docker` marker skips without a daemon, and fails under CI=true."""

from __future__ import annotations

import functools

import pytest

from pytest_athalia.testing import unavailable


@functools.cache
def docker_problem() -> str | None:
    """Why Docker tests cannot run here, or None when a daemon and compose v2 answer."""
    from pytest_athalia._errors import DockerUnavailable
    from pytest_athalia.stack._compose import compose_version, docker_engine_version

    if docker_engine_version() is None:
        return "no Docker daemon answers (docker info fails)"
    try:
        compose_version()
    except DockerUnavailable as exc:
        return str(exc)
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") is not None and (problem := docker_problem()) is not None:
        unavailable(problem)
