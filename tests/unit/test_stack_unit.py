"""The stack's values and ComposeStack's lifecycle, without Docker (compose commands are faked)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_athalia._errors import RolloutError, SecretError, StackError, StackTimeout
from pytest_athalia.config._environment import Environment, EnvironmentSpec
from pytest_athalia.config._secrets import Redactor
from pytest_athalia.release._router import Color, ColorStack
from pytest_athalia.report._progress import Progress
from pytest_athalia.stack import _stack as stack_module
from pytest_athalia.stack._compose import CommandResult
from pytest_athalia.stack._stack import ComposeStack, Endpoint, ServiceState, StartupReport

PROJECT = "athalia-dev-main-p1234-abc123"
HEALTHY = (
    ServiceState("app", f"{PROJECT}-app-1", "running", "healthy"),
    ServiceState("db", f"{PROJECT}-db-1", "running", ""),
)


# -- values -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "args", "url"),
    [
        (Endpoint("127.0.0.1", 8000), {}, "http://127.0.0.1:8000"),
        (Endpoint("127.0.0.1", 8000), {"path": "/health"}, "http://127.0.0.1:8000/health"),
        (Endpoint("localhost", 443), {"path": "/", "scheme": "https"}, "https://localhost:443/"),
        (Endpoint("::1", 8000), {"path": "/health"}, "http://[::1]:8000/health"),
        (Endpoint("fe80::1%eth0", 80), {}, "http://[fe80::1%eth0]:80"),
    ],
)
def test_endpoint_url(endpoint: Endpoint, args: dict[str, str], url: str) -> None:
    """URLs join scheme, host, port and path; IPv6 hosts are put in brackets."""
    assert endpoint.url(**args) == url


@pytest.mark.parametrize(
    ("state", "health", "healthy"),
    [
        ("running", "healthy", True),
        ("running", "", True),
        ("running", "starting", False),
        ("running", "unhealthy", False),
        ("exited", "", False),
        ("restarting", "healthy", False),
    ],
)
def test_service_is_healthy_only_when_running_and_not_failing_its_healthcheck(
    state: str, health: str, healthy: bool
) -> None:
    """A running container without a healthcheck counts as healthy; anything starting or failing does not."""
    assert ServiceState("app", "c", state, health).healthy is healthy


def test_startup_report_started_means_no_error() -> None:
    """A report is `started` exactly when it carries no error."""
    assert StartupReport(PROJECT, 1.0, 2.0, 60.0).started
    assert not StartupReport(PROJECT, None, 60.0, 60.0, error="not healthy").started


# -- a ComposeStack with compose faked ------------------------------------------------------------------


def make_env(tmp_path: Path, *, build: bool = True, env: Mapping[str, str] | None = None) -> Environment:
    spec = EnvironmentSpec.model_validate(
        {
            "stack": {
                "compose_files": ["../docker-compose.yml"],
                "service": "app",
                "port": 8000,
                "build": build,
                "env": dict(env or {}),
            },
            "slo": {"startup": {"max_seconds": 60}},
        }
    )
    return Environment("dev", tmp_path / "environments" / "dev.yml", spec)


class Registry:
    """A fake watchdog that records what the stack tells it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def watch_process_group(self, pgid: int) -> None:
        self.events.append(("watch_group", pgid))

    def forget_process_group(self, pgid: int) -> None:
        self.events.append(("forget_group", pgid))

    def watch_project(self, project: str) -> None:
        self.events.append(("watch_project", project))

    def project_removed(self, project: str) -> None:
        self.events.append(("project_removed", project))


Outcome = CommandResult | BaseException


