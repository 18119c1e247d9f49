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
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from .._errors import CleanupError, ConfigError
from .._process import proc_stat
from ._ownership import Place, RunOwner, Verdict, judge, owner_from_labels, process_start, this_place
from ._resources import (
    IMAGE_LABEL,
    PROJECT_LABEL,
    DockerResources,
    FakeDockerResources,
    Image,
    Kind,
    Resource,
    ResourceDriver,
)

__all__ = [
    "IMAGE_LABEL",
    "PROJECT_LABEL",
    "PROJECT_PREFIX",
    "CleanupPlan",
    "CleanupResult",
    "DockerResources",
    "FakeDockerResources",
    "Image",  # the driver's names are re-exported: callers import them from here
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

PROJECT_PREFIX = "athalia-"
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
        if self.image.named:
            return "the compose file's own image name: only its older builds are removed"
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
            # A name from the user's compose file stays; its older builds, untagged, go.
            remove = image.untagged or (not image.named and (include_live or verdict is Verdict.DEAD))
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


def remove_old_builds(
    api: ResourceDriver, env: str | None = None, *, names: Collection[str] | None = None
) -> tuple[Image, ...]:
    """Remove our untagged older builds that no container uses; return them.

    Only those of environment `env`, and only builds of the image `names` if given: a run passes the
    names it built, so the build another environment's run left untagged when this run took a shared
    name (``image: app:1`` of the compose file) goes too.
    """
    gone = []
    for image in api.list_images():
        if not image.untagged or (env is not None and image.env != env_slug(env)):
            continue
        if names is not None and image.built_as not in names:
            continue
        if api.remove_image(image.ref) is None:
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
        # 0600 like every generated file: the folder is private, and so is each file in it.
        fd = os.open(folder / OWNER_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(owner.labels()))


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
