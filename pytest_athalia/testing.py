"""Fakes for tests: a stack, a compose driver and a history store, that need no Docker.

Bring it in through the ``pytest_athalia_make_stack`` hook in a conftest.py::

    import pytest
    from pytest_athalia.testing import FakeStack

    @pytest.hookimpl(optionalhook=True)  # so that -p no:athalia still works
    def pytest_athalia_make_stack(config, environment, project):
        return FakeStack(environment, project=project, base_url="http://127.0.0.1:8000")
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import pytest

from ._errors import RolloutError
from ._process import CommandResult
from .config._environment import Environment
from .history._fake import FakeHistoryStore
from .release._faults import FakeFaultInjector, InjectedFault
from .release._router import COLORS, Color, FakeRouter, WeightChange
from .stack._driver import ComposeDriver, ComposeProject, OnLine
from .stack._override import color_service
from .stack._values import Endpoint, ExecResult, ServiceState, StartupReport

__all__ = [
    "ComposeCall",
    "Deploy",
    "FakeCompose",
    "FakeFaultInjector",
    "FakeHistoryStore",
    "FakeRouter",
    "FakeStack",
    "InjectedFault",
    "RecordingGroups",
    "WeightChange",
    "unavailable",
    "wait_until",
]


def unavailable(reason: str) -> NoReturn:
    """Skip for a missing tool or prerequisite; under ``CI=true`` fail instead, so a skip never hides a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true requires it, but {reason}", pytrace=False)
    pytest.skip(reason)


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> float | None:
    """Seconds until `condition()` held, or None if it did not within `timeout` (for tests of async effects)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(interval)
    return time.monotonic() - start if condition() else None


@dataclass(frozen=True)
class Deploy:
    """One ``deploy_color`` call on a :class:`FakeStack`."""

    color: Color
    image: str | None
    env: Mapping[str, str]
    timeout: float


class FakeStack:
    """Implements the Stack and ColorStack protocols with canned values; records its calls.

    ``color_urls`` gives each color's direct address (default: `base_url` for both);
    ``deploy_color`` returns `deploy_seconds`, or raises RolloutError(`deploy_error`) when set.
    """

    def __init__(
        self,
        environment: Environment,
        *,
        project: str = "athalia-fake-main-p0-000000",
        base_url: str = "http://127.0.0.1:1",
        startup_seconds: float | None = 1.0,
        build_seconds: float | None = 0.5,
        error: str = "",
        services: Sequence[ServiceState] = (),
        logs: str = "",
        color_urls: Mapping[Color, str] | None = None,
        deploy_seconds: float = 0.5,
        deploy_error: str = "",
    ) -> None:
        self._env = environment
        self._project = project
        split = urlsplit(base_url)
        self._endpoint = Endpoint(split.hostname or "127.0.0.1", split.port or 80)
        self._report = StartupReport(
            project,
            build_seconds,
            startup_seconds,
            float(environment.spec.slo.startup.max_seconds),
            tuple(services),
            error,
        )
        self._startup: StartupReport | None = None
        self._logs = logs
        self._color_urls = {color: (color_urls or {}).get(color, base_url).rstrip("/") for color in COLORS}
        self.deploy_seconds = deploy_seconds
        self.deploy_error = deploy_error
        self.deploys: list[Deploy] = []
        self.calls: list[str] = []

    @property
    def project(self) -> str:
        return self._project

    @property
    def environment(self) -> Environment:
        return self._env

    @property
    def startup(self) -> StartupReport | None:
        return self._startup

    def start(self) -> StartupReport:
        self.calls.append("start")
        self._startup = self._report
        return self._report

    def stop(self) -> None:
        self.calls.append("stop")

    def endpoint(self, service: str | None = None, port: int | None = None) -> Endpoint:
        return self._endpoint

    def url(self, service: str | None = None, path: str = "", *, port: int | None = None) -> str:
        return self._endpoint.url(path)

    def services(self) -> tuple[ServiceState, ...]:
        return self._report.services

    def logs(self, service: str | None = None, *, tail: int = 50) -> str:
        return "\n".join(self._logs.splitlines()[-tail:])

    def failure_logs(self, tail: int) -> str:
        return self.logs(tail=tail)

    def exec(self, service: str, command: Sequence[str]) -> ExecResult:
        self.calls.append("exec " + " ".join(command))
        return ExecResult(0, "")

    def removal_command(self) -> str:
        return f"true  # fake stack {self._project}"

    # -- ColorStack -------------------------------------------------------------------------------
    def color_service(self, color: Color) -> str:
        return color_service(self._env.spec.stack.service, color)

    def color_url(self, color: Color, path: str = "") -> str:
        return self._color_urls[color] + path

    def deploy_color(
        self, color: Color, *, image: str | None = None, env: Mapping[str, str] | None = None, timeout: float = 120.0
    ) -> float:
        self.calls.append(f"deploy {color}")
        self.deploys.append(Deploy(color, image, dict(env or {}), timeout))
        if self.deploy_error:
            raise RolloutError(self.deploy_error)
        return self.deploy_seconds


class RecordingGroups:
    """A fake `GroupRegistry` (the watchdog) that records what it is told, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def watch_process_group(self, pgid: int) -> None:
        self.events.append(("watch", pgid))

    def forget_process_group(self, pgid: int) -> None:
        self.events.append(("forget", pgid))


@dataclass(frozen=True)
class ComposeCall:
    """One call on a :class:`FakeCompose`: the operation, the project it addressed, and its arguments."""

    verb: str
    project: ComposeProject | None
    args: Mapping[str, Any] = field(default_factory=dict)


