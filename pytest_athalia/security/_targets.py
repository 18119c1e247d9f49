"""What the security suite scans: the stack's images and config files, found through compose.

By default the targets come from ``docker compose config --format json`` over the environment's
compose files (interpolated with ``stack.env``, whose secrets go to the redactor first): every
service's image, and the Dockerfile of every service that is built, plus the compose files
themselves. ``security.trivy.images`` and ``security.trivy.config_files`` replace them.

The compose output holds resolved secrets: it is parsed in memory and never printed or stored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, Protocol

from .._errors import AthaliaError, ScanError
from .._process import GroupRegistry, run_command
from ..config._environment import Environment, display_path
from ..report._progress import Progress
from ..stack._compose import INSTALL_HINT, compose_argv
from ..stack._stack import build_reporter

__all__ = [
    "ConfigFile",
    "DockerImages",
    "ImageTarget",
    "SecurityTargets",
    "discover_targets",
    "file_kind",
]

FileKind = Literal["dockerfile", "compose", "other"]
_BUILD_TIMEOUT: Final = 1800.0


@dataclass(frozen=True)
class ImageTarget:
    """An image to scan; ``service`` is the compose service that uses or builds it ('' when listed by hand)."""

    image: str
    service: str = ""
    built: bool = False


@dataclass(frozen=True)
class ConfigFile:
    path: Path
    shown: str  # as a reader finds it: relative to the current directory where possible
    kind: FileKind


@dataclass(frozen=True)
class SecurityTargets:
    images: tuple[ImageTarget, ...]
    config_files: tuple[ConfigFile, ...]
    project: str  # the compose project name used to list and build the images


def file_kind(path: Path, compose_files: tuple[Path, ...] = ()) -> FileKind:
    """``compose`` for the environment's compose files and ``*compose*.y(a)ml``; ``dockerfile`` by name."""
    name = path.name.lower()
    if path in compose_files or ("compose" in name and name.endswith((".yml", ".yaml"))):
        return "compose"
    if name == "dockerfile" or name.startswith("dockerfile.") or name.endswith(".dockerfile"):
        return "dockerfile"
    return "other"


def security_project(environment: Environment) -> str:
    # Only names images that have no `image:` key; builds create no containers, so no cleanup is due.
    slug = "".join(c for c in environment.name.lower() if c.isalnum()) or "env"
    return f"security-{slug}"


def _compose_argv(environment: Environment, project: str) -> list[str]:
    return compose_argv(project, environment.project_directory, environment.compose_files)


def compose_environ(
    environment: Environment, environ: Mapping[str, str], add_secrets: Callable[..., None]
) -> dict[str, str]:
    """``stack.env`` resolved over ``environ``; its secrets are handed to ``add_secrets`` first."""
    resolved, secrets = environment.resolved_env(environ)
    add_secrets(*secrets)
    return {**environ, **resolved}


def discover_targets(
    environment: Environment,
    *,
    environ: Mapping[str, str] | None = None,
    add_secrets: Callable[..., None],
    redact: Callable[[str], str],
) -> SecurityTargets:
    """The images and config files to scan; :class:`AthaliaError` when compose cannot tell."""
    spec = environment.spec.security.trivy
    project = security_project(environment)
    compose_files = environment.compose_files
    services: dict[str, object] = {}
    if spec.images is None or spec.config_files is None:
        services = _compose_services(environment, project, environ, add_secrets, redact)
    if spec.images is not None:
        images = tuple(ImageTarget(image) for image in spec.images)
    else:
        images = _images(services, project)
    if spec.config_files is not None:
        paths = [environment.resolve(name) for name in spec.config_files]
    else:
        paths = [*compose_files, *_dockerfiles(services)]
    files = tuple(ConfigFile(path, display_path(path), file_kind(path, compose_files)) for path in dict.fromkeys(paths))
    return SecurityTargets(images, files, project)


