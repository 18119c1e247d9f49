"""Fixtures for the plugin's pytester tests (see helpers.py for the project they lay out)."""

from __future__ import annotations

import os

# pytester's in-process runs forget the modules first imported inside them, and hypothesis's pytest
# plugin imports hypothesis in every run: importing it here once spares re-importing (and
# assertion-rewriting) its modules in every in-process run, about 1.5 s each.
import hypothesis  # noqa: F401
import pytest

from .helpers import Project


@pytest.fixture(autouse=True)
def _isolated_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ATHALIA_* from the caller's shell, no real Docker daemon, no proxy for loopback HTTP.

    ``DOCKER_HOST`` names a socket that does not exist, so what the plugin does on the side
    (the header's engine version, the sweep of dead runs) never reaches a real daemon.
    """
    for name in list(os.environ):
        if name.startswith("ATHALIA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/athalia-plugin-tests/docker.sock")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    """Function: a pytester project with environments/dev.yml, pytest.ini and a FakeStack conftest."""
    return Project(pytester)
