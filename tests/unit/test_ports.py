"""Private ports by default (stack.ports): the private form, the fixed ports kept by the opt-out, busy ports."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_athalia._errors import DockerUnavailable
from pytest_athalia.config._environment import Environment, EnvironmentSpec
from pytest_athalia.config._secrets import Redactor
from pytest_athalia.report._progress import Progress
from pytest_athalia.stack import _override as override
from pytest_athalia.stack._ports import (
    FixedPort,
    busy_message,
    busy_ports,
    fixed_ports,
    local_daemon,
    override_too_old,
    port_in_use,
    private_ports,
)
from pytest_athalia.stack._stack import ComposeStack
from pytest_athalia.testing import FakeCompose

LOCAL = "127.0.0.1"


def tcp(target: int | str, **kept: Any) -> dict[str, Any]:
    return {"target": target, "host_ip": LOCAL, "protocol": "tcp", **kept}


# -- the private form ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "private"),
    [
        ("18080:8000", [tcp(8000)]),
        ("8002", [tcp(8002)]),
        (8003, [tcp(8003)]),
        ("0.0.0.0:80:8080", [tcp(8080)]),
        ("127.0.0.1:18081:8001/udp", [{"target": 8001, "host_ip": LOCAL, "protocol": "udp"}]),
        ("[::1]:18100:9100", [tcp(9100)]),
        ("18090-18091:9000-9001", [tcp(9000), tcp(9001)]),
        ("9300-9301", [tcp(9300), tcp(9301)]),
        # A reference may hold ':' and '/'; the published side goes, whatever it was.
        ("${APORT:-18099}:9100", [tcp(9100)]),
        ("${HOST_IP:-0.0.0.0}:${PORT:-8000}:${TARGET:-80}/udp", [f"{LOCAL}::${{TARGET:-80}}/udp"]),
        ("8000:${TARGET}", [f"{LOCAL}::${{TARGET}}/tcp"]),
        (
            {"target": 9200, "published": "18200", "host_ip": "0.0.0.0", "protocol": "tcp", "mode": "host"}
            | {"app_protocol": "http", "name": "web"},
            [tcp(9200, mode="host", app_protocol="http", name="web")],
        ),
        ({"target": 53, "published": "53", "protocol": "udp"}, [{"target": 53, "host_ip": LOCAL, "protocol": "udp"}]),
        ({"target": 8000}, [tcp(8000)]),
        ({"target": "${T}", "published": "${P}"}, [tcp("${T}")]),
        # compose refuses an entry without a target: kept as written, so compose says so.
        ({"published": "18300"}, [{"published": "18300"}]),
    ],
)
def test_each_port_is_republished_on_loopback_without_a_host_port(entry: object, private: list[Any]) -> None:
    """Every syntax keeps its container port and protocol and loses its host port and address."""
    assert private_ports({"ports": [entry]}) == private


@pytest.mark.parametrize(
    "service",
    [
        {"image": "db"},
        {"image": "db", "ports": []},
        {"image": "db", "expose": ["5432"]},
        # Docker ignores ports with the host's network, and refuses them on another container's: not ours to move.
        {"network_mode": "host", "ports": ["8000:8000"]},
        {"network_mode": "none", "ports": ["8000:8000"]},
        {"network_mode": "service:db", "ports": ["8000:8000"]},
        {"network_mode": "container:abc", "ports": ["8000:8000"]},
    ],
)
def test_services_that_publish_nothing_are_left_alone(service: Mapping[str, Any]) -> None:
    """No ports, or a network mode where Docker publishes none: no private form (None)."""
    assert private_ports(service) is None


def test_a_bridge_network_mode_still_publishes() -> None:
    """network_mode: bridge is Docker's default network: its ports are republished."""
    assert private_ports({"network_mode": "bridge", "ports": ["80:80"]}) == [tcp(80)]


LABELS = {"dev.athalia.env": "dev"}
MODEL: dict[str, Any] = {
    "services": {
        "web": {"image": "web", "ports": ["80:8080", {"target": 8443, "published": "443", "protocol": "tcp"}]},
        "db": {"image": "db", "expose": ["5432"]},
        "sidecar": {"image": "s", "network_mode": "host", "ports": ["9000:9000"]},
    }
}


def test_run_override_replaces_the_ports_of_every_publishing_service() -> None:
    """The run's override holds the private ports under compose's !override; other services keep theirs."""
    data = override.run_override(MODEL, labels=LABELS, env="dev", project_directory=Path("/src"))
    assert data["services"]["web"]["ports"] == override.Override([tcp(8080), tcp(8443)])
    assert "ports" not in data["services"]["db"]
    assert "ports" not in data["services"]["sidecar"]


