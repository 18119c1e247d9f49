"""host: where published ports are reached, under DOCKER_HOST and TC_HOST."""

from __future__ import annotations

import pytest

from pytest_athalia.stack._host import daemon_host, endpoint_host


@pytest.mark.parametrize(
    ("docker_host", "expected"),
    [
        ("", None),
        ("unix:///var/run/docker.sock", None),
        ("npipe:////./pipe/docker_engine", None),
        ("tcp://127.0.0.1:2375", None),
        ("tcp://localhost:2375", None),
        ("tcp://[::1]:2375", None),
        ("tcp://ci-docker:2376", "ci-docker"),
        ("tcp://10.1.2.3:2375", "10.1.2.3"),
        ("tcp://[fd00::5]:2375", "fd00::5"),
        ("ssh://deploy@ci-docker", "ci-docker"),
        ("https://docker.example.com", "docker.example.com"),
        ("tcp://ci-docker:notaport", "ci-docker"),
        ("tcp://[fd00::5:2375", None),
        ("ci-docker:2375", None),
    ],
)
def test_daemon_host_names_only_remote_daemons(docker_host: str, expected: str | None) -> None:
    """tcp/ssh/http(s) to a non-loopback host is remote; unix sockets, pipes and loopback are local."""
    assert daemon_host(docker_host) == expected


@pytest.mark.parametrize(
    ("published", "environ", "expected"),
    [
        ("0.0.0.0", {}, "127.0.0.1"),
        ("::", {}, "127.0.0.1"),
        ("", {}, "127.0.0.1"),
        ("127.0.0.1", {}, "127.0.0.1"),
        ("192.168.5.5", {}, "192.168.5.5"),
        ("127.0.0.1", {"DOCKER_HOST": "unix:///run/docker.sock"}, "127.0.0.1"),
        ("127.0.0.1", {"DOCKER_HOST": "tcp://ci-docker:2376"}, "ci-docker"),
        ("0.0.0.0", {"DOCKER_HOST": "tcp://10.1.2.3:2375"}, "10.1.2.3"),
        ("", {"DOCKER_HOST": "ssh://me@ci-docker"}, "ci-docker"),
        ("192.168.5.5", {"DOCKER_HOST": "tcp://ci-docker:2376"}, "192.168.5.5"),
        ("127.0.0.1", {"DOCKER_HOST": "tcp://127.0.0.1:2375"}, "127.0.0.1"),
        ("127.0.0.1", {"TC_HOST": "host.docker.internal"}, "host.docker.internal"),
        ("192.168.5.5", {"TC_HOST": "gw", "DOCKER_HOST": "tcp://ci-docker:2376"}, "gw"),
        ("0.0.0.0", {"TC_HOST": "  "}, "127.0.0.1"),
        ("127.0.0.1", {"TESTCONTAINERS_HOST_OVERRIDE": "gw"}, "gw"),
        ("127.0.0.1", {"TC_HOST": "tc", "TESTCONTAINERS_HOST_OVERRIDE": "gw"}, "tc"),
    ],
)
def test_endpoint_host(published: str, environ: dict[str, str], expected: str) -> None:
    """TC_HOST wins; a remote DOCKER_HOST replaces wildcard and loopback; else wildcard means loopback."""
    assert endpoint_host(published, environ) == expected
