"""Finding and removing a run's resources by compose project label.

Every compose project of ours is named ``athalia-<env>-<worker>-p<pid>-<hex6>`` (see
``docs/design.md``, "Project names"), and compose labels its containers, networks and volumes
with ``com.docker.compose.project=<project>``. That label is all we need to find a run's
leftovers, and the pid in the name tells whether the run that owns them is still alive.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, final

import docker  # type: ignore[import-untyped, unused-ignore]
import requests

from .._errors import CleanupError, ConfigError, DockerUnavailable
from ._compose import proc_stat

__all__ = [
    "PROJECT_LABEL",
    "PROJECT_PREFIX",
    "DockerResources",
    "FakeDockerResources",
    "Kind",
    "Leftovers",
    "Resource",
    "ResourceDriver",
    "find_leftovers",
    "make_project_name",
    "owner_pid",
    "pid_alive",
    "remove_project",
    "sweep",
]

PROJECT_LABEL = "com.docker.compose.project"
PROJECT_PREFIX = "athalia-"

# Compose allows longer names, but container names and hostnames built from the project
# (`<project>-<service>-1`) stay readable, and well under the 63-character DNS label limit.
_ENV_MAX = 24
_WORKER_MAX = 12
_NAME_RE = re.compile(
    r"athalia-(?P<env>[a-z0-9]+)-(?P<worker>[a-z0-9]+)-p(?P<pid>[1-9][0-9]{0,9})-(?P<token>[0-9a-f]{6})"
)
_TOKEN_RE = re.compile(r"[0-9a-f]{6}")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


class Kind(StrEnum):
    """The three kinds of resources compose creates for a project, in removal order."""

    CONTAINER = "container"
    NETWORK = "network"
    VOLUME = "volume"


@dataclass(frozen=True)
class Resource:
    """One labelled container, network or volume, as docker lists it."""

    kind: Kind
    ref: str  # what removal takes: the container or network id, the volume name
    name: str
    project: str


@dataclass(frozen=True)
class Leftovers:
    """The resources of one compose project: what was found, or what was removed."""

    project: str
    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.containers or self.networks or self.volumes)

    def describe(self) -> str:
        """One line, e.g. ``athalia-dev-main-p1-1a2b3c: 2 containers (a, b), 1 network (n)``."""
        parts = [
            f"{len(names)} {kind}{'' if len(names) == 1 else 's'} ({', '.join(names)})"
            for kind, names in (
                ("container", self.containers),
                ("network", self.networks),
                ("volume", self.volumes),
            )
            if names
        ]
        return f"{self.project}: {', '.join(parts) if parts else 'nothing'}"

    def remove_command(self) -> str:
        """The docker commands that remove these resources by hand."""
        commands = []
        if self.containers:
            commands.append(f"docker rm -f -v {' '.join(self.containers)}")
        if self.networks:
            commands.append(f"docker network rm {' '.join(self.networks)}")
        if self.volumes:
            commands.append(f"docker volume rm {' '.join(self.volumes)}")
        return " && ".join(commands)


# --- project names -------------------------------------------------------------------------


def make_project_name(env: str, worker: str, pid: int | None, token: str | None = None) -> str:
    """``athalia-<env>-<worker>-p<pid>-<hex6>``, with env and worker lowered to ``[a-z0-9]``.

    With ``pid=None`` the name is ``athalia-<env>-<worker>-keep-<hex6>``: owned by no process,
    so sweeps of dead runs leave it alone (a stack kept with --athalia-keep).
    """
    env_part = _NOT_ALNUM.sub("", env.lower())[:_ENV_MAX]
    if not env_part:
        raise ConfigError(
            f"athalia: the environment name {env!r} has no letters or digits, but compose project "
            "names are built from them ([a-z0-9]). Rename the environment file, e.g. to `dev.yaml`."
        )
    worker_part = _NOT_ALNUM.sub("", worker.lower())[:_WORKER_MAX]
    if not worker_part:
        raise ValueError(f"worker must contain [a-z0-9] (an xdist id like 'gw0', or 'main'), got {worker!r}")
    if pid is not None and pid <= 0:
        raise ValueError(f"pid must be a positive process id, got {pid}")
    if token is None:
        token = os.urandom(3).hex()
    elif not _TOKEN_RE.fullmatch(token):
        raise ValueError(f"token must be 6 lowercase hex digits, got {token!r}")
    owner = "keep" if pid is None else f"p{pid}"
    return f"{PROJECT_PREFIX}{env_part}-{worker_part}-{owner}-{token}"


def owner_pid(project: str) -> int | None:
    """The pid of the pytest process that owns `project`, or None if the name is not ours."""
    match = _NAME_RE.fullmatch(project)
    return int(match["pid"]) if match else None


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists here (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, and not ours to judge
    fields = proc_stat(pid)
    return fields is None or fields[0] != "Z"  # None: no /proc (macOS), kill(0) is all we know


# --- the driver ----------------------------------------------------------------------------


class ResourceDriver(Protocol):
    """The few docker operations cleanup needs. Removal of a missing resource is success."""

    def list_labelled(self, kind: Kind, project: str | None = None) -> Sequence[Resource]:
        """Resources of `kind` with the compose project label, equal to `project` if given."""
        ...

    def remove_container(self, ref: str) -> str | None:
        """Force-remove a container with its anonymous volumes; None if gone, else why not."""
        ...

    def remove_network(self, ref: str) -> str | None:
        """Remove a network; None if gone, else why not (e.g. it still has endpoints)."""
        ...

    def remove_volume(self, ref: str) -> str | None:
        """Remove a volume; None if gone, else why not (e.g. it is in use)."""
        ...


_DOCKER_HINT = "Start the Docker daemon (or set DOCKER_HOST), check `docker info`, then run again."


@final
class DockerResources:
    """ResourceDriver over the docker SDK's low-level API: one request per call, no inspects."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._api = client.api

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()

    @classmethod
    def from_env(cls) -> DockerResources:
        """Connect as the docker CLI would (DOCKER_HOST, ...), or raise DockerUnavailable."""
        try:
            return cls(docker.from_env())
        except (docker.errors.DockerException, requests.RequestException) as exc:
            problem = str(exc)
        _drop_failed_sockets()
        raise DockerUnavailable(f"athalia: cannot reach the Docker daemon ({problem}). {_DOCKER_HINT}")

    def list_labelled(self, kind: Kind, project: str | None = None) -> Sequence[Resource]:
        label = PROJECT_LABEL if project is None else f"{PROJECT_LABEL}={project}"
        filters = {"label": [label]}
        try:
            if kind is Kind.CONTAINER:
                rows = self._api.containers(all=True, filters=filters)
                return [
                    _resource(kind, row["Id"], (row.get("Names") or [row["Id"]])[0].lstrip("/"), row) for row in rows
                ]
            if kind is Kind.NETWORK:
                return [_resource(kind, row["Id"], row["Name"], row) for row in self._api.networks(filters=filters)]
            rows = self._api.volumes(filters=filters).get("Volumes") or []
            return [_resource(kind, row["Name"], row["Name"], row) for row in rows]
        except (docker.errors.DockerException, requests.RequestException) as exc:
            problem = str(exc)
        _drop_failed_sockets()
        raise DockerUnavailable(f"athalia: listing {kind}s labelled {label} failed: {problem}. {_DOCKER_HINT}")

    def remove_container(self, ref: str) -> str | None:
        return self._remove(self._api.remove_container, ref, v=True, force=True)

    def remove_network(self, ref: str) -> str | None:
        return self._remove(self._api.remove_network, ref)

    def remove_volume(self, ref: str) -> str | None:
        return self._remove(self._api.remove_volume, ref)

    @staticmethod
    def _remove(call: Callable[..., object], ref: str, **kwargs: object) -> str | None:
        try:
            call(ref, **kwargs)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            reason = str(exc.explanation or exc)
            # "removal of container ... is already in progress": someone else is removing it.
            if exc.status_code == 409 and "in progress" in reason:
                return None
            return reason
        except requests.RequestException as exc:
            problem = str(exc)
        else:
            return None
        _drop_failed_sockets()
        raise DockerUnavailable(f"athalia: removing {ref} failed: {problem}. {_DOCKER_HINT}")


