"""The compose driver: the few docker compose operations a stack needs, behind a Protocol.

:class:`ComposeDriver` is what :class:`~pytest_athalia.stack._stack.ComposeStack` and
:class:`~pytest_athalia.stack._colors.ComposeColors` call; :class:`ComposeCLI` runs ``docker compose``
v2 through :func:`~pytest_athalia._process.run_command` (own process group, watchdog
registration, redacted output, compose's words in our errors), and
:class:`~pytest_athalia.testing.FakeCompose` answers without Docker.

Every operation takes the :class:`ComposeProject` it addresses, a frozen value: adding the rollout's
override or a deploy's variables makes a new one, so the driver keeps no state of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .._errors import StackError
from .._process import CommandResult, GroupRegistry, run_command
from . import _override as override
from ._compose import compose_argv, compose_version
from ._host import endpoint_host
from ._values import Endpoint, ExecResult, ServiceState

__all__ = [
    "BUILD_TIMEOUT",
    "ComposeCLI",
    "ComposeDriver",
    "ComposeProject",
    "OnLine",
    "endpoint_of",
    "parse_ps",
    "published_port",
    "up_state",
]

OnLine = Callable[[str], None]
BUILD_TIMEOUT = 3600.0
COMMAND_TIMEOUT = 120.0  # config, ps, port, logs, exec: short commands that should answer at once
DOWN_TIMEOUT = 180.0
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# A line of `compose up` output where a container turned healthy or failed.
_UP_STATE = re.compile(r"Container\s+(\S+)\s+(Healthy|Error)\b")


@dataclass(frozen=True)
class ComposeProject:
    """One compose project as every command addresses it.

    `env` is the whole environment compose runs with, resolved secrets included: it never appears
    in a repr, and values reach compose only through it, never as arguments.
    """

    name: str
    directory: Path
    files: tuple[Path, ...]
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    def with_file(self, path: Path) -> ComposeProject:
        """The project with one more compose file merged last (the rollout's override, a deploy's)."""
        return replace(self, files=(*self.files, path))

    def with_env(self, variables: Mapping[str, str]) -> ComposeProject:
        return replace(self, env={**self.env, **variables})

    def argv(self) -> list[str]:
        """``docker compose`` with the project's options; append the subcommand."""
        return compose_argv(self.name, self.directory, self.files)


@runtime_checkable
class ComposeDriver(Protocol):
    """The docker compose (and docker image) operations of a stack; each raises StackError with compose's words."""

    def version(self) -> str:
        """Compose's version (e.g. ``2.26.1``); DockerUnavailable when there is no compose v2."""
        ...

    def config(self, project: ComposeProject, *, interpolate: bool = False) -> dict[str, Any]:
        """The merged model of the project's files (``config --no-interpolate --format json``).

        With `interpolate`, ``${VAR}`` references are filled from the project's environment: secrets
        included, so such a model is read, never written or shown.
        """
        ...

    def build(self, project: ComposeProject, *, timeout: float, on_line: OnLine | None = None) -> CommandResult:
        """Build the images of every service with a ``build:`` section; StackTimeout past `timeout`."""
        ...

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
        """``up --detach --no-build --wait``: start `services` (all when empty) and wait until healthy.

        With `recreate`, only `services` are recreated (``--no-deps --force-recreate``). A non-zero
        exit is returned, not raised (the caller tells a timeout from a failure); past `timeout` the
        command is stopped and StackTimeout raised.
        """
        ...

    def ps(self, project: ComposeProject) -> tuple[ServiceState, ...]:
        """Every container of the project, stopped ones included, sorted by service."""
        ...

    def port(self, project: ComposeProject, service: str, port: int | None) -> tuple[str, int] | None:
        """Host address and port where `service`'s running container publishes TCP `port` (None: its first).

        None when it publishes no such port or has no running container.
        """
        ...

    def logs(self, project: ComposeProject, service: str | None, *, tail: int) -> str:
        """The last `tail` lines of each service's log (or of `service`'s), without colour codes, redacted."""
        ...

    def exec(
        self, project: ComposeProject, service: str, command: Sequence[str], *, timeout: float = COMMAND_TIMEOUT
    ) -> ExecResult:
        """Run `command` in `service`'s container; StackTimeout (command and output tail) past `timeout`."""
        ...

    def down(self, project: ComposeProject) -> None:
        """Remove the project's containers, networks and volumes."""
        ...

    def image_present(self, image: str) -> bool:
        """Whether `image` exists and is not an outdated build of the router's shipped Dockerfile."""
        ...

    def build_router_image(
        self, image: str, context: Path, env: Mapping[str, str], *, timeout: float, on_line: OnLine | None = None
    ) -> CommandResult:
        """``docker build`` of the router image from the shipped build context (FROM ``BASE_IMAGE`` of `env`)."""
        ...


