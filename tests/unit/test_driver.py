"""The compose driver: the argv ComposeCLI gives compose, how it reads compose's answers, and exec's timeout."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_athalia._errors import StackError, StackTimeout
from pytest_athalia._process import CommandResult
from pytest_athalia.stack import _driver as driver_module
from pytest_athalia.stack._driver import ComposeCLI, ComposeProject, parse_ps, published_port
from pytest_athalia.stack._values import ExecResult, ServiceState
from pytest_athalia.testing import RecordingGroups

PROJECT = "athalia-dev-main-p1-abcdef"


class Recorder:
    """Stands in for `run_command`: records argv and options, answers `result` (with that argv)."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, Any]]] = []
        self.result = CommandResult((), 0, "", 1.5)

    def __call__(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        self.calls.append((list(argv), kwargs))
        return replace(self.result, argv=tuple(argv))

    def subcommand(self) -> list[str]:
        """The last call's argv after compose's own options (`--project-name P --project-directory D -f F...`)."""
        argv = self.calls[-1][0]
        last_file = max(i for i, arg in enumerate(argv) if arg in ("-f", "--project-directory"))
        return argv[last_file + 2 :]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(driver_module, "run_command", recorder)
    return recorder


@pytest.fixture
def project(tmp_path: Path) -> ComposeProject:
    return ComposeProject(
        PROJECT, tmp_path, (tmp_path / "a.yml", tmp_path / "b.yml"), {"PATH": "/bin", "PW": "hunter2"}
    )


def test_every_command_addresses_the_project_in_its_folder_with_its_environment(
    run: Recorder, project: ComposeProject
) -> None:
    """Project name, folder and files in order; cwd is the folder, env exactly the project's; watchdog and redaction."""
    groups = RecordingGroups()
    redact = str.upper
    ComposeCLI(redact=redact, groups=groups).down(project)
    argv, kwargs = run.calls[0]
    d = str(project.directory)
    assert argv[:10] == [
        *("docker", "compose", "--ansi", "never", "--project-name", PROJECT, "--project-directory", d),
        *("-f", f"{d}/a.yml"),
    ]
    assert argv[10:12] == ["-f", f"{d}/b.yml"]
    assert kwargs["cwd"] == d
    assert kwargs["env"] == {"PATH": "/bin", "PW": "hunter2"}
    assert kwargs["groups"] is groups
    assert kwargs["redact"] is redact
    assert run.subcommand() == ["down", "--volumes", "--remove-orphans", "--timeout", "10"]
    assert kwargs["timeout"] == 180


def test_the_project_keeps_its_environment_out_of_its_repr(project: ComposeProject) -> None:
    """Resolved secrets live in `env`, which is never printed with the project."""
    assert "hunter2" not in repr(project)
    assert project.with_env({"X": "1"}).env == {"PATH": "/bin", "PW": "hunter2", "X": "1"}
    assert project.with_file(Path("/c.yml")).files[-1] == Path("/c.yml")


def test_up_of_the_whole_stack_waits_without_building(run: Recorder, project: ComposeProject) -> None:
    """The lifecycle's `up`: detached, no build, waits up to the SLO; a failure is returned, not raised."""
    ComposeCLI().up(project, wait_timeout=60, timeout=90)
    assert run.subcommand() == ["up", "--detach", "--no-build", "--wait", "--wait-timeout", "60"]
    assert run.calls[0][1]["timeout"] == 90
    assert run.calls[0][1]["check"] is False


def test_up_of_one_color_recreates_only_that_service(run: Recorder, project: ComposeProject) -> None:
    """A deploy: --no-deps --force-recreate, its scale, then the service."""
    ComposeCLI().up(project, ["app-green"], wait_timeout=45, timeout=75, recreate=True, scale={"app-green": 1})
    assert run.subcommand() == [
        *("up", "--detach", "--no-deps", "--no-build", "--force-recreate", "--wait", "--wait-timeout", "45"),
        *("--scale", "app-green=1", "app-green"),
    ]
    assert run.calls[0][1]["what"] == "compose up (deploy)"


def test_build_shows_plain_progress(run: Recorder, project: ComposeProject) -> None:
    """`--progress plain` (a global option) so that each build step is a line for the progress reporter."""
    seen: list[str] = []
    ComposeCLI().build(project, timeout=3600, on_line=seen.append)
    assert run.subcommand() == ["--progress", "plain", "build"]
    assert run.calls[0][1]["on_line"] == seen.append
    assert run.calls[0][1]["timeout"] == 3600


def test_config_reads_the_merged_model_without_interpolation_from_stdout_alone(
    run: Recorder, project: ComposeProject
) -> None:
    """Secrets stay ${...} references; stderr (warnings) is kept apart from the JSON."""
    run.result = CommandResult((), 0, "WARN: version is obsolete", 0.2, json.dumps({"services": {"app": {}}}))
    assert ComposeCLI().config(project) == {"services": {"app": {}}}
    assert run.subcommand() == ["config", "--no-interpolate", "--format", "json"]
    assert run.calls[0][1]["split_stderr"] is True


def test_config_that_is_not_json_names_what_was_found_and_the_files(run: Recorder, project: ComposeProject) -> None:
    """Output that is not a JSON object is a StackError quoting it (redacted) and naming the compose files."""
    run.result = CommandResult((), 0, "", 0.2, "services:\n  app: {pw: hunter2}\n")
    with pytest.raises(StackError) as info:
        ComposeCLI(redact=lambda s: s.replace("hunter2", "***")).config(project)
    message = str(info.value)
    assert f"expected `docker compose config --format json` to print the model of project {PROJECT}" in message
    assert "found 'services:\\n  app: {pw: ***}\\n'" in message
    assert "a.yml" in message
    assert "hunter2" not in message


ROWS = [
    {"Service": "db", "Name": f"{PROJECT}-db-1", "State": "running", "Health": "", "Publishers": []},
    {
        "Service": "app",
        "Name": f"{PROJECT}-app-1",
        "State": "running",
        "Health": "healthy",
        "Publishers": [
            {"URL": "", "TargetPort": 8000, "PublishedPort": 0, "Protocol": "tcp"},
            {"URL": "0.0.0.0", "TargetPort": 53, "PublishedPort": 5353, "Protocol": "udp"},
            {"URL": "127.0.0.1", "TargetPort": 8000, "PublishedPort": 49153, "Protocol": "tcp"},
            {"URL": "::", "TargetPort": 9000, "PublishedPort": 49154, "Protocol": "tcp"},
        ],
    },
]


@pytest.mark.parametrize(
    "text",
    ["\n".join(json.dumps(row) for row in ROWS) + "\n", json.dumps(ROWS)],
    ids=["one-object-per-line", "one-array"],
)
def test_ps_reads_both_json_shapes_compose_has_printed(text: str) -> None:
    """compose >= 2.21 prints one object per line, older ones one array: both give the same sorted states."""
    assert parse_ps(text) == (
        ServiceState("app", f"{PROJECT}-app-1", "running", "healthy"),
        ServiceState("db", f"{PROJECT}-db-1", "running", ""),
    )


def test_ps_without_containers_is_empty_and_garbage_is_an_error() -> None:
    """No output means no container; output that is not JSON is a StackError saying what was found."""
    assert parse_ps("") == ()
    with pytest.raises(StackError, match=r"expected `docker compose ps --format json` to print JSON, found 'NAME"):
        parse_ps("NAME   IMAGE")


@pytest.mark.parametrize(
    ("service", "port", "found"),
    [
        ("app", 8000, ("127.0.0.1", 49153)),  # the unpublished 8000 (published port 0) is skipped
        ("app", 9000, ("::", 49154)),
        ("app", None, ("127.0.0.1", 49153)),  # the first published TCP port
        ("app", 53, None),  # UDP does not count
        ("app", 1234, None),
        ("db", None, None),
        ("nosuch", 8000, None),
    ],
)
def test_published_port_finds_the_tcp_port_a_service_publishes(
    service: str, port: int | None, found: tuple[str, int] | None
) -> None:
    """(host, port) from ps's publishers, TCP only, None when the service publishes no such port."""
    assert published_port(ROWS, service, port) == found


def test_port_asks_ps_about_that_service_only(run: Recorder, project: ComposeProject) -> None:
    """`ps --format json <service>`: running containers of that service, parsed from stdout."""
    run.result = CommandResult((), 0, "", 0.1, json.dumps(ROWS[1]))
    assert ComposeCLI().port(project, "app", 9000) == ("::", 49154)
    assert run.subcommand() == ["ps", "--format", "json", "app"]


def test_logs_keep_every_line_without_colour_codes(run: Recorder, project: ComposeProject) -> None:
    """compose 2.26 puts an erase-line code before each line even with --ansi never; it is removed."""
    run.result = CommandResult((), 0, "\x1b[2Kapp-1  | ready\n\x1b[2Kdb-1  | ok", 0.1)
    assert ComposeCLI().logs(project, "app", tail=20) == "app-1  | ready\ndb-1  | ok"
    assert run.subcommand() == ["logs", "--no-color", "--tail", "20", "app"]
    assert run.calls[0][1]["max_lines"] is None


def test_exec_returns_the_exit_code_and_whole_output(run: Recorder, project: ComposeProject) -> None:
    """A failing command is a result, not an error; output is kept whole."""
    run.result = CommandResult((), 3, "no such file", 0.1)
    assert ComposeCLI().exec(project, "app", ["cat", "/x"], timeout=9) == ExecResult(3, "no such file")
    assert run.subcommand() == ["exec", "-T", "app", "cat", "/x"]
    assert (run.calls[0][1]["check"], run.calls[0][1]["max_lines"], run.calls[0][1]["timeout"]) == (False, None, 9)


def test_exec_that_hangs_is_a_stack_timeout_with_the_command_and_its_last_output(tmp_path: Path) -> None:
    """A real process that outlives its timeout is stopped; the error names the command, the service and its output."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text("#!/bin/sh\necho 'waiting for the lock'\nexec sleep 30\n", encoding="utf-8")
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    project = ComposeProject(PROJECT, tmp_path, (), {"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin"})
    with pytest.raises(StackTimeout) as info:
        ComposeCLI().exec(project, "app", ["flock", "/x"], timeout=0.5)
    message = str(info.value)
    assert message.startswith(
        f"athalia: `flock /x` in service app of project {PROJECT} did not finish within 0.5 s and was stopped: "
        f"`docker compose --ansi never --project-name {PROJECT}"
    )
    assert message.endswith("exec -T app flock /x`. Last output:\nwaiting for the lock")


def test_router_image_is_built_from_the_given_context_with_the_stacks_base_image(run: Recorder, tmp_path: Path) -> None:
    """`docker build --tag IMAGE ... --build-arg BASE_IMAGE=<the stack's> CONTEXT`, in that context."""
    ComposeCLI().build_router_image("r:1", tmp_path, {"BASE_IMAGE": "athalia/base:bookworm"}, timeout=60)
    argv, kwargs = run.calls[0]
    assert argv[:4] == ["docker", "build", "--tag", "r:1"]
    assert "BASE_IMAGE=athalia/base:bookworm" in argv
    assert argv[-1] == str(tmp_path)
    assert kwargs["cwd"] == str(tmp_path)
