"""A detached process that removes a run's resources when pytest dies (a Ryuk without an image).

testcontainers' compose module has no reaper, so each run starts this tiny process and tells
it, one line at a time on its stdin, which compose projects and process groups to watch.
When pytest dies (``kill -9``, OOM, a crash), the kernel closes pytest's end of the pipe, the
watchdog reads EOF, kills the registered process groups, and removes the registered projects.
When pytest ends normally it says ``bye``: the watchdog exits at once if every project was
released (removed, or handed over with --athalia-keep), and otherwise removes the rest (a
removal that a second Ctrl-C cut short), detached from pytest, which need not wait.

EOF on the pipe is instant and immune to PID reuse, unlike polling a pid. A forked child of
pytest that never exec'd could keep the pipe open, so the watchdog also notices being
reparented. This module must not import pytest, and imports docker only when it must clean.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, final

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

__all__ = ["Watchdog", "main"]

# The package's __init__ and stack/__init__ import nothing (the public API is lazy), so the
# child runs `python -m` this module and imports only it (and, when it must clean, cleanup).
_MODULE = "pytest_athalia.stack._watchdog"
_BYE = "bye"
_WATCH_PROJECT = "watch-project"
_PROJECT_REMOVED = "project-removed"
_WATCH_GROUP = "watch-group"
_FORGET_GROUP = "forget-group"

_TERM_GRACE_SECONDS = 2.0
_SETTLE_SECONDS = 3.0  # a compose that outlived pytest may still be creating things
_DEADLINE_SECONDS = 120.0
_PARENT_POLL_SECONDS = 1.0
_CLOSE_TIMEOUT_SECONDS = 5.0


def child_environment() -> dict[str, str]:
    """This environment, with the folder that holds our package first on the child's path.

    The child imports the same copy of the package as pytest, wherever that came from (a wheel,
    an editable install, a checkout on pytest's ``pythonpath``).
    """
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


# --- parent side (in pytest) ---------------------------------------------------------------


@final
class Watchdog:
    """pytest's handle on its watchdog process. ``close()`` is the normal end of a run."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path | None = None) -> None:
        self._process = process
        self._log_path = log_path
        self._outstanding: set[str] = set()
        self._owner = os.getpid()
        self._closed = False
        self._broken = False
        self._lock = threading.Lock()  # compose commands may register their groups from threads

    @classmethod
    def start(cls, *, log_path: Path | None = None) -> Watchdog:
        """Spawn the watchdog; its output goes to `log_path` (appended) or nowhere."""
        log: IO[bytes] | None = open(log_path, "ab") if log_path is not None else None  # noqa: SIM115
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", _MODULE, f"--parent={os.getpid()}"],
                env=child_environment(),
                stdin=subprocess.PIPE,
                stdout=log if log is not None else subprocess.DEVNULL,
                stderr=subprocess.STDOUT if log is not None else subprocess.DEVNULL,
                # Its own session: Ctrl-C in the terminal and a kill of pytest's process group
                # do not reach it, and it holds none of pytest's descriptors (a captured
                # pytest's stdout would never see EOF).
                start_new_session=True,
                close_fds=True,
                cwd=os.sep,  # no module in the test's directory can shadow ours
            )
        finally:
            if log is not None:
                log.close()
        return cls(process, log_path)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        """Whether the watchdog is running and listening to us."""
        return not self._broken and self._process.poll() is None

    def watch_project(self, project: str) -> None:
        """Remove `project` unless pytest releases it with `project_removed(project)`."""
        self._send(_WATCH_PROJECT, _word(project))
        self._outstanding.add(project)

    def project_removed(self, project: str) -> None:
        """`project` is gone (or handed over): stop watching it."""
        self._send(_PROJECT_REMOVED, _word(project))
        self._outstanding.discard(project)

    def watch_process_group(self, pgid: int) -> None:
        """Kill process group `pgid` if pytest dies; it is killed before projects are removed."""
        self._send(_WATCH_GROUP, str(_positive(pgid)))

    def forget_process_group(self, pgid: int) -> None:
        """The group has ended: forget it, so a later group reusing the id is safe."""
        self._send(_FORGET_GROUP, str(_positive(pgid)))

    def close(self) -> None:
        """End normally: the watchdog exits, after removing any project not released."""
        with self._lock:
            if self._closed or os.getpid() != self._owner:
                return  # a fork of pytest (multiprocessing) must not end pytest's watchdog
            self._closed = True
        self._send(_BYE)
        stdin = self._process.stdin
        if stdin is not None:
            with contextlib.suppress(OSError):  # already dead: nothing to tell it
                stdin.close()
        if self._outstanding:
            return  # it is removing them, detached: pytest need not wait
        try:
            self._process.wait(timeout=_CLOSE_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            # With every project released it has nothing to clean: stopping it loses nothing.
            self._process.kill()
            self._process.wait()
        if self._process.returncode == 0 and self._log_path is not None:
            # A clean run's log says nothing worth keeping; logs of crashes stay for reading.
            with contextlib.suppress(OSError):
                os.unlink(self._log_path)

    def __enter__(self) -> Watchdog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, *words: str) -> None:
        with self._lock:
            stdin = self._process.stdin
            if self._broken or stdin is None or stdin.closed or os.getpid() != self._owner:
                return
            try:
                stdin.write(" ".join(words).encode() + b"\n")
                stdin.flush()
            except OSError as exc:
                # A dead watchdog must not fail the run; the next run's sweep still cleans.
                self._broken = True
                print(
                    f"athalia: the watchdog (pid {self._process.pid}) is gone ({exc}); resources of this "
                    "run may survive a crash of pytest. Remove them with `athalia cleanup`.",
                    file=sys.stderr,
                )


