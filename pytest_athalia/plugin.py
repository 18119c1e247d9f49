"""pytest-athalia's entry point (``pytest11: athalia``): options and hooks only.

State lives in :class:`pytest_athalia._runtime.AthaliaRuntime`; fixtures in
:mod:`pytest_athalia.fixtures`; hook specifications in :mod:`pytest_athalia.hooks`.

A quiet guest: this module and what it imports at start-up are light (no docker, testcontainers
or pydantic); the drivers are imported when a fixture or hook first needs them, so a run that
uses no athalia fixture pays a few milliseconds, runs no ``docker`` command and writes no file.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

from . import hooks
from ._runtime import AthaliaRuntime, runtime_of
from .config._settings import add_options
from .fixtures import _canary as fixtures_canary
from .fixtures import _load as fixtures_load
from .fixtures import _rollout as fixtures_rollout
from .fixtures import _security as fixtures_security
from .fixtures import _stack as fixtures
from .report._artifact import redact_property

if TYPE_CHECKING:
    from .config._environment import Environment
    from .release._router import Router
    from .stack._stack import Stack

LOG_SECTION = "athalia: service logs"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    runtime = AthaliaRuntime.install(config)
    config.pluginmanager.register(fixtures, "athalia-fixtures")
    config.pluginmanager.register(fixtures_rollout, "athalia-fixtures-rollout")
    config.pluginmanager.register(fixtures_canary, "athalia-fixtures-canary")
    config.pluginmanager.register(fixtures_load, "athalia-fixtures-load")
    config.pluginmanager.register(fixtures_security, "athalia-fixtures-security")
    config.pluginmanager.register(runtime, "athalia-runtime")


def pytest_report_header(config: pytest.Config) -> list[str]:
    runtime = runtime_of(config)
    s = runtime.settings
    env = runtime.environment
    name = env.name if env else s.env.value
    # No docker call here: the compose and engine versions are shown when a stack starts.
    lines = [
        f"athalia: environment {name} (from {s.env.origin}), file " + (str(env.path) if env else "not loaded"),
    ]
    if env is not None:
        spec = env.spec
        lines.append(
            f"athalia: provider {spec.provider}, service {spec.stack.service}:{spec.stack.port}, "
            f"startup SLO {spec.slo.startup.max_seconds:g}s, keep={s.keep.value}, report {s.report_path.value}"
        )
        if spec.rollout.enabled:
            lines.append(
                f"athalia: rollout blue-green via router {spec.rollout.router.image}, probe "
                f"{spec.rollout.probe.rate:g} req/s, rollback SLO {spec.slo.rollback.max_ms:g} ms"
            )
        if spec.load.enabled:
            load = spec.load
            lines.append(
                f"athalia: load {load.users} users for {load.duration:g}s"
                + (f" on {load.workers} workers" if load.workers else "")
                + ", "
                f"{len(load.thresholds)} thresholds + {len(load.endpoints)} endpoints"
                + (f", window {load.window:g}s" if load.window else "")
            )
        trivy = spec.security.trivy
        if trivy.enabled:
            lines.append(
                f"athalia: security trivy fail_on [{', '.join(trivy.fail_on) or 'nothing: report only'}], "
                f"vulnerability DB {'required' if trivy.require_vulnerability_db else 'optional'}"
            )
    return lines


@pytest.hookimpl(trylast=True)
def pytest_athalia_make_stack(config: pytest.Config, environment: Environment, project: str) -> Stack | None:
    if environment.spec.provider != "compose":
        return None
    from ._errors import AthaliaError
    from .stack._compose import compose_version, docker_engine_version
    from .stack._stack import ComposeStack

    runtime = runtime_of(config)
    try:
        compose = f"docker compose {compose_version()}"
    except AthaliaError:
        compose = "docker compose v2 not found (see scripts/install-compose-v2.sh)"
    runtime.progress.line(f"{compose}; docker engine {docker_engine_version() or 'not reachable'}")
    runtime.sweep_dead_runs()
    return ComposeStack(
        environment,
        project=project,
        redactor=runtime.redactor,
        progress=runtime.progress,
        registry=runtime.watchdog,
        keep=runtime.settings.keep.value,
    )


@pytest.hookimpl(trylast=True)
def pytest_athalia_make_router(config: pytest.Config, environment: Environment, stack: Stack) -> Router | None:
    from .release._haproxy import HAProxyRouter
    from .stack._stack import ComposeStack

    # The HAProxy router exists only in compose stacks started with the generated override.
    if not environment.spec.rollout.enabled or not isinstance(stack, ComposeStack):
        return None
    return HAProxyRouter.for_stack(stack)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """A run that needs an environment and has none stops here with one message, not one per test."""
    runtime = runtime_of(config)
    if runtime.environment is not None or hasattr(config, "workerinput"):
        return  # xdist workers: the fixture fails each test with the same one-paragraph message
    if any(_uses_athalia(item) for item in items):
        runtime.used = True
        raise pytest.UsageError(str(runtime.environment_error))


def _uses_athalia(item: pytest.Item) -> bool:
    # Every fixture that needs the environment depends on this one (fixturenames is the closure).
    return "athalia_environment" in getattr(item, "fixturenames", ())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    runtime = runtime_of(item.config)
    uses_stack = {"athalia_stack", "athalia_stack_startup"} & set(getattr(item, "fixturenames", ()))
    if report.failed and uses_stack and runtime.stacks:
        stack = runtime.stacks[-1]
        tail = runtime.settings.log_lines.value
        if tail:
            report.sections.append((LOG_SECTION, stack.failure_logs(tail)))
    if runtime.redactor:
        redact = runtime.redactor.redact
        if isinstance(report.longrepr, tuple):  # a skip: (path, line, reason), kept a tuple
            path, line, reason = report.longrepr
            report.longrepr = (path, line, redact(reason))
        elif report.longrepr is not None:
            text = str(report.longrepr)
            if redact(text) != text:  # keep pytest's rich repr unless it holds a secret
                report.longrepr = redact(text)
        report.sections = [(title, redact(body)) for title, body in report.sections]
        report.user_properties = [(n, redact_property(str(n), v, redact)) for n, v in report.user_properties]
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> None:
    # trylast: after pytest's own sessionfinish has torn the session fixtures (the stack) down.
    runtime_of(session.config).close(int(exitstatus))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    from .report._table import gate_lines

    runtime = runtime_of(config)
    report = runtime.book.as_json()
    if not report["summary"]["checks"]:
        return
    terminalreporter.section("athalia gates")
    for line in gate_lines(report, str(runtime.settings.report_path.value)):
        terminalreporter.write_line(line)
