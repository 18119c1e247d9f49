"""The stack under test: its lifecycle, endpoints, logs and exec.

`Stack` is the interface every provider implements (compose today, `remote`
later); `ComposeStack` drives docker compose v2 through testcontainers'
`DockerCompose`, adding what that class lacks: a unique project name, secrets
passed through the environment, errors that carry compose's output, progress,
a startup deadline, and a watchdog that removes the stack if pytest dies.

With ``rollout.enabled`` it also merges the generated override of :mod:`pytest_athalia.stack._override`
(a second color and the HAProxy router) and implements :class:`~pytest_athalia.release._router.ColorStack`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from testcontainers.compose import DockerCompose

from .._errors import AthaliaError, DockerUnavailable, RolloutError, StackError, StackTimeout
from ..config._environment import Environment
from ..config._secrets import Redactor
from ..release._router import COLORS, Color
from ..report._progress import Progress
from . import _override as override
from ._compose import CommandResult, GroupRegistry, compose_argv, compose_version, run_command
from ._host import endpoint_host

__all__ = [
    "ComposeStack",
    "Endpoint",
    "ExecResult",
    "ProjectRegistry",
    "ServiceState",
    "Stack",
    "StartupReport",
]


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def url(self, path: str = "", scheme: str = "http") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{path}"


@dataclass(frozen=True)
class ServiceState:
    """One container of the stack as compose reports it (`health` is "" without a healthcheck)."""

    service: str
    container: str
    state: str
    health: str

    @property
    def healthy(self) -> bool:
        return self.state == "running" and self.health in ("healthy", "")


@dataclass(frozen=True)
class StartupReport:
    """What starting the stack measured; `error` is set (and redacted) when it did not come up."""

    project: str
    build_seconds: float | None
    startup_seconds: float | None
    deadline_seconds: float
    services: tuple[ServiceState, ...] = ()
    error: str = ""

    @property
    def started(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: str


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


@dataclass
class _Compose(DockerCompose):
    """testcontainers' DockerCompose with a project name, an environment and our errors."""

    project_name: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    redact: Callable[[str], str] = field(default=lambda s: s)
    command_timeout: float = 120.0

    @property  # not cached: a rollout appends its override to compose_file_name after creation
    def compose_command_property(self) -> list[str]:
        return compose_argv(self.project_name, self.context, self.compose_file_name or [])

    def _run_command(self, cmd: str | list[str], context: str | None = None) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                cmd,
                capture_output=True,
                check=True,
                cwd=context or str(self.context),
                env=self.environment,
                timeout=self.command_timeout,
            )
        except subprocess.CalledProcessError as exc:
            tail = "\n".join(exc.stderr.decode(errors="replace").splitlines()[-20:])
            raise StackError(
                f"athalia: `{self.redact(_join(exc.cmd))}` failed (exit {exc.returncode}) for project "
                f"{self.project_name}. compose said:\n{self.redact(tail)}"
            ) from None
        except subprocess.TimeoutExpired as exc:
            raise StackError(
                f"athalia: `{self.redact(_join(exc.cmd))}` did not finish within {self.command_timeout:.0f} s."
            ) from None


