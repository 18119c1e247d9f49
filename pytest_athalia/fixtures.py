"""The ``athalia_*`` fixtures. Scopes are explicit; expensive things are session-scoped.

Under pytest-xdist every worker starts its own stack (session fixtures run once
per worker): stacks never share state between workers, at the cost of one stack
per worker. Run the suites without ``-n`` to start exactly one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .config import Environment
from .gate import Gate
from .runtime import runtime_of
from .secrets import Redactor
from .settings import Settings
from .stack import Stack, StartupReport

__all__ = [
    "athalia_environment",
    "athalia_gate",
    "athalia_redactor",
    "athalia_settings",
    "athalia_stack",
    "athalia_stack_startup",
]


@pytest.fixture(scope="session")
def athalia_settings(pytestconfig: pytest.Config) -> Settings:
    """Session: the effective settings (command line > environment variable > ini > default)."""
    return runtime_of(pytestconfig).settings


@pytest.fixture(scope="session")
def athalia_environment(pytestconfig: pytest.Config) -> Environment:
    """Session: the selected environment, validated when pytest started."""
    return runtime_of(pytestconfig).require_environment()


@pytest.fixture(scope="session")
def athalia_redactor(pytestconfig: pytest.Config) -> Redactor:
    """Session: masks every resolved secret as ``***`` in what the plugin prints or writes."""
    return runtime_of(pytestconfig).redactor


@pytest.fixture(scope="session")
def athalia_stack_startup(pytestconfig: pytest.Config, athalia_environment: Environment) -> Iterator[StartupReport]:
    """Session: builds and starts the stack once (per xdist worker) and yields what it measured.

    It does not raise when the stack fails to come up, so the startup gate can fail
    with the measured time; ``athalia_stack`` raises instead. The stack is removed
    at the end of the session, whatever happened.
    """
    runtime = runtime_of(pytestconfig)
    project = runtime.new_project_name(athalia_environment)
    stack: Stack = pytestconfig.hook.pytest_athalia_make_stack(
        config=pytestconfig, environment=athalia_environment, project=project
    )
    runtime.stacks.append(stack)
    try:
        report = stack.start()
        runtime.startups.append(report)
        yield report
    finally:
        runtime.stop_stacks()


@pytest.fixture(scope="session")
def athalia_stack(pytestconfig: pytest.Config, athalia_stack_startup: StartupReport) -> Stack:
    """Session: the running, healthy stack (``stack.url("app")``, ``endpoint``, ``logs``, ``exec``)."""
    if not athalia_stack_startup.started:
        pytest.fail(f"the stack did not start:\n{athalia_stack_startup.error}", pytrace=False)
    return runtime_of(pytestconfig).stacks[-1]


@pytest.fixture
def athalia_gate(request: pytest.FixtureRequest) -> Gate:
    """Function: judges measurements against SLOs and records them as JUnit properties.

    It appends to the test's ``user_properties`` (what ``record_property`` does) without
    that fixture's warning under junit_family xunit2; pytest writes them in every family.
    """
    properties = request.node.user_properties
    return Gate(lambda name, value: properties.append((name, value)))
