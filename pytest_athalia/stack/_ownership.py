"""Who owns a run's Docker resources, and whether that owner is provably dead.

Every container, network, volume and built image of a run carries the labels of :class:`RunOwner`:
the machine id, the kernel's boot id, the inode of the PID namespace, the pid and the process start
time (field 22 of ``/proc/<pid>/stat``). A pid alone says nothing on a daemon shared by hosts or by
CI jobs in containers (each its own PID namespace), and a pid is reused; these five together name
one process once. :func:`judge` is the only place that turns them into a verdict.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from .._process import proc_stat

__all__ = [
    "ENV_LABEL",
    "OWNER_LABELS",
    "UNREADABLE",
    "Place",
    "RunOwner",
    "Verdict",
    "judge",
    "owner_from_labels",
    "process_start",
    "this_place",
    "this_run",
]

_PREFIX: Final = "dev.athalia.owner."
MACHINE_LABEL: Final = _PREFIX + "machine"
BOOT_LABEL: Final = _PREFIX + "boot"
PIDNS_LABEL: Final = _PREFIX + "pidns"
PID_LABEL: Final = _PREFIX + "pid"
START_LABEL: Final = _PREFIX + "start"
HOST_LABEL: Final = _PREFIX + "host"  # for people reading `docker inspect`; never judged
OWNER_LABELS: Final = (MACHINE_LABEL, BOOT_LABEL, PIDNS_LABEL, PID_LABEL, START_LABEL, HOST_LABEL)
ENV_LABEL: Final = "dev.athalia.env"

UNREADABLE: Final = -1  # a start time for "this pid runs, but /proc does not show us when it started"

_MACHINE_ID_FILES: Final = ("/etc/machine-id", "/var/lib/dbus/machine-id")
# proc_stat() returns the fields after the command: field 3 (state) is index 0, so field 22 is 19.
_START_INDEX: Final = 22 - 3


@dataclass(frozen=True)
class Place:
    """Where pids mean something: one PID namespace of one boot of one machine.

    `machine` may be "" (many container images have no /etc/machine-id); the boot id (random
    per boot, shared by containers on one kernel) and the namespace inode still tell places apart.
    """

    machine: str
    boot: str
    pidns: int


@dataclass(frozen=True)
class RunOwner:
    """The pytest process that owns a run's resources."""

    place: Place
    pid: int
    start: int  # clock ticks after boot
    host: str = ""

    def labels(self) -> dict[str, str]:
        """The labels that carry this owner on every resource of the run."""
        return {
            MACHINE_LABEL: self.place.machine,
            BOOT_LABEL: self.place.boot,
            PIDNS_LABEL: str(self.place.pidns),
            PID_LABEL: str(self.pid),
            START_LABEL: str(self.start),
            HOST_LABEL: self.host,
        }

    def describe(self) -> str:
        """``pid 123 on host ci-7 (boot 7d5a7e2e, PID namespace 4026531836)``."""
        host = f" on host {self.host}" if self.host else ""
        return f"pid {self.pid}{host} (boot {self.place.boot[:8]}, PID namespace {self.place.pidns})"


class Verdict(StrEnum):
    """What a run may do with resources it finds."""

    DEAD = "dead"  # same place, and the owner's pid is gone or now names another process: remove
    ALIVE = "alive"  # same place, same process: leave
    ELSEWHERE = "elsewhere"  # another machine, boot or PID namespace: not ours to judge, leave
    UNKNOWN = "unknown"  # no owner labels (a kept stack, an older version, made by hand): leave


def owner_from_labels(labels: Mapping[str, str]) -> RunOwner | None:
    """The owner that `labels` name, or None when they name none (or not completely)."""
    try:
        boot = labels[BOOT_LABEL]
        owner = RunOwner(
            Place(labels.get(MACHINE_LABEL, ""), boot, int(labels[PIDNS_LABEL])),
            int(labels[PID_LABEL]),
            int(labels[START_LABEL]),
            labels.get(HOST_LABEL, ""),
        )
    except (KeyError, ValueError):
        return None
    return owner if boot and owner.pid > 0 and owner.place.pidns > 0 else None


def judge(owner: RunOwner | None, here: Place | None, start_of: Callable[[int], int | None]) -> Verdict:
    """Whether `owner` is provably dead, seen from `here` (None: where we are cannot be told).

    `start_of(pid)` is the start time of process `pid` in our PID namespace, None if there is none,
    :data:`UNREADABLE` if it runs but its start time cannot be read (``/proc`` mounted with hidepid).
    """
    if owner is None:
        return Verdict.UNKNOWN
    if here is None or owner.place != here:
        return Verdict.ELSEWHERE
    start = start_of(owner.pid)
    if start is None:
        return Verdict.DEAD
    return Verdict.ALIVE if start in (owner.start, UNREADABLE) else Verdict.DEAD


# --- reading where we are ---------------------------------------------------------------------


def process_start(pid: int) -> int | None:
    """The start time of `pid` here (clock ticks after boot); None if no such process, or a zombie.

    :data:`UNREADABLE` when the process exists but its ``/proc`` entry cannot be read: not provably dead.
    """
    fields = proc_stat(pid)
    if fields is not None and len(fields) > _START_INDEX and fields[_START_INDEX].isdigit():
        return None if fields[0] == "Z" else int(fields[_START_INDEX])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # another user's process
    return UNREADABLE  # it runs, but /proc hides it (hidepid) or shows it garbled


def this_place(proc: Path = Path("/proc"), machine_id_files: tuple[str, ...] = _MACHINE_ID_FILES) -> Place | None:
    """Our place, or None where it cannot be told (no /proc, or a /proc of another PID namespace)."""
    try:
        boot = (proc / "sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        pidns = os.stat(proc / "self/ns/pid").st_ino
        # /proc mounted for another namespace (`unshare --pid` without --mount-proc) shows
        # other processes under our pids: liveness read there would be wrong.
        self_pid = int((proc / "self/stat").read_text(encoding="ascii", errors="replace").split(" ", 1)[0])
    except (OSError, ValueError):
        return None
    if not boot or self_pid != os.getpid():
        return None
    return Place(_machine_id(machine_id_files), boot, pidns)


def this_run() -> RunOwner | None:
    """This process as the owner of a run, or None where its place or start time cannot be told."""
    place = this_place()
    start = process_start(os.getpid()) if place is not None else None
    if place is None or start is None:
        return None
    return RunOwner(place, os.getpid(), start, socket.gethostname())


def _machine_id(files: tuple[str, ...]) -> str:
    for name in files:
        try:
            text = Path(name).read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            continue
        if text:
            return text
    return ""
