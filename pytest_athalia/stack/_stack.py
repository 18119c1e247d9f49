"""The stack under test: its lifecycle, endpoints, logs and exec.

`Stack` is the interface every provider implements (compose today, `remote`
later); `ComposeStack` drives docker compose v2 through a
:class:`~pytest_athalia.stack._driver.ComposeDriver` (the ``docker compose`` command line, or
:class:`~pytest_athalia.testing.FakeCompose` in tests), adding a unique project name, secrets
passed through the environment, errors that carry compose's output, progress, a startup
deadline, checks of ``stack.service`` and ``stack.port`` before anything is built, and a watchdog
that removes the stack if pytest dies.

With ``rollout.enabled`` its :class:`~pytest_athalia.stack._colors.ComposeColors` merge the generated
override (a second color and the HAProxy router) before the build; the stack is a
:class:`~pytest_athalia.release._router.ColorStack` by delegating to them.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from .._errors import AthaliaError, ConfigError, DockerUnavailable, RolloutError, StackError, StackTimeout
from .._process import CommandResult, GroupRegistry
from ..config._environment import Environment, display_path
from ..config._secrets import Redactor
from ..release._router import Color
from ..report._progress import Progress
from . import _override as override
from . import _ports as ports
from ._colors import ComposeColors
from ._driver import (
    BUILD_TIMEOUT,
    COMMAND_TIMEOUT,
    ComposeCLI,
    ComposeDriver,
    ComposeProject,
    endpoint_of,
    up_state,
)
from ._validation import check_service_and_port
from ._values import Endpoint, ExecResult, ServiceState, StartupReport

__all__ = [
    "ComposeStack",
    "Endpoint",
    "ExecResult",
    "ProjectRegistry",
    "ServiceState",
    "Stack",
    "StartupReport",
    "build_reporter",
]


@runtime_checkable
class Stack(Protocol):
    """A running stack of services, whatever provides it."""

    @property
    def project(self) -> str: ...

    @property
    def environment(self) -> Environment: ...

    @property
    def startup(self) -> StartupReport | None: ...

    def start(self) -> StartupReport: ...

    def stop(self) -> None: ...

    def endpoint(self, service: str | None = None, port: int | None = None) -> Endpoint: ...

    def url(self, service: str | None = None, path: str = "", *, port: int | None = None) -> str: ...

    def services(self) -> tuple[ServiceState, ...]: ...

    def logs(self, service: str | None = None, *, tail: int = 50) -> str: ...

    def exec(self, service: str, command: Sequence[str]) -> ExecResult: ...

    def failure_logs(self, tail: int) -> str:
        """The last `tail` lines of each service's log, redacted; never raises."""
        ...

    def removal_command(self) -> str: ...


class ProjectRegistry(GroupRegistry, Protocol):
    """The watchdog's interface as the stack uses it."""

    def watch_project(self, project: str) -> None: ...

    def project_removed(self, project: str) -> None: ...


