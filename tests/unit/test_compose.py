"""Running commands in their own process group, and finding compose v2 (without a daemon)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_athalia import _process as process_module
from pytest_athalia._errors import DockerUnavailable, StackError, StackTimeout
from pytest_athalia._process import CommandResult, run_command, stop_process_group
from pytest_athalia.stack._cleanup import pid_alive as alive
from pytest_athalia.stack._compose import INSTALL_HINT, compose_version, docker_engine_version
from pytest_athalia.testing import RecordingGroups, wait_until

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def sh(script: str, **kwargs: object) -> CommandResult:
    return run_command(["sh", "-c", script], cwd=os.getcwd(), env=ENV, **kwargs)  # type: ignore[arg-type]


# -- run_command ------------------------------------------------------------------------------------------


def test_streams_each_line_of_stdout_and_stderr_to_on_line() -> None:
    """stdout and stderr are merged, in order, and every line reaches `on_line` without its newline."""
    seen: list[str] = []
    result = sh("echo one; echo two >&2; echo three", on_line=seen.append)
    assert seen == ["one", "two", "three"]
    assert result.output == "one\ntwo\nthree"
    assert result.returncode == 0
    assert result.argv == ("sh", "-c", "echo one; echo two >&2; echo three")
    assert result.seconds >= 0


def test_runs_in_the_given_directory_with_exactly_the_given_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cwd` and `env` are passed through; the caller's other variables are not inherited."""
    monkeypatch.setenv("ATHALIA_TEST_NOT_PASSED", "x")
    result = run_command(
        ["sh", "-c", 'pwd; echo "$ATHALIA_X"; echo "[${ATHALIA_TEST_NOT_PASSED:-}]"'],
        cwd=str(tmp_path),
        env={**ENV, "ATHALIA_X": "from-env"},
    )
    assert result.output.splitlines() == [str(tmp_path), "from-env", "[]"]


def test_stdin_is_closed_so_a_command_never_waits_for_input() -> None:
    """A command reading stdin gets end-of-file at once."""
    assert sh("cat; echo after", timeout=10).output == "after"


def test_output_keeps_only_the_last_400_lines_and_tail_the_last_30() -> None:
    """Long output is bounded; `tail()` gives the last lines for error messages."""
    result = sh("seq 1 1000")
    lines = result.output.splitlines()
    assert lines[0] == "601"
    assert len(lines) == 400
    assert result.tail() == "\n".join(str(n) for n in range(971, 1001))
    assert result.tail(2) == "999\n1000"


def test_command_runs_in_its_own_session_and_group() -> None:
    """The child leads a new process group, so Ctrl-C in the terminal does not reach it."""
    code = "import os; print(os.getpid(), os.getpgid(0), os.getsid(0))"
    result = run_command([sys.executable, "-c", code], cwd=os.getcwd(), env=ENV)
    pid, pgid, sid = (int(x) for x in result.output.split())
    assert pid == pgid == sid
    assert pgid != os.getpgid(0)


def test_failure_raises_stack_error_with_exit_code_redacted_command_and_output() -> None:
    """A non-zero exit names what failed, its exit code, the command and the last output, all redacted."""

    def redact(text: str) -> str:
        return text.replace("hunter2", "***")

    with pytest.raises(StackError) as info:
        sh("echo 'login with hunter2'; echo boom >&2; exit 3", what="compose build", redact=redact)
    message = str(info.value)
    assert "hunter2" not in message
    assert message.startswith("athalia: compose build failed (exit 3): `sh -c echo 'login with ***'")
    assert message.endswith("Last output:\nlogin with ***\nboom")


def test_failure_without_a_name_says_command() -> None:
    """Without `what`, the message still reads naturally."""
    with pytest.raises(StackError, match=r"^athalia: command failed \(exit 1\)"):
        sh("exit 1")


def test_failure_with_check_false_returns_the_result() -> None:
    """`check=False` hands back the exit code and output instead of raising."""
    result = sh("echo nope; exit 4", check=False)
    assert (result.returncode, result.output) == (4, "nope")


def test_output_is_redacted_in_the_result() -> None:
    """The captured output has secrets removed, even when the command succeeds."""
    result = sh("echo token=abc123", redact=lambda s: s.replace("abc123", "***"))
    assert result.output == "token=***"


def test_process_group_is_watched_then_forgotten() -> None:
    """The registry learns the group id before the command ends and forgets it afterwards."""
    groups = RecordingGroups()
    code = "import os; print(os.getpgid(0))"
    result = run_command([sys.executable, "-c", code], cwd=os.getcwd(), env=ENV, groups=groups)
    pgid = int(result.output)
    assert groups.events == [("watch", pgid), ("forget", pgid)]


