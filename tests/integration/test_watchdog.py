"""watchdog against real processes and Docker: a parent killed with SIGKILL leaves nothing behind.

Each test starts a small parent script (standing in for pytest) that starts a Watchdog,
creates labelled resources or process groups, and registers them. The test then kills the
parent with SIGKILL, or lets it close normally, and checks what the watchdog did.
"""

from __future__ import annotations

import functools
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker  # type: ignore[import-untyped, unused-ignore]
import pytest

from pytest_athalia.stack import _watchdog as watchdog_module
from pytest_athalia.stack._cleanup import (
    DockerResources,
    find_leftovers,
    make_project_name,
    pid_alive,
    remove_project,
)
from pytest_athalia.stack._watchdog import Watchdog
from pytest_athalia.testing import wait_until

IMAGE = "athalia/base:bookworm"
CLEAN_WITHIN_SECONDS = 15.0
CHILD_MARKER = "300"  # in the command line of both children: `sleep 300`, and the fork of PARENT

PARENT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from pathlib import Path

    from pytest_athalia.stack._watchdog import Watchdog

    project, mode, log, image = sys.argv[1:5]
    watchdog = Watchdog.start(log_path=Path(log))
    child = 0
    if mode in ("docker", "bye", "release"):
        import docker

        labels = {"com.docker.compose.project": project}
        watchdog.watch_project(project)  # before creating anything, as the stack does
        client = docker.from_env()
        network = client.networks.create(f"{project}_default", labels=labels)
        volume = client.volumes.create(f"{project}_data", labels=labels)
        client.containers.run(
            image, ["sleep", "infinity"], name=f"{project}-app-1", labels=labels, detach=True,
            network=network.name, volumes={volume.name: {"bind": "/data", "mode": "rw"}},
        )
        client.close()
    elif mode == "group":
        child = subprocess.Popen(["sleep", "300"], start_new_session=True).pid
        watchdog.watch_process_group(child)
    elif mode == "fork":
        child = os.fork()
        if child == 0:  # keeps the watchdog's pipe open after the parent dies
            os.setsid()
            time.sleep(300)
            os._exit(0)
        watchdog.watch_process_group(child)
    print(f"ready {watchdog.pid} {child}", flush=True)
    if mode == "release":
        watchdog.project_removed(project)  # handed over, as with --athalia-keep
    if mode in ("bye", "release"):
        watchdog.close()
        print("closed", flush=True)
        sys.exit(0)
    time.sleep(300)
    """
)


@dataclass
class Parent:
    """A running parent script, and the pids it reported."""

    process: subprocess.Popen[bytes]
    log: Path
    stderr: Path
    watchdog_pid: int = 0
    child_pid: int = 0
    _pending: bytes = b""

    def read_line(self, timeout: float = 60.0) -> str:
        """The next line the parent prints, or a failure showing its stderr and the watchdog log."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([fd], [], [], max(0.0, left))
            chunk = os.read(fd, 4096) if readable else b""
            if not chunk:
                pytest.fail(f"the parent script printed no line within {timeout:g} s (or exited).\n{self.details()}")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode()

    def details(self) -> str:
        stderr = self.stderr.read_text() if self.stderr.exists() else ""
        log = self.log.read_text() if self.log.exists() else ""
        return f"parent stderr:\n{stderr}\nwatchdog log:\n{log}"


StartParent = Callable[[str], Parent]


def _dead(pid: int) -> bool:
    return not pid_alive(pid)