def _compose_services(
    environment: Environment,
    project: str,
    environ: Mapping[str, str] | None,
    add_secrets: Callable[..., None],
    redact: Callable[[str], str],
) -> dict[str, object]:
    env = compose_environ(environment, os.environ if environ is None else environ, add_secrets)
    argv = [*_compose_argv(environment, project), "config", "--format", "json"]
    proc = run_command(
        argv,
        env=env,
        timeout=60,
        what="compose config",
        redact=redact,
        check=False,
        split_stderr=True,
        error=ScanError,
        timeout_error=ScanError,
        install_hint=f"Is Docker compose v2 installed? {INSTALL_HINT}",
    )
    if proc.returncode != 0:
        raise ScanError(
            f"athalia: `{redact(' '.join(argv))}` failed (exit {proc.returncode}), so the images to scan are "
            f"unknown. compose said: {proc.output.strip()[-1500:]} Fix the compose file, or list the images in "
            "security.trivy.images and the files in security.trivy.config_files."
        )
    try:
        services = json.loads(proc.stdout)["services"]
    except (ValueError, KeyError, TypeError):
        raise ScanError(f"athalia: `{' '.join(argv)}` printed no services; expected compose's JSON.") from None
    return dict(services) if isinstance(services, dict) else {}


def _images(services: Mapping[str, object], project: str) -> tuple[ImageTarget, ...]:
    targets = []
    for name, service in sorted(services.items()):
        if not isinstance(service, dict):
            continue
        image = service.get("image")
        built = isinstance(service.get("build"), dict)
        if not isinstance(image, str) or not image:
            if not built:
                continue
            image = f"{project}-{name}"  # compose's name for a built image without `image:`
        targets.append(ImageTarget(image, name, built))
    return tuple(dict.fromkeys(targets))


def _dockerfiles(services: Mapping[str, object]) -> list[Path]:
    found = []
    for _, service in sorted(services.items()):
        build = service.get("build") if isinstance(service, dict) else None
        if not isinstance(build, dict) or not isinstance(build.get("context"), str):
            continue
        context = build["context"]
        if "://" in context:  # a git or remote context: nothing on disk to scan
            continue
        dockerfile = build.get("dockerfile") or "Dockerfile"
        found.append(Path(os.path.normpath(Path(context) / str(dockerfile))))
    return found


class DockerImages(Protocol):
    """Local images: their IDs, and building the ones compose builds."""

    def image_id(self, image: str) -> str | None: ...

    def build(self, environment: Environment, project: str, services: tuple[str, ...]) -> None: ...


class LocalDockerImages:
    """The docker CLI and ``docker compose build``, with progress and a redactor."""

    def __init__(
        self,
        *,
        progress: Progress,
        add_secrets: Callable[..., None],
        redact: Callable[[str], str],
        environ: Mapping[str, str] | None = None,
        groups: GroupRegistry | None = None,
    ) -> None:
        self._progress = progress
        self._groups = groups  # the watchdog: a build outlives no killed pytest
        self._add_secrets = add_secrets
        self._redact = redact
        self._environ = dict(os.environ if environ is None else environ)

    def image_id(self, image: str) -> str | None:
        proc = run_command(
            ["docker", "image", "inspect", "--format", "{{.Id}}", image],
            timeout=60,
            what="docker image inspect",
            redact=self._redact,
            check=False,
            split_stderr=True,
            error=ScanError,
            timeout_error=ScanError,
            timeout_hint="Is Docker running?",
            install_hint="Is the Docker CLI installed?",
        )
        image_id = proc.stdout.strip()
        if proc.returncode == 0 and image_id.startswith("sha256:"):
            return image_id
        if proc.returncode != 0 and "no such image" not in proc.output.lower():
            # Not a missing image (the daemon is down, a permission problem): "build it first" would mislead.
            raise ScanError(
                f"athalia: `docker image inspect {image}` failed (exit {proc.returncode}), so the image cannot be "
                f"scanned. docker said: {proc.output.strip()[-500:]} Is Docker running, and may this "
                "user talk to it?"
            )
        return None

    def build(self, environment: Environment, project: str, services: tuple[str, ...]) -> None:
        env = compose_environ(environment, self._environ, self._add_secrets)
        argv = [*_compose_argv(environment, project), "--progress", "plain", "build", *services]
        with self._progress.phase(f"building images to scan ({', '.join(services)})") as step:
            try:
                run_command(
                    argv,
                    cwd=str(environment.project_directory),
                    env=env,
                    timeout=_BUILD_TIMEOUT,
                    on_line=build_reporter(step),
                    groups=self._groups,
                    what="compose build",
                    redact=self._redact,
                )
            except AthaliaError as exc:
                raise ScanError(str(exc)) from None