def test_run_override_keeps_the_ports_as_published_when_asked() -> None:
    """stack.ports: as_published leaves every service's ports to the user's files."""
    data = override.run_override(MODEL, labels=LABELS, env="dev", project_directory=Path("/src"), ports="as_published")
    assert all("ports" not in entry for entry in data["services"].values())


def test_the_run_override_file_writes_the_override_tag(tmp_path: Path) -> None:
    """athalia.yml says `ports: !override`: merged after the user's files, it replaces their ports (no union)."""
    run = override.RunOverride.write(
        MODEL, project="athalia-dev-main-p1-abcdef", env="dev", project_directory=tmp_path, keep=True, root=tmp_path
    )
    text = run.path.read_text()
    assert "    ports: !override\n    - target: 8080\n      host_ip: 127.0.0.1\n      protocol: tcp\n" in text
    run.release()


# -- fixed ports (stack.ports: as_published) ---------------------------------------------------------------

# As `docker compose config --format json` prints an interpolated model: long syntax, ranges split.
INTERPOLATED: dict[str, Any] = {
    "services": {
        "web": {
            "ports": [
                {"mode": "ingress", "target": 8000, "published": "18080", "protocol": "tcp"},
                {"mode": "ingress", "host_ip": "127.0.0.1", "target": 8001, "published": "18081", "protocol": "udp"},
                {"mode": "ingress", "target": 8002, "protocol": "tcp"},
                {"mode": "ingress", "target": 8003, "published": "0", "protocol": "tcp"},
                {"mode": "ingress", "host_ip": "::1", "target": 9100, "published": "18100", "protocol": "tcp"},
                # A range for one target: Docker takes any free port of it, so none is fixed.
                {"mode": "ingress", "target": 9000, "published": "18090-18091", "protocol": "tcp"},
            ]
        },
        "api": {"ports": ["0.0.0.0:18200-18201:7000-7001/udp", "${UNSET}:8000", "7002"]},
        "host": {"network_mode": "host", "ports": ["18300:18300"]},
        "db": {"image": "db"},
    }
}


def test_fixed_ports_are_the_host_ports_written_in_the_files() -> None:
    """Fixed host ports per service, in order: ephemeral ones, references and host-network services are not."""
    assert fixed_ports(INTERPOLATED) == (
        FixedPort("web", "", 18080, "8000", "tcp"),
        FixedPort("web", "127.0.0.1", 18081, "8001", "udp"),
        FixedPort("web", "::1", 18100, "9100", "tcp"),
        FixedPort("api", "0.0.0.0", 18200, "7000", "udp"),
        FixedPort("api", "0.0.0.0", 18201, "7001", "udp"),
    )


def test_a_model_without_services_has_no_fixed_ports() -> None:
    """Nothing to check in an empty or odd model."""
    assert fixed_ports({}) == ()
    assert fixed_ports({"services": []}) == ()


@pytest.mark.parametrize(
    ("port", "address"),
    [
        (FixedPort("web", "", 80, "8080", "tcp"), "0.0.0.0:80/tcp"),
        (FixedPort("web", "127.0.0.1", 53, "53", "udp"), "127.0.0.1:53/udp"),
        (FixedPort("web", "::1", 80, "80", "tcp"), "[::1]:80/tcp"),
    ],
)
def test_a_fixed_port_names_its_address(port: FixedPort, address: str) -> None:
    """Every interface is 0.0.0.0, as Docker shows it; IPv6 is bracketed."""
    assert port.address() == address


@pytest.fixture
def held_tcp() -> Iterator[int]:
    """A TCP port this test listens on at 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((LOCAL, 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_a_port_held_by_a_listener_is_in_use_on_its_address_and_on_every_interface(held_tcp: int) -> None:
    """Binding it on 127.0.0.1 or on 0.0.0.0 fails as Docker's would; UDP on the same number is free."""
    assert port_in_use(LOCAL, held_tcp, "tcp")
    assert port_in_use("", held_tcp, "tcp")
    assert port_in_use("0.0.0.0", held_tcp, "tcp")
    assert not port_in_use(LOCAL, held_tcp, "udp")


def test_a_udp_port_is_tried_with_udp() -> None:
    """A bound UDP socket makes its port busy for UDP."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind((LOCAL, 0))
        port = int(held.getsockname()[1])
        assert port_in_use(LOCAL, port, "udp")
    assert not port_in_use(LOCAL, port, "udp")


def test_a_released_port_is_free() -> None:
    """Once the listener is closed the port is no longer in use."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((LOCAL, 0))
        listener.listen()
        port = int(listener.getsockname()[1])
    assert not port_in_use(LOCAL, port, "tcp")