class Compose:
    """Stands in for `run_command`: answers `build`, `up` and `down` with canned results and output lines."""

    def __init__(self) -> None:
        self.results: dict[str, Outcome] = {}
        self.lines: dict[str, list[str]] = {}
        self.calls: list[tuple[str, list[str], dict[str, Any]]] = []
        self.inspect: Callable[[Sequence[str], dict[str, Any]], None] = lambda argv, kwargs: None

    def __call__(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        verb = next(v for v in ("build", "up", "down") if v in argv)
        self.calls.append((verb, list(argv), kwargs))
        self.inspect(argv, kwargs)
        on_line: Callable[[str], None] | None = kwargs.get("on_line")
        for line in self.lines.get(verb, []):
            assert on_line is not None
            on_line(line)
        result = self.results.get(verb, CommandResult(tuple(argv), 0, "", 2.5))
        if isinstance(result, BaseException):
            raise result
        return result

    def verbs(self) -> list[str]:
        return [verb for verb, _, _ in self.calls]


@pytest.fixture
def compose(monkeypatch: pytest.MonkeyPatch) -> Compose:
    fake = Compose()
    monkeypatch.setattr(stack_module, "run_command", fake)
    return fake


@pytest.fixture
def services(monkeypatch: pytest.MonkeyPatch) -> list[ServiceState]:
    """What `docker compose ps` would report; edit the list to change it."""
    current = list(HEALTHY)
    monkeypatch.setattr(ComposeStack, "services", lambda self: tuple(current))
    return current


@pytest.fixture
def progress_lines() -> list[str]:
    return []


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


@pytest.fixture
def make_stack(
    tmp_path: Path, progress_lines: list[str], registry: Registry, redactor: Redactor
) -> Callable[..., ComposeStack]:
    def make(*, build: bool = True, env: Mapping[str, str] | None = None, **kwargs: Any) -> ComposeStack:
        kwargs.setdefault("environ", {"PATH": "/usr/bin:/bin"})
        return ComposeStack(
            make_env(tmp_path, build=build, env=env),
            project=PROJECT,
            redactor=redactor,
            progress=Progress(progress_lines.append),
            registry=registry,
            **kwargs,
        )

    return make


def untimed(lines: list[str]) -> list[str]:
    return [re.sub(r"\d+\.\ds", "Ns", line) for line in lines]


# -- before start -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.endpoint(),
        lambda s: s.url(path="/health"),
        lambda s: s.services(),
        lambda s: s.logs(),
        lambda s: s.exec("app", ["true"]),
    ],
    ids=["endpoint", "url", "services", "logs", "exec"],
)
def test_methods_before_start_say_to_call_start(
    make_stack: Callable[..., ComposeStack], call: Callable[[ComposeStack], object]
) -> None:
    """Using a stack that was never started is a StackError naming the project and the fix."""
    with pytest.raises(StackError, match=rf"stack {PROJECT} has not been started; call start\(\) first"):
        call(make_stack())


def test_failure_logs_before_start_do_not_raise(make_stack: Callable[..., ComposeStack]) -> None:
    """failure_logs never raises; it says why there are no logs."""
    text = make_stack().failure_logs(10)
    assert text.startswith("(logs unavailable: athalia: stack ")
    assert "call start() first" in text


def test_stop_before_start_does_nothing(
    make_stack: Callable[..., ComposeStack], compose: Compose, registry: Registry
) -> None:
    """Stopping a stack that never started runs no compose command."""
    stack = make_stack()
    stack.stop()
    assert compose.calls == []
    assert registry.events == []


def test_unstarted_stack_reports_its_identity(make_stack: Callable[..., ComposeStack]) -> None:
    """Project, environment and removal command are known before start; the startup report is not."""
    stack = make_stack()
    assert stack.project == PROJECT
    assert stack.environment.name == "dev"
    assert stack.startup is None
    assert stack.removal_command() == f"docker compose --project-name {PROJECT} down --volumes --remove-orphans"