def _drop_failed_sockets() -> None:
    # docker-py leaks the socket of a failed connection; its ResourceWarning would surface
    # later, in whatever test runs a garbage collection (an error under filterwarnings=error).
    # Call this after the except block, once nothing references the failed traceback.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _resource(kind: Kind, ref: object, name: object, row: dict[str, Any]) -> Resource:
    labels = row.get("Labels") or {}
    return Resource(kind, str(ref), str(name), str(labels.get(PROJECT_LABEL, "")))


class FakeDockerResources:
    """An in-memory ResourceDriver for tests, with docker's in-use rules; subclass it to script races.

    A network or volume used by a container cannot be removed until the container is gone,
    so removing in the wrong order shows up as a failure, as it does with docker.
    """

    def __init__(self) -> None:
        self._items: dict[str, Resource] = {}
        self._uses: dict[str, frozenset[str]] = {}
        self._stuck: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []  # ("remove_container", name), in call order

    def add(self, kind: Kind, name: str, project: str, *, uses: Iterable[str] = ()) -> Resource:
        """Create a resource; a container may use networks and volumes by name."""
        resource = Resource(kind, name, name, project)
        self._items[name] = resource
        if kind is Kind.CONTAINER:
            self._uses[name] = frozenset(uses)
        return resource

    def add_project(self, project: str, containers: int = 1) -> None:
        """A compose-like project: a default network, a volume, containers using both."""
        network, volume = f"{project}_default", f"{project}_data"
        self.add(Kind.NETWORK, network, project)
        self.add(Kind.VOLUME, volume, project)
        for index in range(1, containers + 1):
            self.add(Kind.CONTAINER, f"{project}-app-{index}", project, uses=(network, volume))

    def make_stuck(self, name: str, reason: str = "device or resource busy") -> None:
        """Make every removal of `name` fail with `reason`."""
        self._stuck[name] = reason

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._items)

    def list_labelled(self, kind: Kind, project: str | None = None) -> Sequence[Resource]:
        return [
            item
            for item in self._items.values()
            if item.kind is kind and (item.project == project if project is not None else bool(item.project))
        ]

    def remove_container(self, ref: str) -> str | None:
        return self._remove("remove_container", Kind.CONTAINER, ref)

    def remove_network(self, ref: str) -> str | None:
        return self._remove("remove_network", Kind.NETWORK, ref)

    def remove_volume(self, ref: str) -> str | None:
        return self._remove("remove_volume", Kind.VOLUME, ref)

    def _remove(self, call: str, kind: Kind, ref: str) -> str | None:
        self.calls.append((call, ref))
        item = self._items.get(ref)
        if item is None or item.kind is not kind:
            return None
        if ref in self._stuck:
            return self._stuck[ref]
        users = sorted(name for name, used in self._uses.items() if ref in used and name in self._items)
        if users:
            return f"{kind} {ref} is in use by {', '.join(users)}"
        del self._items[ref]
        self._uses.pop(ref, None)
        return None


