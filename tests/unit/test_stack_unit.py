"""The stack's values, ComposeStack's lifecycle and ComposeColors, without Docker (FakeCompose drives them)."""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_athalia._errors import ConfigError, RolloutError, SecretError, StackError, StackTimeout
from pytest_athalia._process import CommandResult
from pytest_athalia.config._environment import Environment, EnvironmentSpec
from pytest_athalia.config._secrets import Redactor
from pytest_athalia.release._router import Color, ColorStack
from pytest_athalia.report._progress import Progress
from pytest_athalia.stack import _stack as stack_module
from pytest_athalia.stack._colors import ComposeColors
from pytest_athalia.stack._stack import ComposeStack, Endpoint, ExecResult, ServiceState, StartupReport
from pytest_athalia.testing import ComposeCall, FakeCompose

PROJECT = "athalia-dev-main-p1234-abc123"
HEALTHY = (
    ServiceState("app", f"{PROJECT}-app-1", "running", "healthy"),
    ServiceState("db", f"{PROJECT}-db-1", "running", ""),
)
# The user's merged compose model, as `docker compose config --no-interpolate --format json` prints it.
MODEL: dict[str, Any] = {
    "name": PROJECT,
    "services": {
        "app": {"image": "app:1", "environment": {"PW": "${DB_PW}"}, "ports": ["127.0.0.1::8000"]},
        "db": {"image": "db:1", "expose": ["5432"]},
    },
}


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


# -- a ComposeStack over FakeCompose ----------------------------------------------------------------------


