"""Start-up checks of an environment file against the merged compose model, before anything is built.

``stack.service`` must be a service of the model and ``stack.port`` a TCP port that service exposes
(``expose:``) or publishes (``ports:``). The model is ``docker compose config --no-interpolate
--format json``: ports keep the short syntax the user wrote (``"127.0.0.1::8000"``, ``"8000-8002"``,
``"${PORT}:8000/tcp"``) or the long one (``{target: 8000}``). A container port that is itself a
variable cannot be known before interpolation; it counts as a match, and compose decides at ``up``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ConfigError

__all__ = ["PortSpec", "check_service_and_port", "service_ports"]


@dataclass(frozen=True)
class PortSpec:
    """Container ports ``first..last`` of one ``ports:`` or ``expose:`` entry; `first` None when not known yet."""

    first: int | None
    last: int | None
    protocol: str
    published: bool
    text: str  # as the user wrote it, for messages

    def holds(self, port: int) -> bool:
        if self.protocol != "tcp":
            return False
        if self.first is None or self.last is None:
            return True  # a variable: decided by compose after interpolation
        return self.first <= port <= self.last

    def describe(self) -> str:
        return f"{self.text} ({'published' if self.published else 'exposed'})"


def check_service_and_port(model: Mapping[str, Any], *, service: str, port: int, environment_file: Path) -> None:
    """Raise ConfigError unless `service` is in `model` and exposes or publishes TCP `port`."""
    services = model.get("services")
    services = services if isinstance(services, Mapping) else {}
    definition = services.get(service)
    if not isinstance(definition, Mapping):
        raise ConfigError(
            f"athalia: stack.service in {environment_file} is {service!r}, but the merged compose config has no "
            f"such service; it has: {', '.join(sorted(services)) or 'no service at all'}. Set stack.service in "
            f"{environment_file} to the service under test (one of those), or add that service to the compose "
            "files listed in stack.compose_files."
        )
    ports = service_ports(definition)
    if any(spec.holds(port) for spec in ports):
        return
    found = ", ".join(spec.describe() for spec in ports) or "none"
    raise ConfigError(
        f"athalia: stack.port in {environment_file} is {port}, but service {service!r} neither exposes nor "
        f"publishes TCP port {port} in the merged compose config; its ports: {found}. Set stack.port in "
        f"{environment_file} to the port the service listens on, or publish it in the compose file, e.g. "
        f'ports: ["127.0.0.1::{port}"].'
    )


def service_ports(definition: Mapping[str, Any]) -> tuple[PortSpec, ...]:
    """The ``ports:`` (published) then ``expose:`` entries of one service of the model, as values."""
    published = tuple(_spec(entry, published=True) for entry in _entries(definition.get("ports")))
    exposed = tuple(_spec(entry, published=False) for entry in _entries(definition.get("expose")))
    return published + exposed


def _entries(value: object) -> Iterable[object]:
    return value if isinstance(value, list) else ()


def _spec(entry: object, *, published: bool) -> PortSpec:
    if isinstance(entry, Mapping):  # long syntax, shown in the short one: [host_ip:][published:]target/protocol
        protocol = str(entry.get("protocol") or "tcp").lower()
        target = str(entry.get("target", ""))
        host_ip, host_port = str(entry.get("host_ip") or ""), str(entry.get("published") or "")
        host = f"{host_ip}:{host_port}:" if host_ip else f"{host_port}:" if host_port else ""
        return _ranged(target, protocol, published, f"{host}{target}/{protocol}")
    text = str(entry)
    ports, _, protocol = text.partition("/")
    # Short syntax: [[host_ip:]published:]target; the container port is always the last part.
    target = ports.rpartition(":")[2] if published else ports
    return _ranged(target, (protocol or "tcp").lower(), published, text)


def _ranged(target: str, protocol: str, published: bool, text: str) -> PortSpec:
    first, _, last = target.strip().partition("-")
    if first.isdigit() and (last.isdigit() or not last):
        return PortSpec(int(first), int(last or first), protocol, published, text)
    return PortSpec(None, None, protocol, published, text)
