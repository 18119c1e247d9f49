"""The one way to run an external command (compose, docker, Trivy, Bandit, a signal command).

:func:`run_command` starts it in its own session (a process group), registers the group with
the watchdog while it runs, streams or keeps its output (the tail, redacted), stops the whole
group on a timeout or an interrupt, and turns every way it can go wrong into an error of our
tree: the caller names the class (``StackError``, ``ScanError``...) and the hints. So a Ctrl-C
in the terminal reaches only pytest, which then stops the command on purpose, and the watchdog
can kill the group if pytest itself is killed. The detached watchdog itself and Locust's long
run (its own output file, its own stop) are started with :class:`subprocess.Popen` directly and
stopped with :func:`stop_process_group`.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ._errors import AthaliaError, StackError, StackTimeout

__all__ = [
    "CommandResult",
    "GroupRegistry",
    "proc_stat",
    "run_command",
    "stop_process_group",
]


class GroupRegistry(Protocol):
    """Told about each process group we start, so it can kill them if pytest dies."""

    def watch_process_group(self, pgid: int) -> None: ...

    def forget_process_group(self, pgid: int) -> None: ...


@dataclass(frozen=True)
class CommandResult:
    """A finished command: `output` is its merged (or, with ``split_stderr``, its stderr) lines, redacted.

    `stdout` is filled only with ``split_stderr``: the command's whole stdout, not redacted (it is
    parsed, never shown).
    """

    argv: tuple[str, ...]
    returncode: int
    output: str
    seconds: float
    stdout: str = ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def run_command(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    on_line: Callable[[str], None] | None = None,
    groups: GroupRegistry | None = None,
    what: str = "",
    redact: Callable[[str], str] = lambda s: s,
    check: bool = True,
    max_lines: int | None = 400,
    split_stderr: bool = False,
    error: type[AthaliaError] = StackError,
    timeout_error: type[AthaliaError] = StackTimeout,
    timeout_hint: str = "",
    install_hint: str = "",
    term_grace: float = 5.0,
) -> CommandResult:
    """Run a command in its own session, streaming merged output lines to `on_line`.

    `output` keeps the last `max_lines` lines (None: all). With `split_stderr`, stdout is kept
    apart, whole, in `CommandResult.stdout` (for output that is parsed, such as JSON) and only
    stderr is streamed and kept in `output`.

    On timeout or interrupt the whole process group is stopped before the
    exception propagates, so nothing keeps creating containers behind our back;
    the `timeout_error` carries the command, `timeout_hint` and the tail of its output. A command
    that cannot start, or (with `check`) exits non-zero, raises `error`; `install_hint` says how to
    get a missing program.
    """
    start = time.monotonic()
    lines: collections.deque[str] = collections.deque(maxlen=max_lines)
    stdout: list[str] = []
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if split_stderr else subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:  # no such program, or not executable: ours to explain, not a traceback
        raise error(
            f"athalia: cannot run {what or 'the command'} `{redact(' '.join(argv))}`: {exc.strerror or exc}. "
            + (install_hint or f"Install `{argv[0]}` or put it on PATH.")
        ) from None
    if groups is not None:
        groups.watch_process_group(proc.pid)

    def pump() -> None:
        stream = proc.stderr if split_stderr else proc.stdout
        assert stream is not None
        for raw in stream:
            line = raw.rstrip("\n")
            lines.append(line)
            if on_line is not None:
                on_line(line)

    def keep_stdout() -> None:
        assert proc.stdout is not None
        stdout.append(proc.stdout.read())

    readers = [threading.Thread(target=pump, name="athalia-compose-output", daemon=True)]
    if split_stderr:
        readers.append(threading.Thread(target=keep_stdout, name="athalia-compose-stdout", daemon=True))
    for reader in readers:
        reader.start()
    try:
        returncode = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process_group(proc, term_grace=term_grace)
        for reader in readers:
            reader.join(timeout=5)
        tail = redact("\n".join(list(lines)[-_TAIL_LINES:]))
        raise timeout_error(
            f"athalia: {what or 'command'} did not finish within {timeout:g} s and was stopped: "
            f"`{redact(' '.join(argv))}`."
            + (f" {timeout_hint}" if timeout_hint else "")
            + (f" Last output:\n{tail}" if tail else " It printed nothing.")
        ) from None
    except BaseException:
        stop_process_group(proc, term_grace=term_grace)
        raise
    finally:
        for reader in readers:
            reader.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        if groups is not None:
            groups.forget_process_group(proc.pid)
    result = CommandResult(tuple(argv), returncode, redact("\n".join(lines)), time.monotonic() - start, "".join(stdout))
    if check and returncode != 0:
        raise error(
            f"athalia: {what or 'command'} failed (exit {returncode}): `{redact(' '.join(argv))}`. "
            f"Last output:\n{result.tail()}"
        )
    return result


_TAIL_LINES = 30


def stop_process_group(proc: subprocess.Popen[Any], *, term_grace: float = 5.0, linger: float = 0.0) -> None:
    """SIGTERM `proc`'s process group, SIGKILL it if `proc` does not end within `term_grace` seconds.

    With `linger`, members that outlive `proc` (children forked by it) get that long to end, then
    SIGKILL: the group is gone when this returns.
    """
    for sig, grace in ((signal.SIGTERM, term_grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    if not linger:
        return
    if _wait_group_gone(proc.pid, linger):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    _wait_group_gone(proc.pid, 5.0)  # SIGKILL is delivered at once, but exiting takes a moment


def _wait_group_gone(pgid: int, seconds: float) -> bool:
    """Wait up to `seconds` until group `pgid` has no running member; True if it has none."""
    deadline = time.monotonic() + seconds
    while _group_running(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _group_running(pgid: int) -> bool:
    """Whether a member of process group `pgid` still runs (zombies do not count).

    An orphan's zombie stays until its new parent reaps it, and in a container that parent may
    never do so: ``killpg(pgid, 0)`` would count it, so /proc is read where there is one.
    """
    try:
        pids = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        pids = []
    if not pids:  # no /proc (macOS): kill(0) is all we know
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    group = str(pgid)
    # A process that ended while we looked has no stat (None).
    return any((fields := proc_stat(pid)) and fields[2:3] == [group] and fields[0] != "Z" for pid in pids)


def proc_stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command (state, ppid, pgrp, ...); None when unreadable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            # The state follows the parenthesised command, which may itself contain ") ".
            return stat.read().rpartition(")")[2].split() or None
    except OSError:
        return None