@pytest.mark.parametrize(
    ("host_ip", "protocol"),
    [
        ("192.0.2.1", "tcp"),  # TEST-NET-1: not an address of this host, for Docker to refuse
        ("app.internal", "tcp"),  # a name: not resolved here
        ("", "sctp"),  # not tried
    ],
)
def test_only_address_in_use_counts_as_busy(host_ip: str, protocol: str) -> None:
    """Other bind failures are Docker's to report; we never guess."""
    assert not port_in_use(host_ip, 18080, protocol)


def test_busy_ports_keeps_those_in_use() -> None:
    """busy_ports asks `in_use` for each fixed port's address, port and protocol."""
    ports = fixed_ports(INTERPOLATED)
    asked: list[tuple[str, int, str]] = []

    def in_use(host: str, port: int, protocol: str) -> bool:
        asked.append((host, port, protocol))
        return port == 18081

    assert busy_ports(ports, in_use) == (ports[1],)
    assert asked[:2] == [("", 18080, "tcp"), ("127.0.0.1", 18081, "udp")]


def test_busy_message_is_one_paragraph_naming_files_service_port_and_fix() -> None:
    """The error says which address and port, which service of which compose files, and both fixes."""
    message = busy_message(
        [FixedPort("web", "", 18080, "8000", "tcp"), FixedPort("api", "127.0.0.1", 53, "53", "udp")],
        compose_files=["docker-compose.yml", "docker-compose.ci.yml"],
        environment_file="environments/dev.yml",
    )
    assert "\n" not in message
    assert message.startswith("athalia: the host ports are already in use on this host: ")
    assert "0.0.0.0:18080/tcp (service 'web', container port 8000); 127.0.0.1:53/udp (service 'api'" in message
    assert "compose file(s) docker-compose.yml, docker-compose.ci.yml" in message
    assert "`stack.ports: as_published` in environments/dev.yml" in message
    assert "Free the port" in message
    assert "remove `stack.ports: as_published` from that file" in message


@pytest.mark.parametrize(
    ("environ", "local"),
    [
        ({}, True),
        ({"DOCKER_HOST": "unix:///var/run/docker.sock"}, True),
        ({"DOCKER_HOST": "tcp://127.0.0.1:2375"}, True),
        ({"DOCKER_HOST": "tcp://ci-docker:2376"}, False),
        ({"DOCKER_HOST": "ssh://me@ci-docker"}, False),
        ({"TC_HOST": "host.docker.internal"}, False),
    ],
)
def test_ports_are_tried_only_where_docker_publishes_them(environ: dict[str, str], local: bool) -> None:
    """A remote daemon or pytest in a container: this machine's ports say nothing about the daemon's."""
    assert local_daemon(environ) is local


@pytest.mark.parametrize(
    ("version", "ok"), [("2.24.4", True), ("2.26.1-4", True), ("v2.30.0", True), ("2.24.3", False), ("2.20.2", False)]
)
def test_private_ports_need_compose_with_the_override_tag(version: str, ok: bool) -> None:
    """compose before 2.24.4 has no !override: the reason names the version and both fixes."""
    reason = override_too_old(version)
    assert (reason is None) is ok
    if reason:
        assert f"needs docker compose 2.24.4 or newer (its `!override` tag), found {version}." in reason
        assert "or set stack.ports: as_published" in reason


# -- at start-up ----------------------------------------------------------------------------------------------


def environment(tmp_path: Path, ports: str) -> Environment:
    spec = EnvironmentSpec.model_validate(
        {"stack": {"compose_files": ["../docker-compose.yml"], "service": "app", "port": 8000, "ports": ports}}
    )
    return Environment("dev", tmp_path / "environments" / "dev.yml", spec)


def last_file(compose: FakeCompose) -> Path:
    """The last compose file `up` was given: the run's override."""
    project = compose.last("up").project
    assert project is not None
    return project.files[-1]


def app_model(*ports: object) -> dict[str, Any]:
    return {"name": "p", "services": {"app": {"image": "app:1", "ports": list(ports)}}}


@pytest.fixture
def make_stack(tmp_path: Path) -> Callable[..., ComposeStack]:
    def make(compose: FakeCompose, ports: str, environ: Mapping[str, str] | None = None) -> ComposeStack:
        return ComposeStack(
            environment(tmp_path, ports),
            project="athalia-dev-main-p1-abcdef",
            redactor=Redactor(),
            progress=Progress(lambda line: None),
            environ=environ or {"PATH": "/usr/bin:/bin"},
            files_root=tmp_path / "generated",
            driver=compose,
        )

    return make


