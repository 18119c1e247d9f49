"""Finding and removing a run's resources: compose projects by label, and the images runs built.

Every compose project of ours is named ``athalia-<env>-<worker>-p<pid>-<hex6>`` (see
``docs/design.md``, "Project names"), and compose labels its containers, networks and volumes
with ``com.docker.compose.project=<project>``: that label finds a run's leftovers. Whether the
run that owns them is dead is told by the owner labels of :mod:`._ownership`, never by the pid in
the name: the pid is read in the owner's PID namespace, which need not be ours.

Images built for a service without ``image:`` carry a stable tag per environment (see
:func:`pytest_athalia.stack._override.build_tag`) and :data:`IMAGE_LABEL`; each build moves the tag,
so the previous build is left untagged: those are removed when no container uses them.
"""

from __future__ import annotations

import contextlib
import gc
import json
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
from ._ownership import ENV_LABEL, Place, RunOwner, Verdict, judge, owner_from_labels, process_start, this_place

__all__ = [
    "IMAGE_LABEL",
    "PROJECT_LABEL",
    "PROJECT_PREFIX",
    "CleanupPlan",
    "CleanupResult",
    "DockerResources",
    "FakeDockerResources",
    "Image",
    "Judged",
    "JudgedImage",
    "Kind",
    "Leftovers",
    "Resource",
    "ResourceDriver",
    "carry_out",
    "env_slug",
    "find_leftovers",
    "judge_project",
    "make_project_name",
    "owner_pid",
    "pid_alive",
    "plan_cleanup",
    "remove_old_builds",
    "remove_project",
    "sweep",
    "sweep_files",
    "write_owner_file",
]

PROJECT_LABEL = "com.docker.compose.project"
PROJECT_PREFIX = "athalia-"
IMAGE_LABEL = "dev.athalia.image"  # on images we build: the stable tag they were built as
OWNER_FILE = "owner.json"  # in a generated-files folder: the owner labels of the run that made it

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
    owner: RunOwner | None = None  # from its owner labels
    image: str = ""  # a container's image id


@dataclass(frozen=True)
class Leftovers:
    """The resources of one compose project: what was found, or what was removed."""

    project: str
    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    owners: tuple[RunOwner, ...] = ()  # the distinct owners its resources name (one, for a run of ours)

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


@dataclass(frozen=True)
class Image:
    """An image we built: `built_as` is its stable tag; an older build has lost that tag (`tags` empty)."""

    ref: str  # the image id
    tags: tuple[str, ...]
    built_as: str
    env: str = ""
    owner: RunOwner | None = None  # the run that built it

    @property
    def untagged(self) -> bool:
        return not self.tags

    @property
    def removal_ref(self) -> str:
        """What to remove: our tag (other tags someone added stay), or the id of an untagged build."""
        return self.built_as if self.built_as in self.tags else self.ref

    def describe(self) -> str:
        short = self.ref.removeprefix("sha256:")[:12]
        return f"image {self.built_as} ({short})" if self.tags else f"image {short} (an older build of {self.built_as})"


@dataclass(frozen=True)
class Judged:
    """A project found, what its owner labels say, and whether this cleanup removes it."""

    leftovers: Leftovers
    verdict: Verdict
    remove: bool

    @property
    def project(self) -> str:
        return self.leftovers.project

    def reason(self) -> str:
        """Why it is left (or removed), for `athalia cleanup --dry-run`."""
        owners = self.leftovers.owners
        if self.verdict is Verdict.UNKNOWN:
            if len(owners) > 1:
                return "its resources name different owners"
            kept = "-keep-" in self.project
            return "kept with --athalia-keep" if kept else "no owner labels (made by hand or by an older version)"
        owner = owners[0].describe()
        return {
            Verdict.DEAD: f"its run ({owner}) is gone",
            Verdict.ALIVE: f"its run ({owner}) is alive",
            Verdict.ELSEWHERE: f"owned by another host or PID namespace: {owner}",
        }[self.verdict]


@dataclass(frozen=True)
class JudgedImage:
    image: Image
    verdict: Verdict
    remove: bool

    def reason(self) -> str:
        if self.image.untagged:
            return "an older build, untagged"
        if self.image.owner is None:
            return "built with no owner labels"
        return {
            Verdict.DEAD: f"its last build's run ({self.image.owner.describe()}) is gone",
            Verdict.ALIVE: f"its last build's run ({self.image.owner.describe()}) is alive",
            Verdict.ELSEWHERE: f"built by another host or PID namespace: {self.image.owner.describe()}",
            Verdict.UNKNOWN: "built with no owner labels",
        }[self.verdict]


