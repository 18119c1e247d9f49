"""Hook specifications that projects implement in their conftest.py or plugins."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .config._environment import Environment
    from .release._router import Router
    from .stack._stack import Stack


@pytest.hookspec(firstresult=True)
def pytest_athalia_make_stack(config: pytest.Config, environment: Environment, project: str) -> Stack | None:
    """Return the (not yet started) stack for `environment`, or None to let the next provider decide.

    The built-in implementation runs last and serves the ``compose`` provider. A project can bring
    its own provider here; use :func:`pytest_athalia.runtime_of` to reach the run's redactor,
    progress reporter and watchdog.
    """


@pytest.hookspec(firstresult=True)
def pytest_athalia_make_router(config: pytest.Config, environment: Environment, stack: Stack) -> Router | None:
    """Return the router of a started `stack`, or None to let the next implementation decide.

    The built-in implementation runs last and drives the HAProxy router that the plugin adds
    to compose stacks (:mod:`pytest_athalia.release._haproxy`).
    """