def test_process_group_is_forgotten_after_a_failure() -> None:
    """A failing command does not leave its group with the registry."""
    groups = RecordingGroups()
    with pytest.raises(StackError):
        sh("exit 2", groups=groups)
    assert [event for event, _ in groups.events] == ["watch", "forget"]
    assert groups.events[0][1] == groups.events[1][1]


@pytest.fixture
def background_child() -> Iterator[list[int]]:
    """Collects pids of background children; any still alive at the end are killed."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if alive(pid):
            os.kill(pid, 9)


def test_timeout_kills_the_whole_process_group(background_child: list[int]) -> None:
    """On timeout the command and the children it started are stopped before the error propagates."""
    groups = RecordingGroups()
    seen: list[str] = []
    start = time.monotonic()
    with pytest.raises(StackTimeout, match=r"did not finish within 0\.5 s"):
        sh("sleep 30 & echo $!; wait", timeout=0.5, on_line=seen.append, groups=groups)
    assert time.monotonic() - start < 10
    assert seen, "the shell did not report its child's pid"
    child = int(seen[0])
    background_child.append(child)
    assert wait_until(lambda: not alive(child), 3) is not None, f"background child {child} survived the timeout"
    assert [event for event, _ in groups.events] == ["watch", "forget"]


def test_timeout_names_the_command_and_the_tail_of_its_output() -> None:
    """A StackTimeout carries the redacted command and the last lines it printed before it was stopped."""
    with pytest.raises(StackTimeout) as info:
        sh("echo 'token hunter2'; echo waiting; sleep 30", timeout=0.5, redact=lambda s: s.replace("hunter2", "***"))
    message = str(info.value)
    assert "hunter2" not in message
    assert message.startswith("athalia: command did not finish within 0.5 s and was stopped: `sh -c echo 'token ***'")
    assert message.endswith("Last output:\ntoken ***\nwaiting")


def test_timeout_of_a_silent_command_says_it_printed_nothing() -> None:
    """Without output there is no empty tail, but a sentence that says so."""
    with pytest.raises(StackTimeout, match=r"was stopped: `sh -c sleep 30`\. It printed nothing\.$"):
        sh("sleep 30", timeout=0.3)


def test_split_stderr_keeps_stdout_whole_and_apart() -> None:
    """With split_stderr, stdout (for parsing) is not mixed with stderr, which alone is streamed and kept as output."""
    seen: list[str] = []
    result = sh('echo \'{"a": 1}\'; echo "warning: x" >&2; echo \'{"b": 2}\'', split_stderr=True, on_line=seen.append)
    assert result.stdout == '{"a": 1}\n{"b": 2}\n'
    assert result.output == "warning: x"
    assert seen == ["warning: x"]


def test_max_lines_none_keeps_all_output() -> None:
    """Output that is the point (exec, logs) is kept whole when asked."""
    assert len(sh("seq 1 1000", max_lines=None).output.splitlines()) == 1000


# -- compose_version ----------------------------------------------------------------------------------------


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    """compose_version is cached per binary; start and end with an empty cache."""
    compose_version.cache_clear()
    yield
    compose_version.cache_clear()


def fake_docker(folder: Path, script: str, name: str = "docker") -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script + "\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.mark.usefixtures("fresh_cache")
def test_missing_docker_binary_raises_docker_unavailable_with_install_hint() -> None:
    """Without the CLI on PATH, the error names the command and how to install it."""
    with pytest.raises(DockerUnavailable) as info:
        compose_version("athalia-no-such-docker-binary")
    message = str(info.value)
    assert "`athalia-no-such-docker-binary` command is not on PATH" in message
    assert "Install the Docker CLI" in message


@pytest.mark.usefixtures("fresh_cache")
def test_failures_are_not_cached() -> None:
    """A missing binary is looked up again on the next call, not remembered as a failure."""
    for _ in range(2):
        with pytest.raises(DockerUnavailable):
            compose_version("athalia-no-such-docker-binary")


@pytest.mark.usefixtures("fresh_cache")
@pytest.mark.parametrize(("printed", "version"), [("v2.24.1", "2.24.1"), ("2.29.7-desktop.1", "2.29.7-desktop.1")])
def test_compose_v2_version_is_returned_without_the_v(tmp_path: Path, printed: str, version: str) -> None:
    """`docker compose version --short` output is returned without its leading `v`."""
    docker = fake_docker(tmp_path, f'[ "$*" = "compose version --short" ] && echo {printed}')
    assert compose_version(str(docker)) == version


@pytest.mark.usefixtures("fresh_cache")
def test_compose_version_is_cached(tmp_path: Path) -> None:
    """The binary is asked once per run, not once per call."""
    counter = tmp_path / "calls"
    docker = fake_docker(tmp_path, f"echo x >> {counter}; echo v2.20.0")
    assert compose_version(str(docker)) == compose_version(str(docker)) == "2.20.0"
    assert counter.read_text().count("x") == 1


@pytest.mark.usefixtures("fresh_cache")
@pytest.mark.parametrize(
    ("script", "found"),
    [
        ("echo 1.29.2", "found: 1.29.2."),
        ("echo \"docker: 'compose' is not a docker command.\" >&2; exit 1", "found: docker: 'compose' is not a"),
        ("exit 1", "found: nothing."),
    ],
)
def test_compose_v1_or_no_compose_is_docker_unavailable_with_hint(tmp_path: Path, script: str, found: str) -> None:
    """compose v1, or a docker CLI without compose, is refused with what was found and the install hint."""
    docker = fake_docker(tmp_path, script)
    with pytest.raises(DockerUnavailable) as info:
        compose_version(str(docker))
    message = str(info.value)
    assert "compose v2 is required" in message
    assert found in message
    assert message.endswith(INSTALL_HINT)


# -- docker_engine_version ----------------------------------------------------------------------------------


def test_engine_version_is_none_without_a_docker_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No docker binary on PATH means no engine, not an exception."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert docker_engine_version() is None


def test_engine_version_is_none_when_no_daemon_answers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A CLI that cannot reach the daemon (non-zero exit) gives None."""
    fake_docker(tmp_path, "echo 'Cannot connect to the Docker daemon' >&2; exit 1")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert docker_engine_version() is None


