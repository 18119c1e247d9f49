"""Start-up checks: stack.service and stack.port against the merged compose model (pure, no Docker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_athalia._errors import ConfigError
from pytest_athalia.stack._validation import PortSpec, check_service_and_port, service_ports

ENV_FILE = Path("/project/environments/dev.yml")


def model(**services: dict[str, Any]) -> dict[str, Any]:
    return {"name": "p", "services": services}


def check(m: dict[str, Any], service: str = "app", port: int = 8000) -> None:
    check_service_and_port(m, service=service, port=port, environment_file=ENV_FILE)


@pytest.mark.parametrize(
    "definition",
    [
        {"ports": ["127.0.0.1::8000"]},
        {"ports": ["8000"]},
        {"ports": [8000]},
        {"ports": ["49000:8000"]},
        {"ports": ["0.0.0.0:49000:8000/tcp"]},
        {"ports": ["[::1]:49000:8000"]},
        {"ports": ["7990-8010:7990-8010"]},
        {"ports": ["${APP_PORT:-49000}:8000"]},
        {"ports": [{"target": 8000, "host_ip": "127.0.0.1", "protocol": "tcp"}]},
        {"ports": [{"target": 8000, "published": "49000"}]},
        {"expose": ["8000"]},
        {"expose": [8000]},
        {"expose": ["7000-9000/tcp"]},
        {"ports": ["${APP_PORT}"]},  # not known before interpolation: compose decides
    ],
)
def test_a_port_that_is_published_or_exposed_passes(definition: dict[str, Any]) -> None:
    """Short and long syntax, ranges, host addresses, protocols and variables in the host part all count."""
    check(model(app=definition, db={"image": "db"}))


@pytest.mark.parametrize(
    "definition",
    [
        {},
        {"ports": ["127.0.0.1::8001"]},
        {"ports": ["8000:9000"]},  # 8000 is the host's port, not the container's
        {"ports": ["8000/udp"]},
        {"ports": [{"target": 8000, "protocol": "udp"}]},
        {"expose": ["8001-8010"]},
    ],
)
def test_a_port_the_service_does_not_have_fails(definition: dict[str, Any]) -> None:
    """A container port that is not there, or only over UDP, is a ConfigError."""
    with pytest.raises(ConfigError, match=r"stack\.port in .* is 8000"):
        check(model(app=definition))


def test_a_missing_service_names_the_file_the_key_the_services_there_are_and_the_fix() -> None:
    """One paragraph: what was expected, what exists, and where to change it."""
    with pytest.raises(ConfigError) as info:
        check(model(web={"ports": ["8000"]}, db={}), service="nosuch")
    assert str(info.value) == (
        f"athalia: stack.service in {ENV_FILE} is 'nosuch', but the merged compose config has no such service; "
        f"it has: db, web. Set stack.service in {ENV_FILE} to the service under test (one of those), or add that "
        "service to the compose files listed in stack.compose_files."
    )


def test_a_model_without_services_says_so() -> None:
    """An empty model (compose files without services) is named, not listed as ''."""
    with pytest.raises(ConfigError, match="it has: no service at all"):
        check({"name": "p"})


def test_a_missing_port_lists_the_ports_the_service_has_and_the_fix() -> None:
    """The message shows each port in short syntax, published or exposed, and the ports: line that would fix it."""
    ports = ["127.0.0.1::8080", {"target": 53, "protocol": "udp"}, {"target": 80, "published": "8080"}]
    with pytest.raises(ConfigError) as info:
        check(model(app={"ports": ports, "expose": ["9000"]}), port=9999)
    assert str(info.value) == (
        f"athalia: stack.port in {ENV_FILE} is 9999, but service 'app' neither exposes nor publishes TCP port "
        "9999 in the merged compose config; its ports: 127.0.0.1::8080 (published), 53/udp (published), "
        f"8080:80/tcp (published), 9000 (exposed). Set stack.port in {ENV_FILE} to the port the service listens "
        'on, or publish it in the compose file, e.g. ports: ["127.0.0.1::9999"].'
    )


def test_a_service_without_ports_says_none() -> None:
    """No ports: and no expose: reads as 'its ports: none'."""
    with pytest.raises(ConfigError, match="its ports: none"):
        check(model(app={"image": "app"}))


def test_service_ports_reads_ranges_protocols_and_unknowns() -> None:
    """Values at the boundary: each entry becomes a PortSpec; a variable container port is unknown (None)."""
    assert service_ports({"ports": ["1-3/udp", "${P}"], "expose": [5]}) == (
        PortSpec(1, 3, "udp", True, "1-3/udp"),
        PortSpec(None, None, "tcp", True, "${P}"),
        PortSpec(5, 5, "tcp", False, "5"),
    )