def test_a_busy_fixed_port_fails_the_start_once_before_anything_is_built(
    make_stack: Callable[..., ComposeStack], held_tcp: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """as_published and a held port: one paragraph naming file, service, port and fix; no build, no up."""
    monkeypatch.chdir(tmp_path)  # paths in messages are relative to the working directory
    compose = FakeCompose(app_model(f"127.0.0.1:{held_tcp}:8000"))
    report = make_stack(compose, "as_published").start()
    assert not report.started
    assert f"127.0.0.1:{held_tcp}/tcp (service 'app', container port 8000)" in report.error
    assert "compose file(s) docker-compose.yml" in report.error
    assert "environments/dev.yml" in report.error
    assert "\n" not in report.error
    assert not {"build", "up"} & set(compose.verbs())
    assert compose.last("config").args == {"interpolate": True}


def test_a_port_written_as_a_reference_is_checked_as_compose_fills_it(
    make_stack: Callable[..., ComposeStack], held_tcp: int
) -> None:
    """The interpolated model (the environment's and .env's values) is what gets tried."""
    compose = FakeCompose(app_model("127.0.0.1:${APP_PORT}:8000"))
    compose.interpolated = app_model(f"127.0.0.1:{held_tcp}:8000")
    report = make_stack(compose, "as_published").start()
    assert f"127.0.0.1:{held_tcp}/tcp" in report.error


def test_free_fixed_ports_start_as_written(make_stack: Callable[..., ComposeStack]) -> None:
    """Nothing holds the port: the stack starts and its files keep their ports."""
    with socket.socket() as probe:
        probe.bind((LOCAL, 0))
        free = int(probe.getsockname()[1])
    compose = FakeCompose(app_model(f"127.0.0.1:{free}:8000"))
    stack = make_stack(compose, "as_published")
    assert stack.start().started, stack.startup
    run_file = yaml.safe_load(last_file(compose).read_text())
    assert "ports" not in run_file["services"]["app"]
    stack.stop()


def test_a_remote_daemons_ports_are_not_tried_here(make_stack: Callable[..., ComposeStack], held_tcp: int) -> None:
    """With DOCKER_HOST elsewhere the local port says nothing: compose is left to judge."""
    compose = FakeCompose(app_model(f"127.0.0.1:{held_tcp}:8000"))
    stack = make_stack(compose, "as_published", {"DOCKER_HOST": "tcp://ci-docker:2376"})
    assert stack.start().started
    assert compose.verbs().count("config") == 1
    stack.stop()


def test_private_ports_go_into_the_run_override_and_nothing_is_tried(
    make_stack: Callable[..., ComposeStack], held_tcp: int
) -> None:
    """The default: the held port does not matter, athalia.yml republishes the app on 127.0.0.1."""
    compose = FakeCompose(app_model(f"{held_tcp}:8000"))
    stack = make_stack(compose, "private")
    assert stack.start().started
    run_file = last_file(compose)
    assert "ports: !override" in run_file.read_text()
    assert yaml.load(run_file.read_text(), Loader=_TaggedLoader)["services"]["app"]["ports"] == [tcp(8000)]
    assert compose.verbs().count("config") == 1
    stack.stop()


def test_private_ports_with_a_compose_without_override_fail_the_start(make_stack: Callable[..., ComposeStack]) -> None:
    """compose 2.24.3 would add our ports to the user's: refused before anything runs, with the fixes."""
    compose = FakeCompose(app_model("8000:8000"), version="2.24.3")
    report = make_stack(compose, "private").start()
    assert "needs docker compose 2.24.4 or newer" in report.error
    assert "up" not in compose.verbs()


def test_no_compose_version_is_a_failed_start_not_a_crash(make_stack: Callable[..., ComposeStack]) -> None:
    """DockerUnavailable while asking compose's version becomes the start's one-paragraph error."""

    class NoVersion(FakeCompose):
        def version(self) -> str:
            raise DockerUnavailable("athalia: docker compose v2 is not installed.")

    report = make_stack(NoVersion(app_model("8000:8000")), "private").start()
    assert report.error == "athalia: docker compose v2 is not installed."


class _TaggedLoader(yaml.SafeLoader):
    """Reads compose's !override as the plain value under it."""


_TaggedLoader.add_constructor("!override", lambda loader, node: loader.construct_sequence(node, deep=True))  # type: ignore[arg-type]