# -- start --------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("services")
def test_start_builds_then_waits_for_health_and_reports_the_times(
    make_stack: Callable[..., ComposeStack], compose: Compose, registry: Registry
) -> None:
    """A good start builds, runs `up --wait` with the SLO as wait timeout, and reports both durations."""
    compose.results["build"] = CommandResult(("build",), 0, "", 30.0)
    compose.results["up"] = CommandResult(("up",), 0, "", 12.5)
    stack = make_stack()
    report = stack.start()
    assert report == StartupReport(PROJECT, 30.0, 12.5, 60.0, HEALTHY)
    assert report.started
    assert stack.startup is report
    assert compose.verbs() == ["build", "up"]
    up_argv = compose.calls[1][1]
    assert up_argv[:6] == ["docker", "compose", "--ansi", "never", "--project-name", PROJECT]
    assert up_argv[up_argv.index("up") :] == ["up", "--detach", "--no-build", "--wait", "--wait-timeout", "60"]
    assert compose.calls[1][2]["timeout"] == 90
    assert ("watch_project", PROJECT) in registry.events


@pytest.mark.usefixtures("services")
def test_start_without_build_skips_the_build(make_stack: Callable[..., ComposeStack], compose: Compose) -> None:
    """`build: false` goes straight to `up`, and no build time is reported."""
    report = make_stack(build=False).start()
    assert compose.verbs() == ["up"]
    assert report.build_seconds is None
    assert report.started


@pytest.mark.usefixtures("services")
def test_start_passes_resolved_secrets_through_the_environment_and_redacts_them(
    make_stack: Callable[..., ComposeStack], compose: Compose, redactor: Redactor
) -> None:
    """Secrets reach compose as variables (never as arguments) and are masked from then on."""
    stack = make_stack(env={"POSTGRES_PASSWORD": "${env:DB_PW}"}, environ={"DB_PW": "hunter2", "PATH": "/bin"})
    stack.start()
    for _, argv, kwargs in compose.calls:
        assert kwargs["env"]["POSTGRES_PASSWORD"] == "hunter2"
        assert kwargs["env"]["COMPOSE_PROJECT_NAME"] == PROJECT
        assert kwargs["env"]["PATH"] == "/bin"
        assert not [arg for arg in argv if "hunter2" in arg]
        assert kwargs["redact"]("pw=hunter2") == "pw=***"
    assert redactor.redact("pw=hunter2") == "pw=***"


def test_start_with_an_unresolvable_secret_raises(make_stack: Callable[..., ComposeStack], compose: Compose) -> None:
    """A configuration error is raised, not reported as a failed startup, and nothing is run."""
    with pytest.raises(SecretError, match="DB_PW"):
        make_stack(env={"POSTGRES_PASSWORD": "${env:DB_PW}"}).start()
    assert compose.calls == []