@dataclass(frozen=True)
class CleanupPlan:
    """Everything a cleanup found, each judged; :func:`carry_out` removes what is marked."""

    projects: tuple[Judged, ...] = ()
    images: tuple[JudgedImage, ...] = ()

    @property
    def doomed_projects(self) -> tuple[Judged, ...]:
        return tuple(j for j in self.projects if j.remove)

    @property
    def doomed_images(self) -> tuple[JudgedImage, ...]:
        return tuple(j for j in self.images if j.remove)


# --- project names -------------------------------------------------------------------------


def make_project_name(env: str, worker: str, pid: int | None, token: str | None = None) -> str:
    """``athalia-<env>-<worker>-p<pid>-<hex6>``, with env and worker lowered to ``[a-z0-9]``.

    With ``pid=None`` the name is ``athalia-<env>-<worker>-keep-<hex6>``: a stack kept with
    --athalia-keep, which carries no owner labels, so sweeps of dead runs leave it alone.
    """
    env_part = env_slug(env)
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
    """The pid in `project`'s name, or None if the name is not ours.

    For people reading names only: that pid means something in the owner's PID namespace alone.
    Whether the owner lives is told by its owner labels (:func:`judge_project`).
    """
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

    def list_images(self) -> Sequence[Image]:
        """Images labelled :data:`IMAGE_LABEL`, untagged ones included."""
        ...

    def remove_image(self, ref: str) -> str | None:
        """Remove a tag, or an image by id, never forced; None if gone, else why not (a container uses it)."""
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

    def list_images(self) -> Sequence[Image]:
        try:
            rows = self._api.images(filters={"label": [IMAGE_LABEL]})
        except (docker.errors.DockerException, requests.RequestException) as exc:
            problem = str(exc)
        else:
            return [_image(row) for row in rows]
        _drop_failed_sockets()
        raise DockerUnavailable(f"athalia: listing images labelled {IMAGE_LABEL} failed: {problem}. {_DOCKER_HINT}")

    def remove_image(self, ref: str) -> str | None:
        return self._remove(self._api.remove_image, ref, force=False)

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
    return Resource(
        kind,
        str(ref),
        str(name),
        str(labels.get(PROJECT_LABEL, "")),
        owner_from_labels(labels),
        str(row.get("ImageID") or ""),
    )


def _image(row: dict[str, Any]) -> Image:
    labels = row.get("Labels") or {}
    tags = tuple(str(tag) for tag in row.get("RepoTags") or () if tag != "<none>:<none>")
    return Image(
        str(row["Id"]),
        tags,
        str(labels.get(IMAGE_LABEL, "")),
        str(labels.get(ENV_LABEL, "")),
        owner_from_labels(labels),
    )


class FakeDockerResources:
    """An in-memory ResourceDriver for tests, with docker's in-use rules; subclass it to script races.

    A network or volume used by a container cannot be removed until the container is gone, nor an
    image a container was created from: removing in the wrong order fails, as it does with docker.
    """

    def __init__(self) -> None:
        self._items: dict[str, Resource] = {}
        self._uses: dict[str, frozenset[str]] = {}
        self._stuck: dict[str, str] = {}
        self._images: dict[str, Image] = {}
        self.calls: list[tuple[str, str]] = []  # ("remove_container", name), in call order

    def add(
        self,
        kind: Kind,
        name: str,
        project: str,
        *,
        uses: Iterable[str] = (),
        owner: RunOwner | None = None,
        image: str = "",
    ) -> Resource:
        """Create a resource; a container may use networks and volumes by name, and an image by id."""
        resource = Resource(kind, name, name, project, owner, image)
        self._items[name] = resource
        if kind is Kind.CONTAINER:
            self._uses[name] = frozenset(uses)
        return resource

    def add_project(self, project: str, containers: int = 1, *, owner: RunOwner | None = None, image: str = "") -> None:
        """A compose-like project: a default network, a volume, containers using both (and `image`)."""
        network, volume = f"{project}_default", f"{project}_data"
        self.add(Kind.NETWORK, network, project, owner=owner)
        self.add(Kind.VOLUME, volume, project, owner=owner)
        for index in range(1, containers + 1):
            self.add(
                Kind.CONTAINER, f"{project}-app-{index}", project, uses=(network, volume), owner=owner, image=image
            )

    def add_image(
        self, ref: str, built_as: str, *, tagged: bool = True, env: str = "", owner: RunOwner | None = None
    ) -> Image:
        """An image we built; untagged: an older build whose tag a newer build took."""
        image = Image(ref, (built_as,) if tagged else (), built_as, env, owner)
        self._images[ref] = image
        return image

    def close(self) -> None:
        """Nothing to close; here so the fake stands in for DockerResources in the CLI."""

    def make_stuck(self, name: str, reason: str = "device or resource busy") -> None:
        """Make every removal of `name` fail with `reason`."""
        self._stuck[name] = reason

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._items)

    @property
    def image_refs(self) -> tuple[str, ...]:
        return tuple(self._images)

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

    def list_images(self) -> Sequence[Image]:
        return list(self._images.values())

    def remove_image(self, ref: str) -> str | None:
        self.calls.append(("remove_image", ref))
        image = self._images.get(ref) or next((i for i in self._images.values() if ref in i.tags), None)
        if image is None:
            return None
        users = sorted(name for name, item in self._items.items() if item.image == image.ref)
        if users:
            return f"conflict: unable to remove {ref}: image is being used by container {users[0]}"
        del self._images[image.ref]
        return None

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