class ComposeStack:
    """A compose project built and started for one run; a context manager that always cleans up.

    `driver` runs compose (default: :class:`~pytest_athalia.stack._driver.ComposeCLI`, with the
    watchdog as `registry` and the redactor's masking).
    """

    def __init__(
        self,
        environment: Environment,
        *,
        project: str,
        redactor: Redactor,
        progress: Progress,
        registry: ProjectRegistry | None = None,
        environ: Mapping[str, str] | None = None,
        keep: bool = False,
        files_root: Path | None = None,
        driver: ComposeDriver | None = None,
    ) -> None:
        self._env = environment
        self._project = project
        self._redactor = redactor
        self._progress = progress
        self._registry = registry
        self._environ = dict(os.environ if environ is None else environ)
        self._keep = keep
        self._driver: ComposeDriver = (
            driver if driver is not None else ComposeCLI(redact=redactor.redact, groups=registry)
        )
        self._colors = (
            ComposeColors(environment, driver=self._driver, progress=progress, files_root=files_root)
            if environment.spec.rollout.enabled
            else None
        )
        self._startup: StartupReport | None = None
        self._compose: ComposeProject | None = None
        self._stopped = False
        self._upped = False  # whether `up` ran: before that, no service has a log
        self._failure: type[AthaliaError] = StackError  # what __enter__ raises for a failed start
        self._files_root = files_root
        self._run_override: override.RunOverride | None = None  # owner labels, stable build tags

    # -- Stack protocol -------------------------------------------------------------------------
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
        """Check, build and start the stack, waiting until every service is healthy within the startup SLO.

        Never raises for a stack that does not come up: the report carries the error,
        so the startup gate can fail in a test's call phase with the measured time, and the
        tests that need the stack fail with that one paragraph (no traceback). That includes a
        ``stack.service`` the merged compose config lacks and a ``stack.port`` that service neither
        exposes nor publishes: checked against ``docker compose config`` before anything is built.
        A secret that cannot be resolved raises (SecretError) before any compose command.
        """
        spec = self._env.spec
        deadline = float(spec.slo.startup.max_seconds)
        resolved, secrets = self._env.resolved_env(self._environ)
        self._redactor.add(*secrets)
        compose = self._compose = ComposeProject(
            self._project,
            self._env.project_directory,
            tuple(self._env.compose_files),
            {**self._environ, **resolved, "COMPOSE_PROJECT_NAME": self._project},
        )
        if self._registry is not None:
            self._registry.watch_project(self._project)
        build_seconds: float | None = None
        startup_seconds: float | None = None
        try:
            model = self._driver.config(compose)
            check_service_and_port(
                model, service=spec.stack.service, port=spec.stack.port, environment_file=self._env.path
            )
            self._check_ports(compose, model)
            self._run_override = override.RunOverride.write(
                model,
                project=self._project,
                env=self._env.name,
                project_directory=self._env.project_directory,
                keep=self._keep,
                root=self._files_root,
                say=self._progress.line,
                ports=spec.stack.ports,
            )
            compose = self._compose = compose.with_file(self._run_override.path)  # owner labels, build tags
            if self._colors is not None:
                # The colors copy the service as the run override left it: green carries blue's labels.
                model = self._driver.config(compose)
                compose, build_seconds = self._colors.prepare(compose, model, deadline, self._run_override.files)
                self._compose = compose
            if spec.stack.build:
                build_seconds = (build_seconds or 0.0) + self._build(compose)
            startup_seconds = self._up(compose, deadline)
            report = StartupReport(self._project, build_seconds, startup_seconds, deadline, self.services())
        except (StackError, ConfigError) as exc:
            self._failure = type(exc)
            services = self._safe_services() if isinstance(exc, StackError) else ()
            if isinstance(exc, StackTimeout):
                startup_seconds = deadline
            report = StartupReport(self._project, build_seconds, startup_seconds, deadline, services, str(exc))
        self._startup = report
        return report

    def stop(self) -> None:
        """Remove containers, networks and volumes of the project (unless asked to keep them)."""
        if self._stopped or self._compose is None:
            return
        self._stopped = True
        try:
            self._down(self._compose)
        finally:
            if self._colors is not None:  # the router's configuration was copied into its container
                self._colors.remove_files()
            if self._run_override is not None:
                self._run_override.release()

    def _down(self, compose: ComposeProject) -> None:
        if self._keep:
            if self._registry is not None:
                self._registry.project_removed(self._project)  # handed over to the user
            self._progress.line(f"kept stack {self._project}; remove it with: {self.removal_command()}")
            return
        with self._progress.phase(f"removing stack {self._project}"):
            self._driver.down(compose)
        if self._registry is not None:
            self._registry.project_removed(self._project)

    def endpoint(self, service: str | None = None, port: int | None = None) -> Endpoint:
        """Where `service` (default ``stack.service``) publishes `port` (default: ``stack.port`` for that service,
        the first published port for another)."""
        service = service or self._env.spec.stack.service
        if port is None and service == self._env.spec.stack.service:
            port = self._env.spec.stack.port
        return endpoint_of(self._driver, self._require_compose(), service, port)

    def url(self, service: str | None = None, path: str = "", *, port: int | None = None) -> str:
        return self.endpoint(service, port).url(path)

    def services(self) -> tuple[ServiceState, ...]:
        return self._driver.ps(self._require_compose())

    def logs(self, service: str | None = None, *, tail: int = 50) -> str:
        return self._redactor.redact(self._driver.logs(self._require_compose(), service, tail=tail))

    def exec(self, service: str, command: Sequence[str], *, timeout: float = COMMAND_TIMEOUT) -> ExecResult:
        """Run `command` in `service`'s container; StackTimeout (command, output tail) when it runs past `timeout`."""
        result = self._driver.exec(self._require_compose(), service, command, timeout=timeout)
        return ExecResult(result.exit_code, self._redactor.redact(result.output))

    def removal_command(self) -> str:
        return f"docker compose --project-name {self._project} down --volumes --remove-orphans"

    # -- ColorStack, by delegation to the colors (rollout.enabled) ------------------------------------
    @property
    def colors(self) -> ComposeColors:
        """The stack's two colors; RolloutError naming the fix when ``rollout.enabled`` is not true."""
        if self._colors is None:
            raise RolloutError(
                f"athalia: stack {self._project} has no second color: rollout.enabled is not true in "
                f"{self._env.path}. Set rollout.enabled: true to add the router and the green color."
            )
        return self._colors

    def color_service(self, color: Color) -> str:
        return self.colors.color_service(color)

    def color_url(self, color: Color, path: str = "") -> str:
        return self.colors.color_url(color, path)

    def deploy_color(
        self, color: Color, *, image: str | None = None, env: Mapping[str, str] | None = None, timeout: float = 120.0
    ) -> float:
        return self.colors.deploy_color(color, image=image, env=env, timeout=timeout)

    # -- context manager: cleans up if start() fails, and attaches logs to the error -------------
    def __enter__(self) -> Self:
        try:
            report = self.start()
        except BaseException:
            self.stop()
            raise
        if not report.started:
            notes = self._failure_notes() if issubclass(self._failure, StackError) else []
            self.stop()
            error = self._failure(report.error)
            for note in notes:
                error.add_note(note)
            raise error
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def failure_logs(self, tail: int) -> str:
        """The last lines of each service's log, redacted; never raises."""
        if self._compose is not None and not self._upped:
            return "(no service was started: the stack failed before `docker compose up`; see the error above)"
        try:
            return self.logs(tail=tail)
        except AthaliaError as exc:
            return f"(logs unavailable: {exc})"

    # -- internals --------------------------------------------------------------------------------
    def _check_ports(self, compose: ComposeProject, model: Mapping[str, Any]) -> None:
        """Before anything is built: compose can republish the ports (``stack.ports: private``), or the
        fixed host ports kept by ``as_published`` are free here; StackError naming them and the fix."""
        services = model.get("services")
        services = services if isinstance(services, Mapping) else {}
        if self._env.spec.stack.ports == "private":
            if any(isinstance(s, Mapping) and ports.private_ports(s) is not None for s in services.values()):
                try:
                    too_old = ports.override_too_old(self._driver.version())
                except DockerUnavailable as exc:
                    raise StackError(str(exc)) from None
                if too_old:
                    raise StackError(too_old)
            return
        if not ports.local_daemon(compose.env) or not any(
            isinstance(s, Mapping) and s.get("ports") for s in services.values()
        ):
            return  # a remote daemon's ports cannot be tried from here
        # Interpolated: a published port may be a ${VAR} of the environment or of the project's .env.
        fixed = ports.fixed_ports(self._driver.config(compose, interpolate=True))
        busy = ports.busy_ports(fixed)
        if busy:
            raise StackError(
                ports.busy_message(
                    busy,
                    compose_files=[display_path(path) for path in self._env.compose_files],
                    environment_file=display_path(self._env.path),
                )
            )

    def _failure_notes(self) -> list[str]:
        return [f"service logs of {self._project}:\n{self.failure_logs(40)}"]

    def _build(self, compose: ComposeProject) -> float:
        with self._progress.phase(f"building images of {self._project}") as step:
            try:
                result = self._driver.build(compose, timeout=BUILD_TIMEOUT, on_line=build_reporter(step))
            except StackTimeout as exc:
                # Not a startup timeout: the startup SLO starts counting after the build.
                raise StackError(str(exc)) from None
        return result.seconds

    def _up(self, compose: ComposeProject, deadline: float) -> float:
        with self._progress.phase(f"starting stack {self._project} (deadline {deadline:.0f}s)") as step:
            healthy: set[str] = set()

            def on_line(line: str) -> None:
                # Only the transitions a reader waits for: healthy, or an error.
                state = up_state(line, self._project)
                if state and state[0] not in healthy:
                    if state[1] == "healthy":
                        healthy.add(state[0])
                    step(" ".join(state))

            start = time.monotonic()
            self._upped = True
            try:
                result: CommandResult = self._driver.up(
                    compose, wait_timeout=max(1, int(deadline)), timeout=deadline + 30, on_line=on_line
                )
            except StackTimeout:
                raise StackTimeout(self._timeout_message(deadline, "")) from None
            elapsed = time.monotonic() - start
            if result.returncode != 0:
                if elapsed >= deadline - 1 or "timeout" in result.output.lower():
                    raise StackTimeout(self._timeout_message(deadline, result.tail()))
                raise StackError(
                    f"athalia: `docker compose up` failed (exit {result.returncode}) for project "
                    f"{self._project} of {self._env.path}. compose said:\n{result.tail()}"
                )
        return result.seconds

    def _timeout_message(self, deadline: float, tail: str) -> str:
        unhealthy = [s for s in self._safe_services() if not s.healthy]
        who = ", ".join(f"{s.service} ({s.state}/{s.health or 'no healthcheck'})" for s in unhealthy) or "unknown"
        return (
            f"athalia: stack {self._project} was not healthy within its startup SLO of {deadline:.0f} s "
            f"(slo.startup.max_seconds in {self._env.path}). Not healthy: {who}. "
            f"Raise the SLO or fix the service's healthcheck.{(' compose said:' + chr(10) + tail) if tail else ''}"
        )

    def _safe_services(self) -> tuple[ServiceState, ...]:
        try:
            return self.services()
        except AthaliaError:
            return ()

    def _require_compose(self) -> ComposeProject:
        if self._compose is None:
            raise StackError(f"athalia: stack {self._project} has not been started; call start() first.")
        return self._compose


_BUILD_STEP = re.compile(r"^#\d+ \[((\S+?)(?:[\s\]]).*?)\]")
_BUILD_STEP_EVERY = 10.0


def build_reporter(step: Callable[[str], None]) -> Callable[[str], None]:
    """An `on_line` for ``compose --progress plain build``: a step when an image starts, then one every 10 s."""
    seen: set[str] = set()
    last = [time.monotonic()]

    def on_line(line: str) -> None:
        match = _BUILD_STEP.search(line)
        if not match:
            return
        service = match.group(2)
        if service not in seen:
            seen.add(service)
        elif time.monotonic() - last[0] < _BUILD_STEP_EVERY:
            return
        last[0] = time.monotonic()
        step(f"building {match.group(1)}")

    return on_line
