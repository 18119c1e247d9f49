"""Private ports against real Docker: a compose file with fixed host ports, twice at once, and its opt-out.

``fixtures/fixedports`` publishes fixed host ports in every syntax (short, long, UDP, a range of
container ports). With ``stack.ports: private`` (the default) two stacks of it start side by side,
as two pytest-xdist workers would, and every port of every container is bound on 127.0.0.1 only.
With ``stack.ports: as_published`` and the port held by this test, the start fails once, before
``up``, with one paragraph. Every test gets its own environment name, so its projects are
``athalia-fixedports<hex6>-...`` and the leak checks touch nothing else on the daemon.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pytest_athalia._errors import StackError
from pytest_athalia.config._environment import load_environment
from pytest_athalia.config._secrets import Redactor
from pytest_athalia.report._progress import Progress
from pytest_athalia.stack._cleanup import make_project_name
from pytest_athalia.stack._stack import ComposeStack

from .test_lifecycle import _docker, leftovers, remove_projects

pytestmark = pytest.mark.docker

COMPOSE = Path(__file__).parent / "fixtures" / "fixedports" / "docker-compose.yml"
LABEL = "com.docker.compose.project"
# What the compose file publishes: (service, container port/protocol) -> the fixed host port, if any.
PUBLISHED = {
    ("web", "8000/tcp"): "FIXED_WEB_PORT",
    ("web", "8001/udp"): "18081",
    ("admin", "9000/tcp"): "18090",
    ("admin", "9100/tcp"): None,
    ("admin", "9101/tcp"): None,
}

ENVIRONMENT = """\
description: fixed host ports (tests/integration/test_ports.py)
stack:
  compose_files: [{compose}]
  service: web
  port: 8000
  health_path: /
  build: false
{ports}  env:
    FIXED_WEB_PORT: "{port}"
slo:
  startup:
    max_seconds: 60
"""


def free_port() -> int:
    """A TCP port nothing holds on this host right now."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def name() -> Iterator[str]:
    """This test's environment name; whatever of its projects survives the test is removed."""
    env = f"fixedports{secrets.token_hex(3)}"
    yield env
    prefix = f"athalia-{env}-"
    left = leftovers(prefix)
    remove_projects(prefix)
    assert not left, f"left behind: {left}"


def make_stack(tmp_path: Path, env: str, worker: str, *, port: int, ports: str = "") -> ComposeStack:
    path = tmp_path / f"{env}.yml"
    path.write_text(
        ENVIRONMENT.format(compose=COMPOSE, port=port, ports=f"  ports: {ports}\n" if ports else ""),
        encoding="utf-8",
    )
    return ComposeStack(
        load_environment(str(path), None),
        project=make_project_name(env, worker, os.getpid()),
        redactor=Redactor(),
        progress=Progress(lambda line: None),
        files_root=tmp_path / "generated",
    )


def bindings(project: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(service, "port/protocol") -> Docker's host bindings, for every container of `project`."""
    ids = _docker("ps", "--quiet", "--filter", f"label={LABEL}={project}").split()
    assert ids, f"no container of {project}"
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for container in json.loads(_docker("inspect", *ids)):
        service = container["Config"]["Labels"]["com.docker.compose.service"]
        for port, bound in (container["NetworkSettings"]["Ports"] or {}).items():
            found[(service, port)] = list(bound or [])
    return found


def status(url: str) -> int:
    host, _, rest = url.removeprefix("http://").partition("/")
    address, _, port = host.rpartition(":")
    conn = http.client.HTTPConnection(address, int(port), timeout=10)
    try:
        conn.request("GET", "/" + rest)
        return conn.getresponse().status
    finally:
        conn.close()


def test_two_stacks_of_a_file_with_fixed_ports_run_side_by_side_on_loopback_only(tmp_path: Path, name: str) -> None:
    """Both start at once; every published port of every container is on 127.0.0.1, on a host port Docker chose."""
    port = free_port()
    for worker in ("gw0", "gw1"):
        (tmp_path / worker).mkdir()
    stacks = [make_stack(tmp_path / worker, name, worker, port=port) for worker in ("gw0", "gw1")]
    try:
        with ThreadPoolExecutor(2) as pool:
            reports = list(pool.map(lambda stack: stack.start(), stacks))
        for stack, report in zip(stacks, reports, strict=True):
            assert report.started, f"{stack.project}: {report.error}\n{stack.failure_logs(20)}"
        fixed = {str(port), "18081", "18090"}
        urls = set()
        for stack in stacks:
            bound = bindings(stack.project)
            assert set(bound) == set(PUBLISHED), bound
            for where, entries in bound.items():
                assert entries, f"{stack.project}: {where} is not published"
                for entry in entries:
                    assert entry["HostIp"] == "127.0.0.1", f"{stack.project}: {where} bound on {entry}"
                    assert entry["HostPort"] not in fixed, f"{stack.project}: {where} kept its fixed port"
            url = stack.url("web", "/")
            assert status(url) == 200
            urls.add(url)
        assert len(urls) == 2  # each stack has its own address
    finally:
        for stack in stacks:
            stack.stop()


def test_a_busy_fixed_port_with_the_opt_out_fails_the_start_once_before_up(tmp_path: Path, name: str) -> None:
    """as_published and the web port held here: one paragraph naming file, service, port and fix; nothing created."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))  # held on loopback only: Docker's 0.0.0.0 bind would fail on it
        held.listen()
        port = int(held.getsockname()[1])
        stack = make_stack(tmp_path, name, "main", port=port, ports="as_published")
        with pytest.raises(StackError) as info, stack:
            pass
    message = str(info.value)
    assert message.count("already in use") == 1
    assert f"0.0.0.0:{port}/tcp (service 'web', container port 8000)" in message
    assert str(COMPOSE) in message or "fixedports/docker-compose.yml" in message
    assert "Free the port" in message
    assert "remove `stack.ports: as_published`" in message
    assert "\n" not in message
    assert "port is already allocated" not in message  # Docker was never asked
    assert leftovers(stack.project) == []