def _is_ours(pid: int, marker: str) -> bool:
    """Whether `pid` is alive and still runs our command (so killing it cannot hit a stranger)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return pid_alive(pid) and marker in cmdline


@pytest.fixture
def api() -> Iterator[DockerResources]:
    client = docker.from_env()
    try:
        yield DockerResources(client)
    finally:
        client.close()


@pytest.fixture
def project() -> str:
    # Made here without owner labels: no sweep of dead runs judges it, whoever runs one.
    return make_project_name("wdtest", "main", os.getpid())


@pytest.fixture
def start_parent(tmp_path: Path, project: str) -> Iterator[StartParent]:
    """Start parent scripts; afterwards kill whatever of theirs is still running."""
    parents: list[Parent] = []

    def start(mode: str) -> Parent:
        log, stderr = tmp_path / f"watchdog-{mode}.log", tmp_path / f"parent-{mode}.err"
        with stderr.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-c", PARENT, project, mode, str(log), IMAGE],
                stdout=subprocess.PIPE,
                stderr=err,
            )
        parent = Parent(process, log, stderr)
        parents.append(parent)
        words = parent.read_line().split()
        assert words[0] == "ready", parent.details()
        parent.watchdog_pid, parent.child_pid = int(words[1]), int(words[2])
        return parent

    try:
        yield start
    finally:
        for parent in parents:
            if parent.process.poll() is None:
                parent.process.kill()  # its watchdog then cleans up, as in real life
            parent.process.wait()
            assert parent.process.stdout is not None
            parent.process.stdout.close()
            for pid, marker in (
                (parent.watchdog_pid, "pytest-athalia watchdog"),
                (parent.child_pid, CHILD_MARKER),
            ):
                if pid and wait_until(functools.partial(_dead, pid), timeout=20) is None and _is_ours(pid, marker):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def docker_project(api: DockerResources, project: str) -> Iterator[str]:
    """The test's project name; whatever carries its label is removed afterwards, pass or fail.

    Request it before `start_parent`, so parents are killed before this removal runs.
    """
    try:
        yield project
    finally:
        remove_project(api, project, deadline_seconds=60)


# --- parent killed -------------------------------------------------------------------------


@pytest.mark.docker
def test_sigkill_of_the_parent_removes_its_project(
    api: DockerResources, docker_project: str, start_parent: StartParent, record_property: Any
) -> None:
    """After SIGKILL of the parent, nothing labelled with its project remains within 15 s."""
    parent = start_parent("docker")
    before = find_leftovers(api, docker_project)
    assert len(before) == 1
    assert (len(before[0].containers), len(before[0].networks), len(before[0].volumes)) == (1, 1, 1)

    parent.process.send_signal(signal.SIGKILL)
    seconds = wait_until(lambda: find_leftovers(api, docker_project) == (), CLEAN_WITHIN_SECONDS)

    left = find_leftovers(api, docker_project)
    assert seconds is not None, f"still present after {CLEAN_WITHIN_SECONDS:g} s: {left}\n{parent.details()}"
    record_property("seconds_from_sigkill_to_nothing_left", round(seconds, 2))
    print(f"SIGKILL -> nothing left: {seconds:.2f} s")
    assert wait_until(lambda: not pid_alive(parent.watchdog_pid), 20) is not None, parent.details()
    log = parent.log.read_text()
    assert "is gone" in log
    assert f"removed {docker_project}: 1 container" in log


@pytest.mark.docker
def test_normal_close_after_release_leaves_the_project_alone(
    api: DockerResources, docker_project: str, start_parent: StartParent
) -> None:
    """`bye` after `project_removed` ends the watchdog without cleaning: the project was handed over."""
    parent = start_parent("release")
    assert parent.read_line() == "closed"
    assert parent.process.wait(timeout=30) == 0, parent.details()
    assert not pid_alive(parent.watchdog_pid), "close() returns once the watchdog has exited"

    left = find_leftovers(api, docker_project)
    assert len(left) == 1, parent.details()
    assert (len(left[0].containers), len(left[0].networks), len(left[0].volumes)) == (1, 1, 1)
    assert not parent.log.exists(), "a clean run's watchdog log is removed"
    # docker_project's teardown removes them.


@pytest.mark.docker
def test_normal_close_without_release_removes_the_project(
    api: DockerResources, docker_project: str, start_parent: StartParent
) -> None:
    """`bye` with a project still registered (its removal was cut short) makes the watchdog remove it."""
    parent = start_parent("bye")
    assert parent.read_line() == "closed"
    assert parent.process.wait(timeout=30) == 0, parent.details()
    assert wait_until(lambda: not find_leftovers(api, docker_project), 30) is not None, parent.details()
    assert wait_until(lambda: not pid_alive(parent.watchdog_pid), 20) is not None, parent.details()
    log = parent.log.read_text()
    assert "said bye without releasing" in log
    assert f"removed {docker_project}: 1 container" in log


def test_sigkill_of_the_parent_kills_its_process_groups(start_parent: StartParent) -> None:
    """A registered process group (a compose still running) is killed when the parent dies."""
    parent = start_parent("group")
    # Popen returns once the child has exec'd, but /proc may lag on a loaded machine: wait, do not sample once.
    assert wait_until(lambda: _is_ours(parent.child_pid, "sleep 300"), 10) is not None, parent.details()

    parent.process.send_signal(signal.SIGKILL)

    assert wait_until(lambda: not pid_alive(parent.child_pid), 10) is not None, parent.details()
    assert wait_until(lambda: not pid_alive(parent.watchdog_pid), 10) is not None, parent.details()
    assert f"sent SIGTERM to process groups [{parent.child_pid}]" in parent.log.read_text()


def test_a_fork_holding_the_pipe_does_not_hide_the_parents_death(start_parent: StartParent) -> None:
    """A forked child keeps the pipe open, so no EOF: the watchdog notices being reparented."""
    parent = start_parent("fork")
    assert pid_alive(parent.child_pid)

    parent.process.send_signal(signal.SIGKILL)

    # Reparenting is polled once a second; SIGTERM then ends the fork.
    assert wait_until(lambda: not pid_alive(parent.child_pid), 10) is not None, parent.details()
    assert "is gone" in parent.log.read_text()


# --- parent side, in this process ------------------------------------------------------------


def test_a_dead_watchdog_does_not_break_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Registering with a watchdog that died warns once on stderr and raises nothing."""
    with Watchdog.start(log_path=tmp_path / "watchdog.log") as watchdog:
        assert watchdog.alive
        os.kill(watchdog.pid, signal.SIGKILL)
        assert wait_until(lambda: not pid_alive(watchdog.pid), 10) is not None
        watchdog.watch_project("athalia-x-main-p1-abcdef")
        watchdog.watch_process_group(12345)
        watchdog.project_removed("athalia-x-main-p1-abcdef")
        assert not watchdog.alive
    watchdog.close()  # again: a no-op
    assert capsys.readouterr().err.count("the watchdog") == 1