class ComposeStack:
    """A compose project built and started for one run; a context manager that always cleans up."""

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
    ) -> None:
        self._env = environment
        self._project = project
        self._redactor = redactor
        self._progress = progress
        self._registry = registry
        self._environ = dict(os.environ if environ is None else environ)
        self._keep = keep
        self._startup: StartupReport | None = None
        self._compose: _Compose | None = None
        self._stopped = False
        self._files_root = files_root
        self._files: override.OverrideFiles | None = None
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
        """Build and start the stack, waiting until every service is healthy within the startup SLO.

        Never raises for a stack that does not come up: the report carries the error,
        so the startup gate can fail in a test's call phase with the measured time.
        Configuration errors (a secret that cannot be resolved) do raise.
        """
        spec = self._env.spec.stack
        deadline = float(self._env.spec.slo.startup.max_seconds)
        resolved, secrets = self._env.resolved_env(self._environ)
        self._redactor.add(*secrets)
        compose = self._compose = _Compose(
            context=str(self._env.project_directory),
            compose_file_name=[str(p) for p in self._env.compose_files],
            project_name=self._project,
            environment={**self._environ, **resolved, "COMPOSE_PROJECT_NAME": self._project},
            redact=self._redactor.redact,
        )
        if self._registry is not None:
            self._registry.watch_project(self._project)
        build_seconds: float | None = None
        startup_seconds: float | None = None
        try:
            self._run_override = override.RunOverride.write(
                compose.compose_command_property,
                cwd=str(compose.context),
                environ=compose.environment,
                redact=self._redactor.redact,
                project=self._project,
                env=self._env.name,
                project_directory=self._env.project_directory,
                keep=self._keep,
                root=self._files_root,
                say=self._progress.line,
            )
            compose.compose_file_name = [*(compose.compose_file_name or []), str(self._run_override.path)]
            if self._env.spec.rollout.enabled:
                build_seconds = self._prepare_rollout(compose, deadline)
            if spec.build:
                build_seconds = (build_seconds or 0.0) + self._build(compose)
            startup_seconds = self._up(compose, deadline)
            report = StartupReport(self._project, build_seconds, startup_seconds, deadline, self.services())
        except StackError as exc:
            services = self._safe_services()
            error = str(exc)
            if isinstance(exc, StackTimeout):
                startup_seconds = deadline
            report = StartupReport(self._project, build_seconds, startup_seconds, deadline, services, error)
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
            if self._files is not None:  # the router's configuration was copied into its container
                self._files.remove()
            if self._run_override is not None:
                self._run_override.release()

    def _down(self, compose: _Compose) -> None:
        if self._keep:
            if self._registry is not None:
                self._registry.project_removed(self._project)  # handed over to the user
            self._progress.line(f"kept stack {self._project}; remove it with: {self.removal_command()}")
            return
        with self._progress.phase(f"removing stack {self._project}"):
            run_command(
                [
                    *compose.compose_command_property,
                    "down",
                    "--volumes",
                    "--remove-orphans",
                    "--timeout",
                    "10",
                ],
                cwd=str(compose.context),
                env=compose.environment,
                timeout=180,
                groups=self._registry,
                what="compose down",
                redact=self._redactor.redact,
            )
        if self._registry is not None:
            self._registry.project_removed(self._project)

    def endpoint(self, service: str | None = None, port: int | None = None) -> Endpoint:
        service = service or self._env.spec.stack.service
        if port is None and service == self._env.spec.stack.service:
            port = self._env.spec.stack.port
        host, published = self._require_compose().get_service_host_and_port(service, port)
        if not published:
            raise StackError(
                f"athalia: service {service!r} of project {self._project} publishes no port {port}. "
                f'Publish it in the compose file, e.g. ports: ["127.0.0.1::{port}"].'
            )
        return Endpoint(endpoint_host(host or "", self._environ), int(published))  # DOCKER_HOST, TC_HOST

    def url(self, service: str | None = None, path: str = "", *, port: int | None = None) -> str:
        return self.endpoint(service, port).url(path)

    def services(self) -> tuple[ServiceState, ...]:
        containers = self._require_compose().get_containers(include_all=True)
        return tuple(
            sorted(
                (ServiceState(c.Service or "", c.Name or "", c.State or "", c.Health or "") for c in containers),
                key=lambda s: s.service,
            )
        )

    def logs(self, service: str | None = None, *, tail: int = 50) -> str:
        compose = self._require_compose()
        cmd = [*compose.compose_command_property, "logs", "--no-color", "--tail", str(tail)]
        proc = compose._run_command([*cmd, *([service] if service else [])])
        text = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
        # compose 2.26 starts each line with an erase-line code even with --ansi never.
        return self._redactor.redact(_ANSI.sub("", text))

    def exec(self, service: str, command: Sequence[str]) -> ExecResult:
        compose = self._require_compose()
        proc = subprocess.run(
            [*compose.compose_command_property, "exec", "-T", service, *command],
            capture_output=True,
            cwd=str(compose.context),
            env=compose.environment,
            timeout=120,
            check=False,
        )
        output = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
        return ExecResult(proc.returncode, self._redactor.redact(output))

    def removal_command(self) -> str:
        return f"docker compose --project-name {self._project} down --volumes --remove-orphans"

    # -- ColorStack (rollout.enabled) ---------------------------------------------------------------
    def color_service(self, color: Color) -> str:
        """The compose service of `color`: blue is ``stack.service``, green the copy the override adds."""
        if color not in COLORS:
            raise RolloutError(f"athalia: expected a color ({', '.join(COLORS)}), found {color!r}.")
        return override.color_service(self._env.spec.stack.service, color)

    def color_url(self, color: Color, path: str = "") -> str:
        """The color's own address on 127.0.0.1 (its published ``stack.port``), bypassing the router."""
        return self.url(self.color_service(color), path, port=self._env.spec.stack.port)

    def deploy_color(
        self, color: Color, *, image: str | None = None, env: Mapping[str, str] | None = None, timeout: float = 120.0
    ) -> float:
        """Recreate only `color`'s service with `image` (None: its own) and `env` over its environment.

        Runs ``docker compose up --detach --no-deps --no-build --force-recreate --wait`` for that one
        service and returns the seconds it took. Values of `env` reach compose through its environment,
        never through a file. Raises RolloutError with compose's output when it does not become healthy
        within `timeout`.
        """
        compose = self._require_compose()
        service = self.color_service(color)
        if self._files is None:
            raise RolloutError(
                f"athalia: stack {self._project} has no second color: rollout.enabled is not true in "
                f"{self._env.path}. Set rollout.enabled: true to add the router and the green color."
            )
        env = dict(env or {})
        data, variables = override.deploy_override(service, image=image, env=env)
        deploy_file = self._files.write(f"deploy-{color}-{time.monotonic_ns()}.yml", data) if image or env else None
        wait = max(1, int(timeout))
        argv = [
            *compose.compose_command_property,
            *(["-f", str(deploy_file)] if deploy_file else []),
            "up",
            "--detach",
            "--no-deps",
            "--no-build",
            "--force-recreate",
            "--wait",
            "--wait-timeout",
            str(wait),
            *(["--scale", f"{service}=1"] if color == COLORS[1] else []),
            service,
        ]
        what = f"deploying {color} ({service}{', image ' + image if image else ''}) to {self._project}"
        try:
            with self._progress.phase(what) as step:

                def on_line(line: str) -> None:
                    match = _UP_STATE.search(line)
                    if match:
                        step(f"{match.group(1).removeprefix(self._project + '-')} {match.group(2).lower()}")

                try:
                    result = run_command(
                        argv,
                        cwd=str(compose.context),
                        env={**compose.environment, **variables},
                        timeout=wait + 30,
                        on_line=on_line,
                        groups=self._registry,
                        what="compose up (deploy)",
                        redact=self._redactor.redact,
                        check=False,
                    )
                except StackTimeout as exc:
                    raise RolloutError(f"{exc} The {color} color ({service}) was not deployed.") from None
                if result.returncode != 0:
                    raise RolloutError(
                        f"athalia: deploying {color} (service {service}) of project {self._project} failed "
                        f"(exit {result.returncode}, wait timeout {wait} s). Check the candidate's image and "
                        f"settings (rollout.candidate in {self._env.path}) and the service's log "
                        f"(docker compose -p {self._project} logs {service}). compose said:\n{result.tail()}"
                    )
        finally:
            if deploy_file is not None:
                deploy_file.unlink(missing_ok=True)
        return result.seconds

    # -- context manager: cleans up if start() fails, and attaches logs to the error -------------
    def __enter__(self) -> Self:
        try:
            report = self.start()
        except BaseException:
            self.stop()
            raise
        if not report.started:
            notes = self._failure_notes()
            self.stop()
            error = StackError(report.error)
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
        try:
            return self.logs(tail=tail)
        except AthaliaError as exc:
            return f"(logs unavailable: {exc})"

    # -- internals --------------------------------------------------------------------------------
    def _prepare_rollout(self, compose: _Compose, deadline: float) -> float | None:
        """Write the override (second color, router) into the compose file list; build the router image.

        Returns the seconds the router image took to build, or None when none was built.
        """
        spec = self._env.spec
        try:
            too_old = override.compose_too_old(compose_version())
        except DockerUnavailable as exc:
            raise StackError(str(exc)) from None
        if too_old:
            raise StackError(too_old)
        proc = compose._run_command(
            [*compose.compose_command_property, "config", "--no-interpolate", "--format", "json"]
        )
        text = proc.stdout.decode(errors="replace")
        try:
            model = json.loads(text)
        except ValueError:
            raise StackError(
                f"athalia: expected `docker compose config --format json` to print the model of project "
                f"{self._project} as JSON, found {text[:200]!r}. Check the compose files of {self._env.path}."
            ) from None
        plan = override.RouterPlan(
            project=self._project,
            service=spec.stack.service,
            port=spec.stack.port,
            health_path=spec.stack.health_path,
            router_image=spec.rollout.router.image,
            start_period_s=deadline,
        )
        data = override.compose_override(model, plan)
        self._files = override.OverrideFiles(self._project, self._files_root)
        path = self._files.write("rollout.yml", data)
        compose.compose_file_name = [*(compose.compose_file_name or []), str(path)]
        if not spec.rollout.router.build or override.router_image_present(plan.router_image):
            return None
        return self._build_router_image(compose, plan.router_image)

    def _build_router_image(self, compose: _Compose, image: str) -> float:
        with (
            self._progress.phase(f"building router image {image}") as step,
            resources.as_file(override.router_dockerfile_dir()) as context,
        ):
            try:
                result = run_command(
                    override.router_build_command(image, str(context), compose.environment),
                    cwd=str(context),
                    env=compose.environment,
                    timeout=_BUILD_TIMEOUT,
                    on_line=lambda line: step(line.strip()) if line.startswith("Step ") else None,
                    groups=self._registry,
                    what=f"docker build of the router image {image}",
                    redact=self._redactor.redact,
                )
            except StackTimeout as exc:
                raise StackError(str(exc)) from None
        return result.seconds

    def _failure_notes(self) -> list[str]:
        return [f"service logs of {self._project}:\n{self.failure_logs(40)}"]

    def _build(self, compose: _Compose) -> float:
        with self._progress.phase(f"building images of {self._project}") as step:
            try:
                result = run_command(
                    [*compose.compose_command_property, "--progress", "plain", "build"],
                    cwd=str(compose.context),
                    env=compose.environment,
                    timeout=_BUILD_TIMEOUT,
                    on_line=build_reporter(step),
                    groups=self._registry,
                    what="compose build",
                    redact=self._redactor.redact,
                )
            except StackTimeout as exc:
                # Not a startup timeout: the startup SLO starts counting after the build.
                raise StackError(str(exc)) from None
        return result.seconds

    def _up(self, compose: _Compose, deadline: float) -> float:
        with self._progress.phase(f"starting stack {self._project} (deadline {deadline:.0f}s)") as step:
            healthy: set[str] = set()

            def on_line(line: str) -> None:
                # Only the transitions a reader waits for: healthy, or an error.
                match = _UP_STATE.search(line)
                if match and match.group(1) not in healthy:
                    if match.group(2) == "Healthy":
                        healthy.add(match.group(1))
                    step(f"{match.group(1).removeprefix(self._project + '-')} {match.group(2).lower()}")

            start = time.monotonic()
            try:
                result: CommandResult = run_command(
                    [
                        *compose.compose_command_property,
                        "up",
                        "--detach",
                        "--no-build",
                        "--wait",
                        "--wait-timeout",
                        str(max(1, int(deadline))),
                    ],
                    cwd=str(compose.context),
                    env=compose.environment,
                    timeout=deadline + 30,
                    on_line=on_line,
                    groups=self._registry,
                    what="compose up",
                    redact=self._redactor.redact,
                    check=False,
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

    def _require_compose(self) -> _Compose:
        if self._compose is None:
            raise StackError(f"athalia: stack {self._project} has not been started; call start() first.")
        return self._compose


_BUILD_TIMEOUT = 3600.0
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
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


_UP_STATE = re.compile(r"Container\s+(\S+)\s+(Healthy|Error)\b")


def _join(cmd: str | Sequence[str]) -> str:
    return cmd if isinstance(cmd, str) else " ".join(str(c) for c in cmd)