# --- finding and removing ------------------------------------------------------------------

_REMOVERS: dict[Kind, Callable[[ResourceDriver, str], str | None]] = {
    Kind.CONTAINER: lambda api, ref: api.remove_container(ref),
    Kind.NETWORK: lambda api, ref: api.remove_network(ref),
    Kind.VOLUME: lambda api, ref: api.remove_volume(ref),
}


def find_leftovers(api: ResourceDriver, project: str | None = None) -> tuple[Leftovers, ...]:
    """What is left of each of our projects (only `project` if given), sorted by project."""
    found: dict[str, dict[Kind, list[str]]] = {}
    for kind in Kind:
        for item in api.list_labelled(kind, project):
            if project is None and not item.project.startswith(PROJECT_PREFIX):
                continue
            found.setdefault(item.project, {k: [] for k in Kind})[kind].append(item.name)
    return tuple(_leftovers(name, found[name]) for name in sorted(found))


def remove_project(
    api: ResourceDriver,
    project: str,
    *,
    settle_seconds: float = 0.0,
    deadline_seconds: float = 60.0,
    poll_seconds: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Leftovers:
    """Remove everything labelled with `project`; return what was removed.

    Sweeps (containers, then networks, then volumes) until one finds nothing and, with
    `settle_seconds`, until nothing new appeared for that long: a compose killed with its
    parent may still be creating things. Raises CleanupError if anything survives the deadline.
    """
    start = clock()
    removed: dict[Kind, dict[str, None]] = {kind: {} for kind in Kind}  # ordered sets of names
    errors: dict[str, str] = {}
    previous: set[str] = set()
    quiet_since: float | None = None
    while True:
        seen: set[str] = set()
        failed = False
        for kind in Kind:  # containers first: they hold networks and volumes
            for item in api.list_labelled(kind, project):
                seen.add(item.ref)
                reason = _REMOVERS[kind](api, item.ref)
                if reason is None:
                    removed[kind][item.name] = None
                    errors.pop(item.name, None)
                else:
                    errors[item.name] = reason
                    failed = True
        now = clock()
        if not seen:
            previous = set()
            quiet_since = now if quiet_since is None else quiet_since
            if now - quiet_since >= settle_seconds or now - start >= deadline_seconds:
                return _leftovers(project, {kind: list(names) for kind, names in removed.items()})
            sleep(max(0.0, min(poll_seconds, quiet_since + settle_seconds - now, start + deadline_seconds - now)))
            continue
        quiet_since = None
        if now - start >= deadline_seconds:
            survivors = find_leftovers(api, project)
            if survivors:
                raise CleanupError(_survivors_message(survivors[0], errors, deadline_seconds))
            return _leftovers(project, {kind: list(names) for kind, names in removed.items()})
        if failed or seen & previous:
            # No progress (busy, or removal still in progress): wait instead of spinning.
            sleep(max(0.0, min(poll_seconds, start + deadline_seconds - now)))
        previous = seen


def sweep(
    api: ResourceDriver,
    *,
    include_live: bool = False,
    pid_alive: Callable[[int], bool] = pid_alive,
    settle_seconds: float = 0.0,
    deadline_seconds: float = 60.0,
) -> tuple[Leftovers, ...]:
    """Remove our projects whose owner process is dead (all ``athalia-*`` ones with include_live).

    Projects whose name carries no owner pid are left alone unless include_live is set.
    Raises CleanupError naming every project that survived, after trying all of them.
    """
    removed: list[Leftovers] = []
    failures: list[str] = []
    for found in find_leftovers(api):
        owner = owner_pid(found.project)
        if not include_live and (owner is None or pid_alive(owner)):
            continue
        try:
            removed.append(
                remove_project(api, found.project, settle_seconds=settle_seconds, deadline_seconds=deadline_seconds)
            )
        except CleanupError as exc:
            failures.append(str(exc))
    if failures:
        raise CleanupError("\n".join(failures))
    return tuple(removed)


def generated_root() -> Path:
    """Where runs write generated files (the compose override), one ``<project>-<random>`` folder each."""
    return Path(tempfile.gettempdir()) / "athalia"


_WATCHDOG_LOG = re.compile(r"watchdog-(?P<pid>[0-9]+)\.log")
LOG_KEEP_SECONDS = 7 * 24 * 3600  # a crashed run's watchdog log stays a week for reading


def sweep_files(
    root: Path | None = None,
    *,
    pid_alive: Callable[[int], bool] = pid_alive,
    now: float | None = None,
    dry_run: bool = False,
) -> tuple[Path, ...]:
    """Remove what dead runs left in `root` (default :func:`generated_root`); return what went.

    With `dry_run`, remove nothing and return what would go.

    A run removes its generated-file folder when its stack stops, and its watchdog log when it
    ends cleanly; only a killed run leaves them behind. Its log is kept for a week.
    """
    folder = generated_root() if root is None else root
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return ()
    oldest = (time.time() if now is None else now) - LOG_KEEP_SECONDS
    for entry in entries:
        log = _WATCHDOG_LOG.fullmatch(entry.name)
        if log is not None:
            with contextlib.suppress(OSError):
                if entry.is_file() and entry.stat().st_mtime < oldest and not pid_alive(int(log["pid"])):
                    if not dry_run:
                        entry.unlink()
                    removed.append(entry)
            continue
        owner = owner_pid(entry.name.rpartition("-")[0])
        if owner is None or pid_alive(owner) or not entry.is_dir() or entry.is_symlink():
            continue
        if not dry_run:
            shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return tuple(removed)


def _leftovers(project: str, names: dict[Kind, list[str]]) -> Leftovers:
    return Leftovers(
        project,
        containers=tuple(names[Kind.CONTAINER]),
        networks=tuple(names[Kind.NETWORK]),
        volumes=tuple(names[Kind.VOLUME]),
    )


def _survivors_message(survivors: Leftovers, errors: dict[str, str], deadline_seconds: float) -> str:
    names = survivors.containers + survivors.networks + survivors.volumes
    reasons = "; ".join(f"{name}: {errors[name]}" for name in names if name in errors) or "none reported"
    return (
        f"athalia: expected nothing labelled {PROJECT_LABEL}={survivors.project} after "
        f"{deadline_seconds:g} s of cleanup, found {survivors.describe()} (docker said: {reasons}). "
        f"Remove them with `athalia cleanup --all` or `{survivors.remove_command()}`."
    )