def test_engine_version_is_the_servers_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The server version printed by `docker version` is returned, stripped."""
    fake_docker(tmp_path, '[ "$1" = version ] && echo " 27.1.1 "')
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert docker_engine_version() == "27.1.1"


# -- stop_process_group ----------------------------------------------------------------------------------

# A leader that forks a member ignoring SIGTERM, prints its pid, and waits to be stopped.
_STUBBORN_GROUP = (
    "import os, signal, sys, time\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "    time.sleep(60)\n"
    "    os._exit(0)\n"
    "print(pid, flush=True)\n"
    "time.sleep(60)\n"
)


def test_stop_process_group_with_linger_returns_when_no_member_runs() -> None:
    """A member that ignores SIGTERM outlives the leader; after `linger` it is killed, and gone on return."""
    proc = subprocess.Popen([sys.executable, "-c", _STUBBORN_GROUP], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    member = int(proc.stdout.readline())
    proc.stdout.close()
    stop_process_group(proc, term_grace=5.0, linger=0.3)
    assert not alive(member)
    assert not process_module._group_running(proc.pid)


def test_a_zombie_is_no_running_member_of_its_group() -> None:
    """An unreaped child still answers killpg(pgid, 0), but nothing of its group runs."""
    proc = subprocess.Popen(["true"], start_new_session=True)
    try:
        assert wait_until(lambda: not alive(proc.pid), 10) is not None
        os.killpg(proc.pid, 0)  # the zombie still holds the group
        assert not process_module._group_running(proc.pid)
    finally:
        proc.wait()


def test_a_command_that_cannot_start_is_a_stack_error_naming_the_fix(tmp_path: Path) -> None:
    """No such program is a StackError that names the command and how to install it, not an OSError."""
    with pytest.raises(StackError, match=r"cannot run compose config `.*no-docker compose config`.*Install"):
        run_command(
            [str(tmp_path / "no-docker"), "compose", "config"], cwd=str(tmp_path), env={}, what="compose config"
        )


def test_the_caller_names_the_error_classes_and_hints(tmp_path: Path) -> None:
    """A caller of another capability gets its own error class, with its hints, for each way a command fails."""
    from pytest_athalia._errors import ScanError

    slow = [sys.executable, "-c", "import time; time.sleep(5)"]
    with pytest.raises(ScanError, match=r"did not finish within 0.2 s and was stopped: .* Raise the timeout\."):
        run_command(slow, timeout=0.2, error=ScanError, timeout_error=ScanError, timeout_hint="Raise the timeout.")
    with pytest.raises(ScanError, match=r"cannot run .* Install the scanner\."):
        run_command([str(tmp_path / "nothing")], error=ScanError, install_hint="Install the scanner.")
    with pytest.raises(ScanError, match=r"failed \(exit 3\)"):
        run_command([sys.executable, "-c", "raise SystemExit(3)"], error=ScanError)