def find_leftovers(
    api: ResourceDriver, project: str | None = None, *, prefix: str = PROJECT_PREFIX
) -> tuple[Leftovers, ...]:
    """What is left of each of our projects (only `project` if given, else those named `prefix`...), by name."""
    found: dict[str, dict[Kind, list[str]]] = {}
    owners: dict[str, dict[RunOwner, None]] = {}
    for kind in Kind:
        for item in api.list_labelled(kind, project):
            if project is None and not item.project.startswith(prefix):
                continue
            found.setdefault(item.project, {k: [] for k in Kind})[kind].append(item.name)
            if item.owner is not None:
                owners.setdefault(item.project, {})[item.owner] = None
    return tuple(_leftovers(name, found[name], tuple(owners.get(name, ()))) for name in sorted(found))


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


def judge_project(leftovers: Leftovers, here: Place | None, start_of: Callable[[int], int | None]) -> Verdict:
    """The verdict on a project: its resources must all name one owner, and that owner must be dead."""
    if len(leftovers.owners) != 1:
        return Verdict.UNKNOWN
    return judge(leftovers.owners[0], here, start_of)


def plan_cleanup(
    api: ResourceDriver,
    *,
    include_live: bool = False,
    images: bool = True,
    env: str | None = None,
    here: Callable[[], Place | None] = this_place,
    start_of: Callable[[int], int | None] = process_start,
) -> CleanupPlan:
    """Find our projects (and images) and judge each: what a cleanup would remove, and why the rest stays.

    Removed: projects whose owner is provably dead; untagged older builds; tagged builds whose
    last builder is provably dead. With `include_live`, every ``athalia-*`` project and every
    image of ours. `env` limits it to one environment. Images a container uses stay either way
    (docker refuses, and :func:`carry_out` reports it).
    """
    place = here()
    prefix = PROJECT_PREFIX if env is None else f"{PROJECT_PREFIX}{env_slug(env)}-"
    projects = []
    for found in find_leftovers(api, prefix=prefix):
        verdict = judge_project(found, place, start_of)
        projects.append(Judged(found, verdict, include_live or verdict is Verdict.DEAD))
    judged_images = []
    if images:
        for image in sorted(api.list_images(), key=lambda i: (i.built_as, i.untagged, i.ref)):
            if env is not None and image.env != env_slug(env):
                continue
            verdict = judge(image.owner, place, start_of)
            remove = include_live or image.untagged or verdict is Verdict.DEAD
            judged_images.append(JudgedImage(image, verdict, remove))
    return CleanupPlan(tuple(projects), tuple(judged_images))


@dataclass(frozen=True)
class CleanupResult:
    """What :func:`carry_out` removed, and the images docker refused to remove (with its reason)."""

    projects: tuple[Leftovers, ...] = ()
    images: tuple[Image, ...] = ()
    refused: tuple[tuple[Image, str], ...] = ()


def carry_out(
    api: ResourceDriver, plan: CleanupPlan, *, settle_seconds: float = 0.0, deadline_seconds: float = 60.0
) -> CleanupResult:
    """Remove the projects `plan` marks, then its images (containers first: they hold images).

    Raises CleanupError naming every project that survived, after trying all of them.
    """
    removed: list[Leftovers] = []
    failures: list[str] = []
    for judged in plan.doomed_projects:
        try:
            removed.append(
                remove_project(api, judged.project, settle_seconds=settle_seconds, deadline_seconds=deadline_seconds)
            )
        except CleanupError as exc:
            failures.append(str(exc))
    gone: list[Image] = []
    refused: list[tuple[Image, str]] = []
    for judged_image in plan.doomed_images:
        reason = api.remove_image(judged_image.image.removal_ref)
        if reason is None:
            gone.append(judged_image.image)
        else:
            refused.append((judged_image.image, reason))
    if failures:
        raise CleanupError("\n".join(failures))
    return CleanupResult(tuple(removed), tuple(gone), tuple(refused))