def test_a_fork_of_pytest_cannot_end_the_watchdog(tmp_path: Path) -> None:
    """close() in a forked copy of pytest (multiprocessing) does not send bye for pytest."""
    with Watchdog.start(log_path=tmp_path / "watchdog.log") as watchdog:
        child = os.fork()
        if child == 0:
            watchdog.close()
            os._exit(0)
        assert os.waitpid(child, 0)[1] == 0
        time.sleep(0.3)
        assert watchdog.alive
        assert "bye" not in (tmp_path / "watchdog.log").read_text()
    # A clean bye (exit 0, nothing to clean) removes the log: the watchdog heard pytest's bye.
    assert not watchdog.alive
    assert not (tmp_path / "watchdog.log").exists()


def test_watchdog_refuses_names_that_would_break_its_protocol(tmp_path: Path) -> None:
    """A project name with whitespace or a nonsense group id is a programming error."""
    with Watchdog.start(log_path=tmp_path / "watchdog.log") as watchdog:
        with pytest.raises(ValueError, match="whitespace"):
            watchdog.watch_project("athalia-x\nbye")
        with pytest.raises(ValueError, match="greater than 1"):
            watchdog.watch_process_group(0)
    assert not watchdog.alive
    assert not (tmp_path / "watchdog.log").exists()


def test_watchdog_process_imports_neither_pytest_nor_docker() -> None:
    """The child starts on every run: it must not import pytest, nor docker until it cleans."""
    probe = (
        "import sys\n"
        "import pytest_athalia.stack._watchdog\n"
        "heavy = ('pytest', '_pytest', 'docker', 'testcontainers', 'pydantic')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.sep,
        env=watchdog_module.child_environment(),
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr
