"""Compose v2: finding it, its version, and the fixed options of every compose command."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from functools import cache

from .._errors import AthaliaError, DockerUnavailable
from .._process import run_command

__all__ = ["INSTALL_HINT", "compose_argv", "compose_version", "docker_engine_version"]

INSTALL_HINT = (
    "Install compose v2 with `bash scripts/install-compose-v2.sh` (or `make setup`), "
    "or see https://docs.docker.com/compose/install/."
)


def compose_argv(project: str, project_directory: object, files: Sequence[object]) -> list[str]:
    """``docker compose`` with our fixed options for one project; append the subcommand."""
    argv = ["docker", "compose", "--ansi", "never", "--project-name", project]
    argv += ["--project-directory", str(project_directory)]
    for file in files:
        argv += ["-f", str(file)]
    return argv


@cache
def compose_version(docker: str = "docker") -> str:
    """The compose v2 version, or DockerUnavailable explaining how to install it."""
    if shutil.which(docker) is None:
        raise DockerUnavailable(
            f"athalia: the `{docker}` command is not on PATH; pytest-athalia drives Docker through it. "
            "Install the Docker CLI and engine (apt-get install docker.io), then run again."
        )
    proc = run_command(
        [docker, "compose", "version", "--short"],
        timeout=20,
        what="`docker compose version`",
        check=False,
        split_stderr=True,
        error=DockerUnavailable,
        timeout_error=DockerUnavailable,
        timeout_hint="Is the Docker CLI working?",
    )
    version = proc.stdout.strip().lstrip("v")
    if proc.returncode != 0 or not version[:1].isdigit() or int(version.split(".")[0]) < 2:
        found = (proc.stdout + proc.output).strip().splitlines()[-1:] or ["nothing"]
        raise DockerUnavailable(
            f"athalia: compose v2 is required (`docker compose ...`), found: {found[0]}. {INSTALL_HINT}"
        )
    return version


def docker_engine_version() -> str | None:
    """The engine's version, or None where no daemon answers."""
    # The CLI, not the SDK: the SDK leaks its socket when no daemon answers.
    try:
        proc = run_command(
            ["docker", "version", "--format", "{{.Server.Version}}"], timeout=10, check=False, split_stderr=True
        )
    except AthaliaError:  # no docker command, or no answer
        return None
    version = proc.stdout.strip()
    return version if proc.returncode == 0 and version else None