def make_env(
    tmp_path: Path,
    *,
    build: bool = True,
    env: Mapping[str, str] | None = None,
    service: str = "app",
    port: int = 8000,
    rollout: Mapping[str, object] | None = None,
    ports: str = "private",
) -> Environment:
    spec = EnvironmentSpec.model_validate(
        {
            "stack": {
                "compose_files": ["../docker-compose.yml"],
                "service": service,
                "port": port,
                "build": build,
                "ports": ports,
                "env": dict(env or {}),
            },
            **({"rollout": {"enabled": True, **rollout}} if rollout is not None else {}),
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


@pytest.fixture
def compose() -> FakeCompose:
    """The driver: MODEL, a healthy stack, app's 8000 published on the wildcard address."""
    return FakeCompose(MODEL, services=HEALTHY, ports={("app", 8000): ("0.0.0.0", 49153), ("db", 5432): ("::", 5)})


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
    tmp_path: Path, compose: FakeCompose, progress_lines: list[str], registry: Registry, redactor: Redactor
) -> Callable[..., ComposeStack]:
    def make(*, keep: bool = False, environ: Mapping[str, str] | None = None, **env: Any) -> ComposeStack:
        return ComposeStack(
            make_env(tmp_path, **env),
            project=PROJECT,
            redactor=redactor,
            progress=Progress(progress_lines.append),
            registry=registry,
            environ=environ or {"PATH": "/usr/bin:/bin", "BASE_IMAGE": "athalia/base:bookworm"},
            keep=keep,
            files_root=tmp_path / "generated",
            driver=compose,
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
    make_stack: Callable[..., ComposeStack], call: Callable[[ComposeStack], object], compose: FakeCompose
) -> None:
    """Using a stack that was never started is a StackError naming the project and the fix; compose is not asked."""
    with pytest.raises(StackError, match=rf"stack {PROJECT} has not been started; call start\(\) first"):
        call(make_stack())
    assert compose.calls == []


def test_failure_logs_before_start_do_not_raise(make_stack: Callable[..., ComposeStack]) -> None:
    """failure_logs never raises; it says why there are no logs."""
    text = make_stack().failure_logs(10)
    assert text.startswith("(logs unavailable: athalia: stack ")
    assert "call start() first" in text


def test_stop_before_start_does_nothing(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose, registry: Registry
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


def test_start_checks_builds_then_waits_for_health_and_reports_the_times(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose, registry: Registry, tmp_path: Path
) -> None:
    """A good start reads the model, builds, runs `up --wait` with the SLO as wait timeout, and reports both times."""
    compose.results["build"] = CommandResult(("build",), 0, "", 30.0)
    compose.results["up"] = CommandResult(("up",), 0, "", 12.5)
    stack = make_stack()
    report = stack.start()
    assert report == StartupReport(PROJECT, 30.0, 12.5, 60.0, HEALTHY)
    assert report.started
    assert stack.startup is report
    assert compose.verbs() == ["config", "build", "up", "ps"]
    up = compose.last("up")
    assert up.args == {
        "services": (),
        "wait_timeout": 60,
        "timeout": 90,
        "recreate": False,
        "scale": {},
    }
    assert up.project is not None
    assert (up.project.name, up.project.directory, up.project.files[0]) == (
        PROJECT,
        tmp_path,
        tmp_path / "docker-compose.yml",
    )
    # The run's own override comes last: owner labels on everything, a stable tag for what is built.
    assert [f.name for f in up.project.files[1:]] == ["athalia.yml"]
    assert ("watch_project", PROJECT) in registry.events


def test_start_without_build_skips_the_build(make_stack: Callable[..., ComposeStack], compose: FakeCompose) -> None:
    """`build: false` goes straight to `up`, and no build time is reported."""
    report = make_stack(build=False).start()
    assert compose.verbs() == ["config", "up", "ps"]
    assert report.build_seconds is None
    assert report.started


def test_start_passes_resolved_secrets_through_the_environment_and_redacts_them(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose, redactor: Redactor
) -> None:
    """Secrets reach compose as variables of the project's environment (not in its repr), then are masked."""
    stack = make_stack(env={"POSTGRES_PASSWORD": "${env:DB_PW}"}, environ={"DB_PW": "hunter2", "PATH": "/bin"})
    stack.start()
    for call in compose.calls:
        if call.project is None:
            continue
        assert call.project.env["POSTGRES_PASSWORD"] == "hunter2"
        assert call.project.env["COMPOSE_PROJECT_NAME"] == PROJECT
        assert call.project.env["PATH"] == "/bin"
        assert "hunter2" not in repr(call)
    assert redactor.redact("pw=hunter2") == "pw=***"


def test_start_with_an_unresolvable_secret_raises(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """A configuration error is raised, not reported as a failed startup, and nothing is run."""
    with pytest.raises(SecretError, match="DB_PW"):
        make_stack(env={"POSTGRES_PASSWORD": "${env:DB_PW}"}).start()
    assert compose.calls == []


def test_a_stack_service_the_compose_files_lack_fails_the_start_before_any_build(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose, tmp_path: Path
) -> None:
    """stack.service is checked against the merged model first; the report names file, key, services and fix."""
    report = make_stack(service="nosuch").start()
    assert not report.started
    assert report.error.startswith(f"athalia: stack.service in {tmp_path / 'environments' / 'dev.yml'} is 'nosuch'")
    assert "it has: app, db." in report.error
    assert (report.build_seconds, report.startup_seconds, report.services) == (None, None, ())
    assert compose.verbs() == ["config"]


def test_a_stack_port_the_service_does_not_have_fails_the_start_before_any_build(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """stack.port must be exposed or published by stack.service; the report lists the ports it has."""
    report = make_stack(port=9999).start()
    assert re.search(r"stack\.port in .* is 9999, .*its ports: 127\.0\.0\.1::8000 \(published\)", report.error)
    assert compose.verbs() == ["config"]


def test_context_manager_raises_a_configuration_mistake_as_a_config_error(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """`with ComposeStack(...)` keeps the error's kind: a wrong stack.service is a ConfigError, and nothing ran."""
    with pytest.raises(ConfigError, match=r"stack\.service in .* is 'nosuch'"), make_stack(service="nosuch"):
        pytest.fail("the with block must not run")
    assert compose.verbs() == ["config", "down"]  # no service logs: no service ran


def test_failure_logs_of_a_stack_that_never_reached_up_say_so_without_asking_compose(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """After a failed check or build, no service ran: the log section says so instead of staying empty."""
    stack = make_stack(service="nosuch")
    stack.start()
    assert stack.failure_logs(10).startswith("(no service was started: the stack failed before `docker compose up`")
    assert "logs" not in compose.verbs()


def test_a_model_compose_cannot_print_is_a_failed_startup(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """`compose config` failing (a broken compose file) is reported like any compose failure, before a build."""
    compose.results["config"] = StackError("athalia: compose config failed (exit 15): yaml: line 3")
    report = make_stack().start()
    assert not report.started
    assert report.error == "athalia: compose config failed (exit 15): yaml: line 3"
    assert compose.verbs() == ["config", "ps"]


def test_long_builds_report_later_steps_at_a_bounded_rate(
    make_stack: Callable[..., ComposeStack],
    compose: FakeCompose,
    progress_lines: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Later build steps of an image are reported once the throttle interval has passed, never more often."""
    compose.lines["build"] = ["#5 [app 1/4] FROM base", "#6 [app 2/4] RUN apt-get install", "#7 [app 3/4] COPY ."]
    monkeypatch.setattr(stack_module, "_BUILD_STEP_EVERY", 0.0)
    make_stack().start()
    steps = [line for line in untimed(progress_lines) if ": building app" in line]
    assert steps == [f"athalia: building images of {PROJECT}: building app {n}/4 (Ns)" for n in (1, 2, 3)]


def test_start_reports_progress_per_image_and_per_healthy_container(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose, progress_lines: list[str]
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


def test_failed_build_is_reported_not_raised(make_stack: Callable[..., ComposeStack], compose: FakeCompose) -> None:
    """A build error ends up in the report, `up` is not attempted, and no startup time is claimed."""
    compose.services.clear()
    compose.results["build"] = StackError("athalia: compose build failed (exit 1)")
    report = make_stack().start()
    assert not report.started
    assert report.error == "athalia: compose build failed (exit 1)"
    assert (report.build_seconds, report.startup_seconds) == (None, None)
    assert compose.verbs() == ["config", "build", "ps"]


def test_build_timeout_is_reported_not_raised(make_stack: Callable[..., ComposeStack], compose: FakeCompose) -> None:
    """A build that runs past its timeout is a failed startup in the report, not a missed startup SLO."""
    compose.results["build"] = StackTimeout("athalia: compose build did not finish within 3600 s and was stopped")
    report = make_stack().start()
    assert not report.started
    assert "build" in report.error
    assert report.startup_seconds is None


def test_failed_up_is_reported_with_composes_output(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """A quick `up` failure is an error naming the exit code, project, file and compose's last words."""
    compose.results["up"] = CommandResult(("up",), 1, "Error response from daemon: port is already allocated", 0.3)
    report = make_stack(build=False).start()
    assert not report.started
    assert report.error.startswith(f"athalia: `docker compose up` failed (exit 1) for project {PROJECT} of ")
    assert report.error.endswith("compose said:\nError response from daemon: port is already allocated")
    assert report.startup_seconds is None
    assert report.services == HEALTHY


def test_up_that_gives_up_waiting_is_a_startup_timeout(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """compose's wait timeout counts as the full deadline and names the services that were not healthy."""
    compose.services[1] = ServiceState("db", f"{PROJECT}-db-1", "running", "unhealthy")
    compose.results["up"] = CommandResult(("up",), 1, "container db is unhealthy: timeout waiting", 61.0)
    report = make_stack(build=False).start()
    assert not report.started
    assert report.startup_seconds == 60.0
    assert f"stack {PROJECT} was not healthy within its startup SLO of 60 s" in report.error
    assert "slo.startup.max_seconds in" in report.error
    assert "Not healthy: db (running/unhealthy)." in report.error


def test_up_killed_by_its_own_timeout_is_a_startup_timeout(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """When `up` itself hangs past deadline + 30 s, the report says the SLO was missed."""
    compose.results["up"] = StackTimeout("athalia: compose up did not finish within 90 s and was stopped")
    report = make_stack(build=False).start()
    assert not report.started
    assert report.startup_seconds == 60.0
    assert "was not healthy within its startup SLO" in report.error


# -- a started stack ----------------------------------------------------------------------------------------


def test_endpoint_defaults_to_stack_service_and_port_and_reaches_a_wildcard_bind_through_loopback(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """stack.service:stack.port by default; 0.0.0.0 and :: become 127.0.0.1; any other host is kept."""
    stack = make_stack(build=False)
    stack.start()
    assert stack.endpoint() == Endpoint("127.0.0.1", 49153)
    assert stack.url(path="/health") == "http://127.0.0.1:49153/health"
    assert stack.endpoint("db", 5432) == Endpoint("127.0.0.1", 5)
    compose.ports[("db", 5432)] = ("192.0.2.7", 6)
    assert stack.endpoint("db") == Endpoint("192.0.2.7", 6)
    assert compose.last("port").args == {"service": "db", "port": None}  # another service: its first port


def test_endpoint_of_a_port_that_is_not_published_names_the_fix(make_stack: Callable[..., ComposeStack]) -> None:
    """An unpublished port is a StackError showing the ports: line to add."""
    stack = make_stack(build=False)
    stack.start()
    with pytest.raises(StackError, match=r"service 'app' of project .* publishes no port 9000 .*127\.0\.0\.1::9000"):
        stack.endpoint("app", 9000)


def test_logs_and_exec_output_are_redacted(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose, redactor: Redactor
) -> None:
    """What compose prints from the services passes the redactor before the caller sees it."""
    stack = make_stack(build=False)
    stack.start()
    redactor.add("hunter2")
    compose.log_text = "app | pw=hunter2\napp | ok"
    compose.exec_result = ExecResult(3, "pw=hunter2")
    assert stack.logs(tail=5) == "app | pw=***\napp | ok"
    assert stack.exec("app", ["cat", "/pw"], timeout=7) == ExecResult(3, "pw=***")
    assert compose.last("exec").args == {"service": "app", "command": ("cat", "/pw"), "timeout": 7}


def test_exec_timeout_is_a_stack_timeout(make_stack: Callable[..., ComposeStack], compose: FakeCompose) -> None:
    """The driver's StackTimeout (command and output tail) reaches the caller as it is: part of our error tree."""
    stack = make_stack(build=False)
    stack.start()
    compose.results["exec"] = StackTimeout("athalia: `sleep 9` in service app did not finish within 1 s")
    with pytest.raises(StackTimeout, match="sleep 9"):
        stack.exec("app", ["sleep", "9"], timeout=1)


# -- stop and the context manager ---------------------------------------------------------------------------


def test_stop_removes_containers_networks_and_volumes_once(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose, registry: Registry
) -> None:
    """stop runs `down` once, tells the watchdog, and a second stop is a no-op."""
    stack = make_stack(build=False)
    stack.start()
    stack.stop()
    stack.stop()
    assert compose.verbs() == ["config", "up", "ps", "down"]
    assert registry.events[-1] == ("project_removed", PROJECT)


def test_keep_leaves_the_stack_and_prints_how_to_remove_it(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose, registry: Registry, progress_lines: list[str]
) -> None:
    """With keep, stop runs no command, hands the project over (released from the watchdog), and shows its removal."""
    stack = make_stack(build=False, keep=True)
    stack.start()
    stack.stop()
    assert "down" not in compose.verbs()
    assert registry.events[-1] == ("project_removed", PROJECT)
    assert progress_lines[-1] == f"athalia: kept stack {PROJECT}; remove it with: {stack.removal_command()}"


def test_context_manager_stops_the_stack_on_exit(make_stack: Callable[..., ComposeStack], compose: FakeCompose) -> None:
    """Leaving the `with` block removes the stack."""
    with make_stack(build=False) as stack:
        assert stack.startup is not None
        assert stack.startup.started
        assert "down" not in compose.verbs()
    assert compose.verbs()[-1] == "down"


def test_context_manager_cleans_up_and_attaches_logs_when_the_stack_does_not_come_up(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """A failed start raises the report's error with the service logs as a note, after removing the stack."""
    compose.log_text = "\n".join(f"db | line {n}" for n in range(100)) + "\ndb | FATAL"
    compose.results["up"] = CommandResult(("up",), 1, "boom", 0.1)
    with pytest.raises(StackError) as info, make_stack(build=False):
        pytest.fail("the with block must not run")
    assert "compose said:\nboom" in str(info.value)
    (note,) = info.value.__notes__
    assert note.startswith(f"service logs of {PROJECT}:\ndb | line 61\n")
    assert note.endswith("db | FATAL")
    assert compose.last("logs").args == {"service": None, "tail": 40}
    assert compose.verbs()[-1] == "down"


def test_context_manager_cleans_up_when_start_is_interrupted(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """Ctrl-C during start still removes what was created, and the interrupt propagates."""
    compose.results["up"] = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt), make_stack(build=False):
        pytest.fail("the with block must not run")
    assert compose.verbs() == ["config", "up", "down"]


# -- rollout.enabled: the override, the router image and the colors ------------------------------------------------


@pytest.fixture
def make_rollout_stack(make_stack: Callable[..., ComposeStack]) -> Callable[..., ComposeStack]:
    def make(*, router: Mapping[str, object] | None = None) -> ComposeStack:
        return make_stack(build=False, rollout={"router": dict(router or {})})

    return make


@pytest.fixture
def started(make_rollout_stack: Callable[..., ComposeStack], compose: FakeCompose) -> ComposeStack:
    """A started rollout stack whose router image is present."""
    compose.images.add("athalia/router:2.6")
    stack = make_rollout_stack()
    assert stack.start().started
    return stack


def test_rollout_start_merges_the_generated_override_into_every_compose_command(
    started: ComposeStack, compose: FakeCompose, tmp_path: Path
) -> None:
    """The model is read from the user's files, then with the run's labels; up and down add the private override."""
    user_files = (tmp_path / "docker-compose.yml",)
    first, second = (call.project for call in compose.calls if call.verb == "config")
    assert first is not None
    assert second is not None
    assert first.files == user_files
    assert second.files[:1] == user_files
    assert [f.name for f in second.files[1:]] == ["athalia.yml"]
    up = compose.last("up").project
    assert up is not None
    assert up.files[:2] == second.files
    generated = up.files[2]
    assert generated.parent.parent == tmp_path / "generated"
    assert stat.S_IMODE(generated.stat().st_mode) == 0o600
    assert stat.S_IMODE(generated.parent.stat().st_mode) == 0o700
    assert set(yaml.safe_load(generated.read_text().replace("!reset", "").replace("!override", ""))["services"]) == {
        "app",
        "app-blue",
        "app-green",
    }
    started.stop()
    down = compose.last("down").project
    assert down is not None
    assert down.files == up.files
    assert not generated.parent.exists()


def test_a_missing_router_image_is_built_from_the_packaged_dockerfile(
    make_rollout_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """With rollout.router.build and no image, the router image is built (FROM BASE_IMAGE); its time counts."""
    seen: dict[str, object] = {}

    def look(call: ComposeCall) -> None:
        if call.verb == "build_router_image":
            seen["dockerfile"] = Path(call.args["context"], "Dockerfile").is_file()

    compose.on_call = look
    compose.results["build_router_image"] = CommandResult(("docker", "build"), 0, "", 20.0)
    report = make_rollout_stack().start()
    assert report.build_seconds == 20.0
    assert compose.verbs() == ["config", "config", "build_router_image", "up", "ps"]
    assert compose.last("build_router_image").args["image"] == "athalia/router:2.6"
    assert seen == {"dockerfile": True}


def test_a_missing_prometheus_image_is_built_when_the_canary_reads_prometheus(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """metrics: prometheus adds athalia-prometheus to the override and builds its missing image; both builds count."""
    compose.results["build_router_image"] = CommandResult(("docker", "build"), 0, "", 20.0)
    contexts: list[str] = []

    def look(call: ComposeCall) -> None:
        if call.verb == "build_router_image":
            contexts.append(Path(call.args["context"]).name)
            assert Path(call.args["context"], "Dockerfile").is_file()

    compose.on_call = look
    report = make_stack(build=False, rollout={"canary": {"metrics": "prometheus"}}).start()
    assert report.started
    assert report.build_seconds == 40.0
    built = [call.args["image"] for call in compose.calls if call.verb == "build_router_image"]
    assert built == ["athalia/router:2.6", "athalia/prometheus:bookworm"]
    assert contexts == ["router", "prometheus"]
    up = compose.last("up").project
    assert up is not None
    generated = yaml.safe_load(up.files[-1].read_text().replace("!reset", "").replace("!override", ""))
    assert "athalia-prometheus" in generated["services"]


def test_a_present_prometheus_image_or_build_false_builds_nothing(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """An image that is there is used; rollout.canary.prometheus.build: false never builds."""
    compose.images.update({"athalia/router:2.6", "athalia/prometheus:bookworm"})
    assert make_stack(build=False, rollout={"canary": {"metrics": "prometheus"}}).start().started
    compose.images.discard("athalia/prometheus:bookworm")
    canary = {"metrics": "prometheus", "prometheus": {"build": False, "image": "prom/prometheus:v2.42.0"}}
    assert make_stack(build=False, rollout={"canary": canary}).start().started
    assert "build_router_image" not in compose.verbs()


def test_no_router_build_when_the_environment_says_so(
    make_rollout_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """`rollout.router.build: false` (e.g. `image: haproxy:2.6` from a registry) leaves the image to compose."""
    report = make_rollout_stack(router={"image": "haproxy:2.6", "build": False}).start()
    assert report.started
    assert report.build_seconds is None
    assert compose.verbs() == ["config", "config", "up", "ps"]


def test_an_override_that_cannot_be_generated_is_a_failed_startup(
    make_rollout_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """A service already named like the green color ends up in the report; nothing is started."""
    compose.model = {"services": {**MODEL["services"], "app-green": {"image": "x"}}}
    compose.services.clear()
    report = make_rollout_stack().start()
    assert not report.started
    assert "the compose files already define a service 'app-green'" in report.error
    assert "up" not in compose.verbs()


@pytest.mark.parametrize(("color", "service"), [("green", "app-green"), ("blue", "app-blue")])
def test_deploy_color_recreates_only_that_service_and_waits_for_it(
    started: ComposeStack, compose: FakeCompose, progress_lines: list[str], color: Color, service: str
) -> None:
    """`up --no-deps --force-recreate --wait` of one service, with the candidate's image and env; returns its time."""
    seen: dict[str, Any] = {}

    def look(call: ComposeCall) -> None:
        assert call.project is not None
        seen.update(file=call.project.files[-1], text=call.project.files[-1].read_text(), env=call.project.env)

    compose.on_call = look
    compose.results["up"] = CommandResult(("up",), 0, "", 4.5)
    seconds = started.deploy_color(color, image="app:2", env={"APP_VERSION": "9.9.9"}, timeout=45)
    assert seconds == 4.5
    assert compose.last("up").args == {
        "services": (service,),
        "wait_timeout": 45,
        "timeout": 75,
        "recreate": True,
        "scale": {service: 1} if color == "green" else {},
    }
    assert "9.9.9" not in str(seen["text"])
    assert yaml.safe_load(str(seen["text"])) == {
        "services": {service: {"image": "app:2", "environment": {"APP_VERSION": "${ATHALIA_DEPLOY_ENV_0}"}}}
    }
    assert seen["env"]["ATHALIA_DEPLOY_ENV_0"] == "9.9.9"
    assert not Path(str(seen["file"])).exists()
    assert any(f"deploying {color} ({service}, image app:2) to {PROJECT} done in" in line for line in progress_lines)


def test_deploy_without_image_or_env_writes_no_file(started: ComposeStack, compose: FakeCompose) -> None:
    """Redeploying a color as it is needs no extra override."""
    base = compose.last("up").project
    started.deploy_color("green", image=None, env={}, timeout=10)
    deploy = compose.last("up").project
    assert base is not None
    assert deploy is not None
    assert deploy.files == base.files


def test_a_failed_deploy_is_a_rollout_error_with_composes_output(
    started: ComposeStack, compose: FakeCompose, tmp_path: Path
) -> None:
    """A deploy that does not turn healthy names the color, service, project, where to look and compose's words."""
    compose.results["up"] = CommandResult(("up",), 1, "container app-green-1 exited (1)", 9.0)
    with pytest.raises(RolloutError) as info:
        started.deploy_color("green", image=None, env={"APP_VERSION": "bad"}, timeout=8)
    message = str(info.value)
    assert message.startswith(f"athalia: deploying green (service app-green) of project {PROJECT} failed (exit 1")
    assert f"docker compose -p {PROJECT} logs app-green" in message
    assert message.endswith("compose said:\ncontainer app-green-1 exited (1)")
    (folder,) = (f for f in (tmp_path / "generated").iterdir() if (f / "rollout.yml").exists())
    assert folder.name.startswith(PROJECT)
    # The deploy file is gone; the run's override, its owner and the rollout override stay until stop.
    assert sorted(p.name for p in folder.iterdir()) == ["athalia.yml", "owner.json", "rollout.yml"]


def test_a_failed_deploy_is_reported_failed_never_done(
    started: ComposeStack, compose: FakeCompose, progress_lines: list[str]
) -> None:
    """The deploy's progress phase ends with `failed after` when compose fails, and no line claims it done."""
    compose.results["up"] = CommandResult(("up",), 1, "container app-green-1 exited (1)", 9.0)
    with pytest.raises(RolloutError):
        started.deploy_color("green", image=None, env={}, timeout=8)
    deploy = [line for line in progress_lines if "deploying green" in line]
    assert deploy[0].endswith(f"deploying green (app-green) to {PROJECT} ...")
    assert deploy[-1].startswith(f"athalia: deploying green (app-green) to {PROJECT} failed after ")
    assert not [line for line in deploy if " done in " in line], deploy


def test_a_deploy_that_hangs_is_a_rollout_error(started: ComposeStack, compose: FakeCompose) -> None:
    """compose running past the wait timeout + 30 s is stopped and reported as a RolloutError."""
    compose.results["up"] = StackTimeout("athalia: compose up (deploy) did not finish within 40 s and was stopped")
    with pytest.raises(RolloutError, match=r"within 40 s.*The green color \(app-green\) was not deployed"):
        started.deploy_color("green", image=None, env={}, timeout=10)


def test_deploy_color_without_rollout_says_to_enable_it(make_stack: Callable[..., ComposeStack]) -> None:
    """A stack without rollout.enabled has no green to deploy to."""
    stack = make_stack(build=False)
    stack.start()
    with pytest.raises(RolloutError, match=r"rollout\.enabled is not true in .*Set rollout\.enabled: true"):
        stack.deploy_color("green", image=None, env={}, timeout=10)


def test_colors_before_start_say_to_call_start(make_rollout_stack: Callable[..., ComposeStack]) -> None:
    """The colors exist once the override is merged; before that, the fix is to start the stack."""
    with pytest.raises(StackError, match=r"call start\(\) first"):
        make_rollout_stack().color_url("green")


def test_colors_map_to_services_and_their_own_ports(started: ComposeStack, compose: FakeCompose) -> None:
    """Blue and green are <service>-blue and -green; color_url asks for that service's published stack.port."""
    compose.ports[("app-green", 8000)] = ("127.0.0.1", 40001)
    compose.ports[("app-blue", 8000)] = ("127.0.0.1", 40002)
    assert isinstance(started, ColorStack)
    assert isinstance(started.colors, ColorStack)
    assert (started.color_service("blue"), started.color_service("green")) == ("app-blue", "app-green")
    assert started.color_url("green", "/version") == "http://127.0.0.1:40001/version"
    assert started.color_url("blue") == "http://127.0.0.1:40002"
    with pytest.raises(RolloutError, match="expected a color"):
        started.color_service("purple")  # type: ignore[arg-type]


def test_colors_work_over_any_driver_without_the_stack(tmp_path: Path, compose: FakeCompose) -> None:
    """ComposeColors needs only a driver and a project: prepare merges the override, then a color deploys."""
    from pytest_athalia.stack._driver import ComposeProject

    compose.images.add("athalia/router:2.6")
    colors = ComposeColors(
        make_env(tmp_path, rollout={}), driver=compose, progress=Progress(lambda line: None), files_root=tmp_path
    )
    project, built = colors.prepare(ComposeProject(PROJECT, tmp_path, ()), MODEL, 60.0)
    assert built is None
    assert len(project.files) == 1
    assert colors.deploy_color("green", image=None, env={}, timeout=5) == 2.5
    assert compose.last("up").project == project
    colors.remove_files()
    assert not project.files[0].exists()


def test_a_compose_too_old_for_the_override_is_a_failed_startup(
    make_stack: Callable[..., ComposeStack], compose: FakeCompose
) -> None:
    """Compose before 2.23.1 cannot take the router's inline configuration: the report says so and how to fix it."""
    compose.compose_version = "2.20.2"
    compose.services.clear()
    # Ports as published: with private ports (2.24.4+) the same compose is refused before the router is thought of.
    report = make_stack(build=False, rollout={"router": {}}, ports="as_published").start()
    assert "rollout.enabled needs docker compose 2.23.1 or newer" in report.error
    assert "found 2.20.2" in report.error
    assert "up" not in compose.verbs()