def sweep(
    api: ResourceDriver,
    *,
    include_live: bool = False,
    here: Callable[[], Place | None] = this_place,
    start_of: Callable[[int], int | None] = process_start,
    settle_seconds: float = 0.0,
    deadline_seconds: float = 60.0,
) -> tuple[Leftovers, ...]:
    """Remove our projects whose owner is provably dead (all ``athalia-*`` ones with include_live).

    Projects owned elsewhere (another host, boot or PID namespace), kept ones and those without
    owner labels are left alone unless include_live is set. Images are not touched.
    Raises CleanupError naming every project that survived, after trying all of them.
    """
    plan = plan_cleanup(api, include_live=include_live, images=False, here=here, start_of=start_of)
    return carry_out(api, plan, settle_seconds=settle_seconds, deadline_seconds=deadline_seconds).projects


def remove_old_builds(api: ResourceDriver, env: str | None = None) -> tuple[Image, ...]:
    """Remove our untagged older builds (of `env` only, if given) that no container uses; return them."""
    gone = []
    for image in api.list_images():
        if image.untagged and (env is None or image.env == env_slug(env)) and api.remove_image(image.ref) is None:
            gone.append(image)
    return tuple(gone)


def generated_root() -> Path:
    """Where runs write generated files (the compose override), one ``<project>-<random>`` folder each."""
    return Path(tempfile.gettempdir()) / "athalia"


_WATCHDOG_LOG = re.compile(r"watchdog-(?P<pid>[0-9]+)\.log")
LOG_KEEP_SECONDS = 7 * 24 * 3600  # a crashed run's watchdog log stays a week for reading


def sweep_files(
    root: Path | None = None,
    *,
    pid_alive: Callable[[int], bool] = pid_alive,
    here: Callable[[], Place | None] = this_place,
    start_of: Callable[[int], int | None] = process_start,
    now: float | None = None,
    dry_run: bool = False,
    prefix: str = PROJECT_PREFIX,
) -> tuple[Path, ...]:
    """Remove what dead runs left in `root` (default :func:`generated_root`); return what went.

    With `dry_run`, remove nothing and return what would go. `prefix` limits it to the folders of
    projects so named (watchdog logs only go with the default prefix).

    A run removes its generated-file folder when its stack stops, and its watchdog log when it
    ends cleanly; only a killed run leaves them behind. A folder goes when the owner its
    :data:`OWNER_FILE` names is provably dead (a folder without one is left: /tmp is shared by
    PID namespaces). A watchdog log is kept for a week.
    """
    folder = generated_root() if root is None else root
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return ()
    oldest = (time.time() if now is None else now) - LOG_KEEP_SECONDS
    place = here()
    for entry in entries:
        log = _WATCHDOG_LOG.fullmatch(entry.name) if prefix == PROJECT_PREFIX else None
        if log is not None:
            with contextlib.suppress(OSError):
                if entry.is_file() and entry.stat().st_mtime < oldest and not pid_alive(int(log["pid"])):
                    if not dry_run:
                        entry.unlink()
                    removed.append(entry)
            continue
        if not entry.name.startswith(prefix) or not entry.is_dir() or entry.is_symlink():
            continue
        if judge(_folder_owner(entry), place, start_of) is not Verdict.DEAD:
            continue
        if not dry_run:
            shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return tuple(removed)


def write_owner_file(folder: Path, owner: RunOwner | None) -> None:
    """Record `owner` in a generated-files folder, so a sweep of dead runs can judge the folder."""
    if owner is not None:
        (folder / OWNER_FILE).write_text(json.dumps(owner.labels()), encoding="utf-8")


def _folder_owner(folder: Path) -> RunOwner | None:
    try:
        labels = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(labels, dict):
        return None
    return owner_from_labels({str(k): str(v) for k, v in labels.items()})


def env_slug(env: str) -> str:
    """An environment name as project names and image tags carry it: ``[a-z0-9]``, at most 24 characters."""
    return _NOT_ALNUM.sub("", env.lower())[:_ENV_MAX]


def _leftovers(project: str, names: dict[Kind, list[str]], owners: tuple[RunOwner, ...] = ()) -> Leftovers:
    return Leftovers(
        project,
        containers=tuple(names[Kind.CONTAINER]),
        networks=tuple(names[Kind.NETWORK]),
        volumes=tuple(names[Kind.VOLUME]),
        owners=owners,
    )


def _survivors_message(survivors: Leftovers, errors: dict[str, str], deadline_seconds: float) -> str:
    names = survivors.containers + survivors.networks + survivors.volumes
    reasons = "; ".join(f"{name}: {errors[name]}" for name in names if name in errors) or "none reported"
    return (
        f"athalia: expected nothing labelled {PROJECT_LABEL}={survivors.project} after "
        f"{deadline_seconds:g} s of cleanup, found {survivors.describe()} (docker said: {reasons}). "
        f"Remove them with `athalia cleanup --all` or `{survivors.remove_command()}`."
    )