class FakeCompose:
    """A :class:`~pytest_athalia.stack._driver.ComposeDriver` without Docker; records every call in `calls`.

    It answers ``config`` with `model` (with ``interpolate``: `interpolated` if set), ``ps`` with
    `services`, ``port`` from `ports` (keyed by ``(service, container port)``), ``logs`` with
    `log_text` and ``exec`` with `exec_result`.
    ``build``, ``up``, ``down``, ``exec``, ``config`` and ``build_router_image`` return or raise what
    `results` holds for them (default: success, 2.5 s), after feeding `lines` of that verb to ``on_line``.
    `images` are the images present.
    """

    def __init__(
        self,
        model: Mapping[str, Any] | None = None,
        *,
        services: Sequence[ServiceState] = (),
        ports: Mapping[tuple[str, int], tuple[str, int]] | None = None,
        version: str = "2.26.1",
    ) -> None:
        self.model: dict[str, Any] = dict(model or {"services": {}})
        self.interpolated: dict[str, Any] | None = None  # `config(interpolate=True)`'s answer (default: model)
        self.services = list(services)
        self.ports = dict(ports or {})
        self.compose_version = version
        self.results: dict[str, CommandResult | BaseException] = {}
        self.lines: dict[str, list[str]] = {}
        self.log_text = ""
        self.exec_result = ExecResult(0, "")
        self.images: set[str] = set()
        self.calls: list[ComposeCall] = []
        # Called with each call as it is made, e.g. to read a generated file before it is removed.
        self.on_call: Callable[[ComposeCall], None] = lambda call: None

    def verbs(self) -> list[str]:
        return [call.verb for call in self.calls]

    def last(self, verb: str) -> ComposeCall:
        return next(call for call in reversed(self.calls) if call.verb == verb)

    # -- ComposeDriver --------------------------------------------------------------------------------
    def version(self) -> str:
        return self.compose_version

    def config(self, project: ComposeProject, *, interpolate: bool = False) -> dict[str, Any]:
        if not interpolate:
            self._answer("config", project)
            return dict(self.model)
        self._answer("config", project, interpolate=True)
        return dict(self.interpolated if self.interpolated is not None else self.model)

    def build(self, project: ComposeProject, *, timeout: float, on_line: OnLine | None = None) -> CommandResult:
        return self._answer("build", project, on_line, timeout=timeout)

    def up(
        self,
        project: ComposeProject,
        services: Sequence[str] = (),
        *,
        wait_timeout: int,
        timeout: float,
        on_line: OnLine | None = None,
        recreate: bool = False,
        scale: Mapping[str, int] | None = None,
    ) -> CommandResult:
        return self._answer(
            "up",
            project,
            on_line,
            services=tuple(services),
            wait_timeout=wait_timeout,
            timeout=timeout,
            recreate=recreate,
            scale=dict(scale or {}),
        )

    def ps(self, project: ComposeProject) -> tuple[ServiceState, ...]:
        self.calls.append(ComposeCall("ps", project))
        return tuple(sorted(self.services, key=lambda s: (s.service, s.container)))

    def port(self, project: ComposeProject, service: str, port: int | None) -> tuple[str, int] | None:
        self.calls.append(ComposeCall("port", project, {"service": service, "port": port}))
        for (name, target), published in self.ports.items():
            if name == service and (port is None or target == port):
                return published
        return None

    def logs(self, project: ComposeProject, service: str | None, *, tail: int) -> str:
        self._answer("logs", project, service=service, tail=tail)
        return "\n".join(self.log_text.splitlines()[-tail:])

    def exec(
        self, project: ComposeProject, service: str, command: Sequence[str], *, timeout: float = 120.0
    ) -> ExecResult:
        self._answer("exec", project, service=service, command=tuple(command), timeout=timeout)
        return self.exec_result

    def down(self, project: ComposeProject) -> None:
        self._answer("down", project)

    def image_present(self, image: str) -> bool:
        return image in self.images

    def build_router_image(
        self, image: str, context: Path, env: Mapping[str, str], *, timeout: float, on_line: OnLine | None = None
    ) -> CommandResult:
        result = self._answer("build_router_image", None, on_line, image=image, context=context, timeout=timeout)
        self.images.add(image)
        return result

    def _answer(
        self, verb: str, project: ComposeProject | None, on_line: OnLine | None = None, **args: Any
    ) -> CommandResult:
        call = ComposeCall(verb, project, args)
        self.calls.append(call)
        self.on_call(call)
        for line in self.lines.get(verb, []):
            if on_line is not None:
                on_line(line)
        result = self.results.get(verb, CommandResult((verb,), 0, "", 2.5))
        if isinstance(result, BaseException):
            raise result
        return result


if TYPE_CHECKING:  # mypy checks that the fake keeps up with the Protocol
    _FAKE_COMPOSE: type[ComposeDriver] = FakeCompose


# -- post-deploy alerts (canary/_alert.py) -------------------------------------------------------------
# A separate block with its own __all__ entry, so that other fakes can be added above without a merge conflict.
from .canary._alert import Alert, Delivery, Notifier  # noqa: E402

__all__ += ["FakeNotifier"]


class FakeNotifier:
    """Records every alert it is given; answers with `delivery` (delivered, by default) or raises `error`."""

    def __init__(self, *, delivered: bool = True, error: Exception | None = None) -> None:
        self.alerts: list[Alert] = []
        self.delivered = delivered
        self.error = error

    def send(self, alert: Alert) -> Delivery:
        self.alerts.append(alert)
        if self.error is not None:
            raise self.error
        why = "" if self.delivered else "FakeNotifier(delivered=False)"
        return Delivery("fake", self.delivered, 1, 200 if self.delivered else None, why)


if TYPE_CHECKING:
    _FAKE_NOTIFIER: type[Notifier] = FakeNotifier