@pytest.mark.usefixtures("services")
def test_long_builds_report_later_steps_at_a_bounded_rate(
    make_stack: Callable[..., ComposeStack],
    compose: Compose,
    progress_lines: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Later build steps of an image are reported once the throttle interval has passed, never more often."""
    compose.lines["build"] = ["#5 [app 1/4] FROM base", "#6 [app 2/4] RUN apt-get install", "#7 [app 3/4] COPY ."]
    monkeypatch.setattr(stack_module, "_BUILD_STEP_EVERY", 0.0)
    make_stack().start()
    steps = [line for line in untimed(progress_lines) if ": building app" in line]
    assert steps == [f"athalia: building images of {PROJECT}: building app {n}/4 (Ns)" for n in (1, 2, 3)]


@pytest.mark.usefixtures("services")
def test_start_reports_progress_per_image_and_per_healthy_container(
    make_stack: Callable[..., ComposeStack], compose: Compose, progress_lines: list[str]
) -> None:
    """Build output yields a line when each image starts building; up output one per container turning healthy."""
    compose.lines["build"] = [
        "#1 [internal] load build definition from Dockerfile",
        "#5 [app 1/4] FROM athalia/base:bookworm",
        "#6 [app 2/4] RUN pip install .",
        "#7 [worker 1/2] FROM athalia/base:bookworm",
    ]
    compose.lines["up"] = [
        f" Container {PROJECT}-db-1  Starting",
        f" Container {PROJECT}-db-1  Healthy",
        f" Container {PROJECT}-db-1  Healthy",
        f" Container {PROJECT}-app-1  Error",
    ]
    make_stack().start()
    assert untimed(progress_lines) == [
        f"athalia: building images of {PROJECT} ...",
        f"athalia: building images of {PROJECT}: building app 1/4 (Ns)",
        f"athalia: building images of {PROJECT}: building worker 1/2 (Ns)",
        f"athalia: building images of {PROJECT} done in Ns",
        f"athalia: starting stack {PROJECT} (deadline 60s) ...",
        f"athalia: starting stack {PROJECT} (deadline 60s): db-1 healthy (Ns)",
        f"athalia: starting stack {PROJECT} (deadline 60s): app-1 error (Ns)",
        f"athalia: starting stack {PROJECT} (deadline 60s) done in Ns",
    ]


def test_failed_build_is_reported_not_raised(
    make_stack: Callable[..., ComposeStack], compose: Compose, services: list[ServiceState]
) -> None:
    """A build error ends up in the report, `up` is not attempted, and no startup time is claimed."""
    services.clear()
    compose.results["build"] = StackError("athalia: compose build failed (exit 1)")
    report = make_stack().start()
    assert not report.started
    assert report.error == "athalia: compose build failed (exit 1)"
    assert (report.build_seconds, report.startup_seconds) == (None, None)
    assert compose.verbs() == ["build"]


@pytest.mark.usefixtures("services")
def test_build_timeout_is_reported_not_raised(make_stack: Callable[..., ComposeStack], compose: Compose) -> None:
    """A build that runs past its timeout is a failed startup in the report, like any build failure."""
    compose.results["build"] = StackTimeout("athalia: compose build did not finish within 3600 s and was stopped")
    report = make_stack().start()
    assert not report.started
    assert "build" in report.error


@pytest.mark.usefixtures("services")
def test_failed_up_is_reported_with_composes_output(make_stack: Callable[..., ComposeStack], compose: Compose) -> None:
    """A quick `up` failure is an error naming the exit code, project, file and compose's last words."""
    compose.results["up"] = CommandResult(("up",), 1, "Error response from daemon: port is already allocated", 0.3)
    report = make_stack(build=False).start()
    assert not report.started
    assert report.error.startswith(f"athalia: `docker compose up` failed (exit 1) for project {PROJECT} of ")
    assert report.error.endswith("compose said:\nError response from daemon: port is already allocated")
    assert report.startup_seconds is None
    assert report.services == HEALTHY


def test_up_that_gives_up_waiting_is_a_startup_timeout(
    make_stack: Callable[..., ComposeStack], compose: Compose, services: list[ServiceState]
) -> None:
    """compose's wait timeout counts as the full deadline and names the services that were not healthy."""
    services[1] = ServiceState("db", f"{PROJECT}-db-1", "running", "unhealthy")
    compose.results["up"] = CommandResult(("up",), 1, "container db is unhealthy: timeout waiting", 61.0)
    report = make_stack(build=False).start()
    assert not report.started
    assert report.startup_seconds == 60.0
    assert f"stack {PROJECT} was not healthy within its startup SLO of 60 s" in report.error
    assert "slo.startup.max_seconds in" in report.error
    assert "Not healthy: db (running/unhealthy)." in report.error


@pytest.mark.usefixtures("services")
def test_up_killed_by_its_own_timeout_is_a_startup_timeout(
    make_stack: Callable[..., ComposeStack], compose: Compose
) -> None:
    """When `up` itself hangs past deadline + 30 s, the report says the SLO was missed."""
    compose.results["up"] = StackTimeout("athalia: compose up did not finish within 90 s and was stopped")
    report = make_stack(build=False).start()
    assert not report.started
    assert report.startup_seconds == 60.0
    assert "was not healthy within its startup SLO" in report.error


# -- stop and the context manager ---------------------------------------------------------------------------


@pytest.mark.usefixtures("services")
def test_stop_removes_containers_networks_and_volumes_once(
    make_stack: Callable[..., ComposeStack], compose: Compose, registry: Registry
) -> None:
    """stop runs `down --volumes --remove-orphans`, tells the watchdog, and a second stop is a no-op."""
    stack = make_stack(build=False)
    stack.start()
    stack.stop()
    stack.stop()
    assert compose.verbs() == ["up", "down"]
    down = compose.calls[1][1]
    assert down[down.index("down") :] == ["down", "--volumes", "--remove-orphans", "--timeout", "10"]
    assert registry.events[-1] == ("project_removed", PROJECT)


@pytest.mark.usefixtures("services")
def test_keep_leaves_the_stack_and_prints_how_to_remove_it(
    make_stack: Callable[..., ComposeStack], compose: Compose, registry: Registry, progress_lines: list[str]
) -> None:
    """With keep, stop runs no command, hands the project over (released from the watchdog), and shows its removal."""
    stack = make_stack(build=False, keep=True)
    stack.start()
    stack.stop()
    assert compose.verbs() == ["up"]
    assert registry.events[-1] == ("project_removed", PROJECT)
    assert progress_lines[-1] == f"athalia: kept stack {PROJECT}; remove it with: {stack.removal_command()}"


@pytest.mark.usefixtures("services")
def test_context_manager_stops_the_stack_on_exit(make_stack: Callable[..., ComposeStack], compose: Compose) -> None:
    """Leaving the `with` block removes the stack."""
    with make_stack(build=False) as stack:
        assert stack.startup is not None
        assert stack.startup.started
        assert compose.verbs() == ["up"]
    assert compose.verbs() == ["up", "down"]


@pytest.mark.usefixtures("services")
def test_context_manager_cleans_up_and_attaches_logs_when_the_stack_does_not_come_up(
    make_stack: Callable[..., ComposeStack], compose: Compose, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed start raises the report's error with the service logs as a note, after removing the stack."""
    monkeypatch.setattr(ComposeStack, "logs", lambda self, service=None, *, tail=50: f"db | FATAL (last {tail})")
    compose.results["up"] = CommandResult(("up",), 1, "boom", 0.1)
    with pytest.raises(StackError) as info, make_stack(build=False):
        pytest.fail("the with block must not run")
    assert "compose said:\nboom" in str(info.value)
    assert info.value.__notes__ == [f"service logs of {PROJECT}:\ndb | FATAL (last 40)"]
    assert compose.verbs() == ["up", "down"]


@pytest.mark.usefixtures("services")
def test_context_manager_cleans_up_when_start_is_interrupted(
    make_stack: Callable[..., ComposeStack], compose: Compose
) -> None:
    """Ctrl-C during start still removes what was created, and the interrupt propagates."""
    compose.results["up"] = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt), make_stack(build=False):
        pytest.fail("the with block must not run")
    assert compose.verbs() == ["up", "down"]


# -- rollout.enabled: the override, the router image and the colors ------------------------------------------------

MODEL = {
    "name": PROJECT,
    "services": {
        "app": {"image": "app:1", "environment": {"PW": "${DB_PW}"}, "ports": [{"target": 8000}]},
        "db": {"image": "db:1"},
    },
}


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """`docker compose config` answers MODEL; returns the argv of each call."""
    calls: list[list[str]] = []

    def run(self: object, cmd: list[str], context: str | None = None) -> subprocess.CompletedProcess[bytes]:
        calls.append(list(cmd))
        assert cmd[-4:] == ["config", "--no-interpolate", "--format", "json"]
        return subprocess.CompletedProcess(cmd, 0, json.dumps(MODEL).encode(), b"")

    monkeypatch.setattr(stack_module._Compose, "_run_command", run)
    monkeypatch.setattr(stack_module, "compose_version", lambda: "2.26.1")
    return calls


@pytest.fixture
def router_image(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """Whether the router image is present, as `docker image inspect` would say."""
    state = {"present": True}
    monkeypatch.setattr(stack_module.override, "router_image_present", lambda image: state["present"])
    return state


def rollout_env(tmp_path: Path, *, router: Mapping[str, object] | None = None) -> Environment:
    spec = EnvironmentSpec.model_validate(
        {
            "stack": {"compose_files": ["../docker-compose.yml"], "service": "app", "port": 8000, "build": False},
            "rollout": {"enabled": True, "router": dict(router or {})},
            "slo": {"startup": {"max_seconds": 60}},
        }
    )
    return Environment("dev", tmp_path / "environments" / "dev.yml", spec)


@pytest.fixture
def make_rollout_stack(
    tmp_path: Path, progress_lines: list[str], registry: Registry, redactor: Redactor
) -> Callable[..., ComposeStack]:
    def make(*, router: Mapping[str, object] | None = None) -> ComposeStack:
        return ComposeStack(
            rollout_env(tmp_path, router=router),
            project=PROJECT,
            redactor=redactor,
            progress=Progress(progress_lines.append),
            registry=registry,
            environ={"PATH": "/usr/bin:/bin", "BASE_IMAGE": "athalia/base:bookworm"},
            files_root=tmp_path / "generated",
        )

    return make


def files_of(argv: Sequence[str]) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == "-f"]


@pytest.mark.usefixtures("services", "router_image")
def test_rollout_start_merges_the_generated_override_into_every_compose_command(
    make_rollout_stack: Callable[..., ComposeStack], compose: Compose, model: list[list[str]], tmp_path: Path
) -> None:
    """The model is read from the user's files alone; up and down then use them plus the private override."""
    stack = make_rollout_stack()
    assert stack.start().started
    assert files_of(model[0]) == [str(tmp_path / "docker-compose.yml")]
    up_files = files_of(compose.calls[0][1])
    assert up_files[0] == str(tmp_path / "docker-compose.yml")
    generated = Path(up_files[1])
    assert generated.parent.parent == tmp_path / "generated"
    assert stat.S_IMODE(generated.stat().st_mode) == 0o600
    assert stat.S_IMODE(generated.parent.stat().st_mode) == 0o700
    assert set(yaml.safe_load(generated.read_text())["services"]) == {"app-green", "athalia-router"}
    stack.stop()
    assert files_of(compose.calls[-1][1]) == up_files
    assert compose.verbs() == ["up", "down"]
    assert not generated.parent.exists()


@pytest.mark.usefixtures("services", "model")
def test_a_missing_router_image_is_built_from_the_packaged_dockerfile(
    make_rollout_stack: Callable[..., ComposeStack], compose: Compose, router_image: dict[str, bool]
) -> None:
    """With rollout.router.build and no image, `docker build` runs FROM the stack's BASE_IMAGE; its time counts."""
    router_image["present"] = False
    compose.results["build"] = CommandResult(("docker", "build"), 0, "", 20.0)
    report = make_rollout_stack().start()
    assert report.build_seconds == 20.0
    build = compose.calls[0][1]
    assert build[:4] == ["docker", "build", "--tag", "athalia/router:2.6"]
    assert "BASE_IMAGE=athalia/base:bookworm" in build
    assert Path(build[-1], "Dockerfile").is_file()
    assert compose.verbs() == ["build", "up"]


@pytest.mark.usefixtures("services", "model")
def test_no_router_build_when_the_environment_says_so(
    make_rollout_stack: Callable[..., ComposeStack], compose: Compose, router_image: dict[str, bool]
) -> None:
    """`rollout.router.build: false` (e.g. `image: haproxy:2.6` from a registry) leaves the image to compose."""
    router_image["present"] = False
    report = make_rollout_stack(router={"image": "haproxy:2.6", "build": False}).start()
    assert report.started
    assert report.build_seconds is None
    assert compose.verbs() == ["up"]


@pytest.mark.usefixtures("router_image")
def test_an_override_that_cannot_be_generated_is_a_failed_startup(
    make_rollout_stack: Callable[..., ComposeStack],
    compose: Compose,
    services: list[ServiceState],
    model: list[list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stack.service missing from the compose files ends up in the report; nothing is started."""
    monkeypatch.setitem(MODEL, "services", {"db": {"image": "db:1"}})
    services.clear()
    report = make_rollout_stack().start()
    assert not report.started
    assert "stack.service is 'app', but the compose files define no such service (they define: db)" in report.error
    assert compose.verbs() == []


@pytest.mark.usefixtures("services", "router_image", "model")
@pytest.mark.parametrize(("color", "service"), [("green", "app-green"), ("blue", "app")])
def test_deploy_color_recreates_only_that_service_and_waits_for_it(
    make_rollout_stack: Callable[..., ComposeStack],
    compose: Compose,
    progress_lines: list[str],
    color: Color,
    service: str,
) -> None:
    """`up --no-deps --force-recreate --wait` of one service, with the candidate's image and env; returns its time."""
    stack = make_rollout_stack()
    stack.start()
    seen: dict[str, Any] = {}

    def inspect(argv: Sequence[str], kwargs: dict[str, Any]) -> None:
        deploy_file = Path(files_of(argv)[-1])
        seen.update(file=deploy_file, text=deploy_file.read_text(), env=kwargs["env"])

    compose.inspect = inspect
    compose.results["up"] = CommandResult(("up",), 0, "", 4.5)
    seconds = stack.deploy_color(color, image="app:2", env={"APP_VERSION": "9.9.9"}, timeout=45)
    assert seconds == 4.5
    argv = compose.calls[-1][1]
    scale = ["--scale", f"{service}=1"] if color == "green" else []
    assert argv[argv.index("up") :] == [
        "up",
        "--detach",
        "--no-deps",
        "--no-build",
        "--force-recreate",
        "--wait",
        "--wait-timeout",
        "45",
        *scale,
        service,
    ]
    assert "9.9.9" not in str(seen["text"])
    assert yaml.safe_load(str(seen["text"])) == {
        "services": {service: {"image": "app:2", "environment": {"APP_VERSION": "${ATHALIA_DEPLOY_ENV_0}"}}}
    }
    assert seen["env"]["ATHALIA_DEPLOY_ENV_0"] == "9.9.9"
    assert not Path(str(seen["file"])).exists()
    assert compose.calls[-1][2]["timeout"] == 75
    assert any(f"deploying {color} ({service}, image app:2) to {PROJECT} done in" in line for line in progress_lines)


@pytest.mark.usefixtures("services", "router_image", "model")
def test_deploy_without_image_or_env_writes_no_file(
    make_rollout_stack: Callable[..., ComposeStack], compose: Compose
) -> None:
    """Redeploying a color as it is needs no extra override."""
    stack = make_rollout_stack()
    stack.start()
    base = files_of(compose.calls[0][1])
    stack.deploy_color("green", image=None, env={}, timeout=10)
    assert files_of(compose.calls[-1][1]) == base


@pytest.mark.usefixtures("services", "router_image", "model")
def test_a_failed_deploy_is_a_rollout_error_with_composes_output(
    make_rollout_stack: Callable[..., ComposeStack], compose: Compose, tmp_path: Path
) -> None:
    """A deploy that does not turn healthy names the color, service, project, where to look and compose's words."""
    stack = make_rollout_stack()
    stack.start()
    compose.results["up"] = CommandResult(("up",), 1, "container app-green-1 exited (1)", 9.0)
    with pytest.raises(RolloutError) as info:
        stack.deploy_color("green", image=None, env={"APP_VERSION": "bad"}, timeout=8)
    message = str(info.value)
    assert message.startswith(f"athalia: deploying green (service app-green) of project {PROJECT} failed (exit 1")
    assert f"docker compose -p {PROJECT} logs app-green" in message
    assert message.endswith("compose said:\ncontainer app-green-1 exited (1)")
    (folder,) = (tmp_path / "generated").iterdir()
    assert folder.name.startswith(PROJECT)
    assert [p.name for p in folder.iterdir()] == ["rollout.yml"]  # the deploy file is gone


@pytest.mark.usefixtures("services", "router_image", "model")
def test_a_failed_deploy_is_reported_failed_never_done(
    make_rollout_stack: Callable[..., ComposeStack], compose: Compose, progress_lines: list[str]
) -> None:
    """The deploy's progress phase ends with `failed after` when compose fails, and no line claims it done."""
    stack = make_rollout_stack()
    stack.start()
    compose.results["up"] = CommandResult(("up",), 1, "container app-green-1 exited (1)", 9.0)
    with pytest.raises(RolloutError):
        stack.deploy_color("green", image=None, env={}, timeout=8)
    deploy = [line for line in progress_lines if "deploying green" in line]
    assert deploy[0].endswith(f"deploying green (app-green) to {PROJECT} ...")
    assert deploy[-1].startswith(f"athalia: deploying green (app-green) to {PROJECT} failed after ")
    assert not [line for line in deploy if " done in " in line], deploy


@pytest.mark.usefixtures("services", "router_image", "model")
def test_a_deploy_that_hangs_is_a_rollout_error(
    make_rollout_stack: Callable[..., ComposeStack], compose: Compose
) -> None:
    """compose running past the wait timeout + 30 s is stopped and reported as a RolloutError."""
    stack = make_rollout_stack()
    stack.start()
    compose.results["up"] = StackTimeout("athalia: compose up (deploy) did not finish within 40 s and was stopped")
    with pytest.raises(RolloutError, match=r"within 40 s.*The green color \(app-green\) was not deployed"):
        stack.deploy_color("green", image=None, env={}, timeout=10)


@pytest.mark.usefixtures("services")
def test_deploy_color_without_rollout_says_to_enable_it(make_stack: Callable[..., ComposeStack]) -> None:
    """A stack started without rollout.enabled has no green to deploy to."""
    stack = make_stack(build=False)
    stack._compose = object()  # type: ignore[assignment]  # started, as far as deploy_color can tell
    with pytest.raises(RolloutError, match=r"rollout\.enabled is not true in .*Set rollout\.enabled: true"):
        stack.deploy_color("green", image=None, env={}, timeout=10)


def test_colors_map_to_services_and_their_own_ports(
    make_rollout_stack: Callable[..., ComposeStack], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blue is stack.service, green its copy; color_url asks for that service's published stack.port."""
    stack = make_rollout_stack()
    asked: list[tuple[str | None, int | None]] = []

    def endpoint(self: ComposeStack, service: str | None = None, port: int | None = None) -> Endpoint:
        asked.append((service, port))
        return Endpoint("127.0.0.1", 40000 + len(asked))

    monkeypatch.setattr(ComposeStack, "endpoint", endpoint)
    assert isinstance(stack, ColorStack)
    assert (stack.color_service("blue"), stack.color_service("green")) == ("app", "app-green")
    assert stack.color_url("green", "/version") == "http://127.0.0.1:40001/version"
    assert stack.color_url("blue") == "http://127.0.0.1:40002"
    assert asked == [("app-green", 8000), ("app", 8000)]
    with pytest.raises(RolloutError, match="expected a color"):
        stack.color_service("purple")  # type: ignore[arg-type]


@pytest.mark.usefixtures("router_image", "model")
def test_a_compose_too_old_for_the_override_is_a_failed_startup(
    make_rollout_stack: Callable[..., ComposeStack],
    compose: Compose,
    services: list[ServiceState],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Compose before 2.23.1 cannot take the router's inline configuration: the report says so and how to fix it."""
    monkeypatch.setattr(stack_module, "compose_version", lambda: "2.20.2")
    services.clear()
    report = make_rollout_stack().start()
    assert "rollout.enabled needs docker compose 2.23.1 or newer" in report.error
    assert "found 2.20.2" in report.error
    assert compose.verbs() == []


@pytest.mark.usefixtures("router_image", "model")
def test_a_compose_model_that_is_not_json_is_a_failed_startup(
    make_rollout_stack: Callable[..., ComposeStack],
    compose: Compose,
    services: list[ServiceState],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Output of `compose config` that is not JSON is reported with what was found, before anything starts."""
    monkeypatch.setattr(
        stack_module._Compose,
        "_run_command",
        lambda self, cmd, context=None: subprocess.CompletedProcess(cmd, 0, b"services:\n  app: {}\n", b""),
    )
    services.clear()
    report = make_rollout_stack().start()
    assert "expected `docker compose config --format json` to print the model of project" in report.error
    assert "found 'services:\\n  app: {}\\n'" in report.error
    assert compose.verbs() == []
