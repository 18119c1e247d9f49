"""Shared test settings: the `docker` marker skips without a daemon, and fails under CI=true; a PostgreSQL server."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest

from pytest_athalia.testing import unavailable
from tests.support.postgres import PostgresServer, postgres_problem, throwaway_postgres


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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Session: a throwaway PostgreSQL server (tests/support/postgres.py); skipped without one, failing under CI."""
    if (problem := postgres_problem()) is not None:
        unavailable(problem)
    with throwaway_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """Function: the URL of a new empty database on the session's PostgreSQL server (password in it)."""
    return postgres_server.new_database()