class ComposeCLI:
    """:class:`ComposeDriver` over the ``docker compose`` v2 command line.

    Every command runs in its own process group, registered with `groups` (the watchdog) while it
    runs; its output is passed through `redact` before it reaches an error or a caller.
    """

    def __init__(
        self,
        *,
        redact: Callable[[str], str] = lambda s: s,
        groups: GroupRegistry | None = None,
        command_timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        self._redact = redact
        self._groups = groups
        self._timeout = command_timeout

    def version(self) -> str:
        return compose_version()

    def config(self, project: ComposeProject, *, interpolate: bool = False) -> dict[str, Any]:
        argv = ["config", *([] if interpolate else ["--no-interpolate"]), "--format", "json"]
        result = self._run(project, argv, what="compose config")
        try:
            model = json.loads(result.stdout)
        except ValueError:
            model = None
        if not isinstance(model, dict):
            raise StackError(
                f"athalia: expected `docker compose config --format json` to print the model of project "
                f"{project.name} as JSON, found {self._redact(result.stdout[:200])!r}. Check the compose files "
                f"({', '.join(str(f) for f in project.files)}) with `docker compose config`."
            )
        return model

    def build(self, project: ComposeProject, *, timeout: float, on_line: OnLine | None = None) -> CommandResult:
        return self._run(
            project, ["--progress", "plain", "build"], timeout=timeout, on_line=on_line, what="compose build"
        )

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
        argv = [
            "up",
            "--detach",
            *(["--no-deps"] if recreate else []),
            "--no-build",
            *(["--force-recreate"] if recreate else []),
            "--wait",
            "--wait-timeout",
            str(wait_timeout),
        ]
        for service, count in (scale or {}).items():
            argv += ["--scale", f"{service}={count}"]
        what = "compose up (deploy)" if recreate else "compose up"
        return self._run(project, [*argv, *services], timeout=timeout, on_line=on_line, what=what, check=False)

    def ps(self, project: ComposeProject) -> tuple[ServiceState, ...]:
        result = self._run(project, ["ps", "--all", "--format", "json"], what="compose ps")
        return parse_ps(result.stdout)

    def port(self, project: ComposeProject, service: str, port: int | None) -> tuple[str, int] | None:
        # `ps`, not `compose port`: one answer for "not published" and "no container", and port None works.
        result = self._run(project, ["ps", "--format", "json", service], what="compose ps")
        return published_port(_ps_rows(result.stdout), service, port)

    def logs(self, project: ComposeProject, service: str | None, *, tail: int) -> str:
        argv = ["logs", "--no-color", "--tail", str(tail), *([service] if service else [])]
        result = self._run(project, argv, what="compose logs", max_lines=None)
        # compose 2.26 starts each line with an erase-line code even with --ansi never.
        return _ANSI.sub("", result.output)

    def exec(
        self, project: ComposeProject, service: str, command: Sequence[str], *, timeout: float = COMMAND_TIMEOUT
    ) -> ExecResult:
        result = self._run(
            project,
            ["exec", "-T", service, *command],
            timeout=timeout,
            what=self._redact(f"`{' '.join(command)}` in service {service} of project {project.name}"),
            check=False,
            max_lines=None,
        )
        return ExecResult(result.returncode, result.output)

    def down(self, project: ComposeProject) -> None:
        self._run(
            project,
            ["down", "--volumes", "--remove-orphans", "--timeout", "10"],
            timeout=DOWN_TIMEOUT,
            what="compose down",
        )

    def image_present(self, image: str) -> bool:
        return override.router_image_present(image)

    def build_router_image(
        self, image: str, context: Path, env: Mapping[str, str], *, timeout: float, on_line: OnLine | None = None
    ) -> CommandResult:
        return run_command(
            override.router_build_command(image, str(context), env),
            cwd=str(context),
            env=env,
            timeout=timeout,
            on_line=on_line,
            groups=self._groups,
            what=f"docker build of the router image {image}",
            redact=self._redact,
        )

    def _run(
        self,
        project: ComposeProject,
        argv: Sequence[str],
        *,
        what: str,
        timeout: float | None = None,
        on_line: OnLine | None = None,
        check: bool = True,
        max_lines: int | None = 400,
    ) -> CommandResult:
        # Commands whose stdout is parsed keep it apart from stderr (warnings would break the JSON).
        parsed = argv[0] in ("config", "ps")
        return run_command(
            [*project.argv(), *argv],
            cwd=str(project.directory),
            env=project.env,
            timeout=self._timeout if timeout is None else timeout,
            on_line=on_line,
            groups=self._groups,
            what=what,
            redact=self._redact,
            check=check,
            max_lines=max_lines,
            split_stderr=parsed,
        )


def parse_ps(text: str) -> tuple[ServiceState, ...]:
    """``docker compose ps --format json`` as values, sorted by service."""
    states = (
        ServiceState(
            str(row.get("Service") or ""),
            str(row.get("Name") or ""),
            str(row.get("State") or ""),
            str(row.get("Health") or ""),
        )
        for row in _ps_rows(text)
    )
    return tuple(sorted(states, key=lambda s: (s.service, s.container)))


def published_port(rows: Sequence[Mapping[str, Any]], service: str, port: int | None) -> tuple[str, int] | None:
    """(host, port) where `service` publishes TCP `port` (None: its first published one), from ``ps`` rows."""
    for row in rows:
        if row.get("Service") != service:
            continue
        for publisher in row.get("Publishers") or ():
            if not isinstance(publisher, Mapping) or str(publisher.get("Protocol") or "tcp") != "tcp":
                continue
            published = publisher.get("PublishedPort")
            if published and (port is None or publisher.get("TargetPort") == port):
                return str(publisher.get("URL") or ""), int(published)
    return None


def up_state(line: str, project: str) -> tuple[str, str] | None:
    """(container without the project prefix, "healthy" or "error") for such a line of `compose up`, else None."""
    match = _UP_STATE.search(line)
    if match is None:
        return None
    return match.group(1).removeprefix(project + "-"), match.group(2).lower()


def _ps_rows(text: str) -> list[Mapping[str, Any]]:
    """The rows of ``ps --format json``: one object per line (compose >= 2.21) or one array (before)."""
    text = text.strip()
    if not text:
        return []
    try:
        rows = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line]
    except ValueError:
        raise StackError(
            f"athalia: expected `docker compose ps --format json` to print JSON, found {text[:200]!r}. "
            "Check that `docker compose version` is v2."
        ) from None
    return [row for row in rows if isinstance(row, Mapping)]


def endpoint_of(driver: ComposeDriver, project: ComposeProject, service: str, port: int | None) -> Endpoint:
    """Where `service`'s published TCP `port` (None: its first) is reached; StackError naming the fix if nowhere.

    The host follows ``TC_HOST`` and a remote ``DOCKER_HOST`` of the project's environment (:func:`endpoint_host`).
    """
    published = driver.port(project, service, port)
    if published is None:
        example = port if port is not None else 8000
        raise StackError(
            f"athalia: service {service!r} of project {project.name} publishes no port {port or ''} (or has no "
            f'running container). Publish it in the compose file, e.g. ports: ["127.0.0.1::{example}"].'
        )
    host, number = published
    return Endpoint(endpoint_host(host, project.env), number)