def _word(project: str) -> str:
    if not project or any(ch.isspace() for ch in project):
        raise ValueError(f"a compose project name has no whitespace, got {project!r}")
    return project


def _positive(pgid: int) -> int:
    if pgid <= 1:
        raise ValueError(f"a process group id is greater than 1, got {pgid}")
    return pgid


# --- child side (the watchdog process) -----------------------------------------------------


def _log(message: str) -> None:
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
    sys.stderr.write(f"{stamp} athalia-watchdog[{os.getpid()}] {message}\n")
    sys.stderr.flush()


class _Registry:
    """What the parent asked us to watch, in registration order."""

    def __init__(self) -> None:
        self.projects: dict[str, None] = {}
        self.groups: dict[int, None] = {}

    def apply(self, line: str) -> bool:
        """Apply one command; True when it was ``bye``."""
        verb, _, arg = line.strip().partition(" ")
        if verb == _BYE:
            return True
        try:
            if verb == _WATCH_PROJECT and arg:
                self.projects[arg] = None
            elif verb == _PROJECT_REMOVED:
                self.projects.pop(arg, None)
            elif verb == _WATCH_GROUP:
                self.groups[int(arg)] = None
            elif verb == _FORGET_GROUP:
                self.groups.pop(int(arg), None)
            elif verb:
                _log(f"ignoring unknown command {line!r}")
        except ValueError:
            _log(f"ignoring malformed command {line!r}")
        return False


def _listen(registry: _Registry, parent: int | None, fd: int = 0) -> bool:
    """Apply commands until the parent says bye (True) or is gone (False)."""
    pending = b""
    parent_gone = False
    while True:
        timeout = 0.0 if parent_gone else _PARENT_POLL_SECONDS
        readable, _, _ = select.select([fd], [], [], timeout)
        if not readable:
            if parent_gone:
                return False  # read all it wrote before dying
            # Reparented: pytest died, but a fork of it keeps the pipe open.
            parent_gone = parent is not None and os.getppid() != parent
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return False  # EOF without bye: the parent died
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if registry.apply(line.decode(errors="replace")):
                return True


def _signal_group(pgid: int, signum: int) -> bool:
    """Send `signum` to group `pgid`; False if the group no longer exists."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError as exc:
        _log(f"cannot signal process group {pgid}: {exc}")
        return False
    return True


def _kill_groups(groups: Sequence[int]) -> None:
    own = os.getpgrp()
    alive = [g for g in groups if g != own and _signal_group(g, signal.SIGTERM)]
    if alive:
        _log(f"sent SIGTERM to process groups {alive}")
    deadline = time.monotonic() + _TERM_GRACE_SECONDS
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [g for g in alive if _signal_group(g, 0)]
    for group in alive:
        if _signal_group(group, signal.SIGKILL):
            _log(f"sent SIGKILL to process group {group}")


def _remove_projects(projects: Sequence[str]) -> bool:
    """Remove each project (in parallel, each settles for seconds); True if all are gone."""
    from .._errors import AthaliaError
    from . import _cleanup as cleanup  # docker costs ~0.2 s to import: only when there is work

    try:
        api = cleanup.DockerResources.from_env()
    except AthaliaError as exc:
        _log(f"cannot clean {', '.join(projects)}: {exc}")
        return False
    results: dict[str, bool] = {}

    def remove(project: str) -> None:
        try:
            removed = cleanup.remove_project(
                api, project, settle_seconds=_SETTLE_SECONDS, deadline_seconds=_DEADLINE_SECONDS
            )
        except AthaliaError as exc:
            _log(str(exc))
            results[project] = False
        else:
            _log(f"removed {removed.describe()}")
            results[project] = True

    threads = [threading.Thread(target=remove, args=(project,), name=project) for project in projects]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    api.close()
    return all(results.get(project, False) for project in projects)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the watchdog: listen on stdin, clean up if the parent dies without saying bye."""
    args = sys.argv[1:] if argv is None else argv
    parent = next((int(arg.partition("=")[2]) for arg in args if arg.startswith("--parent=")), None)
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)  # only EOF or an explicit SIGTERM/SIGKILL ends us
    _log(f"watching parent {parent}")
    registry = _Registry()
    said_bye = _listen(registry, parent)
    projects, groups = list(registry.projects), list(registry.groups)
    if said_bye and not projects:
        _log("parent said bye and released every project")
        return 0
    how = "said bye without releasing" if said_bye else "is gone;"
    _log(f"parent {parent} {how} process groups: {groups or 'none'}, projects: {projects or 'none'}")
    _kill_groups(groups)
    ok = _remove_projects(projects) if projects else True
    _log("done" if ok else "done, but resources survived; run `athalia cleanup --all`")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
