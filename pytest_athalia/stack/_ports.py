"""The host ports of a local stack: republished privately, or kept and checked before ``up``.

With ``stack.ports: private`` (the default) every port a service publishes is republished on
``127.0.0.1`` with an ephemeral host port (:func:`private_ports`, merged with compose's ``!override``):
two stacks of one compose file then start side by side (``pytest -n 2``), and nothing of the stack
listens beyond the loopback interface. Tests find the ports with ``docker compose ps``.

With ``stack.ports: as_published`` the compose files' host ports stay as written; the ones that are
fixed (:func:`fixed_ports`) are tried on this host before ``up`` (:func:`busy_ports`), so a port taken
by another program or another stack is one clear error instead of Docker's ``port is already
allocated`` for every test.

The functions read the model of ``docker compose config --format json``. Without interpolation
(``--no-interpolate``, what :func:`~pytest_athalia.stack._override.run_override` receives) compose keeps
the short syntax as written, ``${VAR}`` included; the private form keeps such a target as a reference
for compose to fill. Fixed ports are read from the interpolated model: a port that is still a
reference there is left to compose.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..config._environment import PortsMode
from ._host import daemon_host

__all__ = [
    "LOOPBACK",
    "MIN_COMPOSE",
    "FixedPort",
    "PortsMode",
    "busy_message",
    "busy_ports",
    "fixed_ports",
    "local_daemon",
    "override_too_old",
    "port_in_use",
    "private_ports",
]

LOOPBACK: Final = "127.0.0.1"
# Where Docker publishes a port with no host_ip. Only tried, never listened on: the probe closes at once.
# Bandit's B104 does not apply: tried for a busy port, never served.
ALL_INTERFACES: Final = "0.0.0.0"  # noqa: S104  # nosec B104
# compose's `!override` tag, which replaces a service's ports instead of adding to them, came with 2.24.4.
MIN_COMPOSE: Final = (2, 24, 4)

# Docker publishes nothing for these: the container shares another network stack (or has none).
_NO_PUBLISHING: Final = ("host", "none")
_SHARED_PREFIXES: Final = ("service:", "container:")
_KEPT_KEYS: Final = ("mode", "app_protocol", "name")
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
_PROTOCOLS: Final = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class FixedPort:
    """A host port a service publishes as written in the compose files (``stack.ports: as_published``)."""

    service: str
    host_ip: str  # "" means every interface, as Docker publishes it
    published: int
    target: str  # the container port as written (a number, or a range)
    protocol: str

    def address(self) -> str:
        """``host_ip:port/protocol``, e.g. ``0.0.0.0:8000/tcp``; an IPv6 address is bracketed."""
        host = self.host_ip or ALL_INTERFACES
        if ":" in host:
            host = f"[{host}]"
        return f"{host}:{self.published}/{self.protocol}"


# --------------------------------------------------------------------------- the private form


def private_ports(service: Mapping[str, Any]) -> list[Any] | None:
    """The ports of `service` republished on 127.0.0.1 with ephemeral host ports; None to leave them alone.

    None when the service publishes nothing, or cannot publish (``network_mode`` host, none,
    ``service:`` or ``container:``: Docker ignores or refuses ports there, so they are not ours to
    change). Each entry keeps its target, protocol, ``mode``, ``app_protocol`` and ``name``; a range of
    targets becomes one entry per port; a target that is a ``${VAR}`` reference stays one for compose
    to fill (as ``127.0.0.1::${VAR}/tcp``, which also holds a range). An entry compose would refuse
    (no target) is kept as it is, so compose reports it.
    """
    ports = service.get("ports")
    if not isinstance(ports, Sequence) or isinstance(ports, str) or not ports:
        return None
    mode = str(service.get("network_mode") or "")
    if mode in _NO_PUBLISHING or mode.startswith(_SHARED_PREFIXES):
        return None
    return [private for entry in ports for private in _private_entry(entry)]


def _private_entry(entry: object) -> Iterator[Any]:
    if isinstance(entry, Mapping):
        target = entry.get("target")
        if target is None or target == "":
            yield dict(entry)
            return
        kept = {key: entry[key] for key in _KEPT_KEYS if key in entry}
        protocol = str(entry.get("protocol") or "tcp")
        numbers = _numbers(str(target))
        for number in numbers or (target,):
            yield {"target": number, "host_ip": LOOPBACK, "protocol": protocol, **kept}
        return
    short = _parse_short(entry)
    if short is None:
        yield entry
        return
    numbers = _numbers(short.target)
    if numbers is None:
        yield f"{LOOPBACK}::{short.target}/{short.protocol}"
        return
    for number in numbers:
        yield {"target": number, "host_ip": LOOPBACK, "protocol": short.protocol}


# --------------------------------------------------------------------------- fixed host ports


def fixed_ports(model: Mapping[str, Any]) -> tuple[FixedPort, ...]:
    """Every fixed host port of `model` (interpolated), per service, in file order.

    Ephemeral ones (no published port, or 0) are not fixed; neither is a port that is still a
    ``${VAR}`` reference, nor one of a service that cannot publish (``network_mode: host`` ...).
    """
    services = model.get("services")
    if not isinstance(services, Mapping):
        return ()
    found: list[FixedPort] = []
    for name, service in services.items():
        if not isinstance(service, Mapping) or private_ports(service) is None:
            continue
        for entry in service["ports"]:
            found.extend(_fixed_entry(str(name), entry))
    return tuple(found)


def _fixed_entry(service: str, entry: object) -> Iterator[FixedPort]:
    if isinstance(entry, Mapping):
        published = str(entry.get("published") or "")
        host_ip = str(entry.get("host_ip") or "")
        target = str(entry.get("target") or "")
        protocol = str(entry.get("protocol") or "tcp")
    else:
        short = _parse_short(entry)
        if short is None:
            return
        published, host_ip, target, protocol = short.published, short.host_ip, short.target, short.protocol
    numbers = _numbers(published)
    if not numbers or numbers == (0,):
        return
    targets = _numbers(target)
    if len(numbers) == 1:
        yield FixedPort(service, host_ip, numbers[0], target, protocol)
    elif targets is not None and len(targets) == len(numbers):
        # A published range pairs with a target range of the same length, port by port.
        for number, paired in zip(numbers, targets, strict=True):
            yield FixedPort(service, host_ip, number, str(paired), protocol)
    # Else a range for one target: Docker picks a free port in it, so no single port is fixed.


# --------------------------------------------------------------------------- is it free here?


def local_daemon(environ: Mapping[str, str]) -> bool:
    """Whether Docker publishes ports on this machine, so trying a port here tells whether it is free.

    Not with a remote ``DOCKER_HOST``, nor with ``TC_HOST`` (pytest in a container beside the daemon).
    """
    if (environ.get("TC_HOST") or environ.get("TESTCONTAINERS_HOST_OVERRIDE") or "").strip():
        return False
    return daemon_host(environ.get("DOCKER_HOST", "").strip()) is None


def port_in_use(host_ip: str, port: int, protocol: str) -> bool:
    """Whether binding `port` on `host_ip` ("" for every interface) fails because something holds it.

    Only "address in use" counts: an address this host does not have, or a port reserved for root,
    is for Docker to judge. SCTP is not tried.
    """
    if protocol not in ("tcp", "udp"):
        return False
    host = host_ip or ALL_INTERFACES
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:  # a host name: Docker resolves it, we do not guess
        return False
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    with socket.socket(family, kind) as probe:
        if protocol == "tcp":
            # As Docker's proxy binds: a closed connection in TIME_WAIT does not make the port busy.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def busy_ports(
    ports: Sequence[FixedPort], in_use: Callable[[str, int, str], bool] = port_in_use
) -> tuple[FixedPort, ...]:
    """The ports of `ports` that something on this host already holds."""
    return tuple(port for port in ports if in_use(port.host_ip, port.published, port.protocol))


def busy_message(busy: Sequence[FixedPort], *, compose_files: Sequence[str], environment_file: str) -> str:
    """One paragraph: which ports are taken, by which service of which compose files, and the fixes."""
    ports = "; ".join(f"{port.address()} (service {port.service!r}, container port {port.target})" for port in busy)
    files = ", ".join(compose_files)
    plural = "s are" if len(busy) > 1 else " is"
    return (
        f"athalia: the host port{plural} already in use on this host: {ports}, published by the compose "
        f"file(s) {files} and kept as written by `stack.ports: as_published` in {environment_file}. "
        "Nothing was started. Free the port (another program, or another stack of these files, e.g. a second "
        "pytest-xdist worker, holds it), or remove `stack.ports: as_published` from that file so that the "
        "stack's ports are republished on 127.0.0.1 with free host ports (the default, `stack.ports: private`)."
    )


def override_too_old(version: str) -> str | None:
    """Why compose `version` cannot republish ports privately (no ``!override``), or None when it can."""
    parts = []
    for part in version.lstrip("v").split(".")[:3]:
        digits = "".join(ch for ch in part.split("-")[0].split("+")[0] if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    if tuple(parts) >= MIN_COMPOSE:
        return None
    need = ".".join(map(str, MIN_COMPOSE))
    return (
        f"athalia: republishing the stack's ports on 127.0.0.1 (stack.ports: private, the default) needs "
        f"docker compose {need} or newer (its `!override` tag), found {version}. Install a newer compose v2 "
        "(bash scripts/install-compose-v2.sh), or set stack.ports: as_published in the environment file to keep "
        "the compose files' ports as written."
    )


# --------------------------------------------------------------------------- the short syntax


@dataclass(frozen=True)
class _Short:
    host_ip: str
    published: str
    target: str
    protocol: str


def _parse_short(entry: object) -> _Short | None:
    """``[[HOST_IP:]PUBLISHED:]TARGET[/PROTOCOL]``, ``${VAR}`` references taken whole; None if not that."""
    if isinstance(entry, int) and not isinstance(entry, bool):
        return _Short("", "", str(entry), "tcp")
    if not isinstance(entry, str) or not entry.strip():
        return None
    # A reference may hold ':' or '/' (${PORT:-8000}): hide each one behind a placeholder while splitting.
    references: list[str] = []

    def hide(match: re.Match[str]) -> str:
        references.append(match.group(0))
        return f"\0{len(references) - 1}\0"

    def show(text: str) -> str:
        return re.sub(r"\0(\d+)\0", lambda m: references[int(m.group(1))], text)

    text = _VARIABLE.sub(hide, entry.strip())
    protocol = "tcp"
    head, slash, tail = text.rpartition("/")
    if slash and tail in _PROTOCOLS:
        text, protocol = head, tail
    host_ip = ""
    if text.startswith("["):  # [::1]:8000:80
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            return None
        host_ip, text = host, rest[1:]
        published, _, target = text.rpartition(":")
    else:
        parts = text.rsplit(":", 2)
        if len(parts) == 3:
            host_ip, published, target = parts
        elif len(parts) == 2:
            published, target = parts
        else:
            published, target = "", parts[0]
    if not target:
        return None
    return _Short(show(host_ip), show(published), show(target), protocol)


def _numbers(text: str) -> tuple[int, ...] | None:
    """The ports of ``8000`` or ``8000-8002``; None for anything else (a reference, a typo)."""
    match = _RANGE.fullmatch(text.strip())
    if match is None:
        return None
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if last < first:
        return None
    return tuple(range(first, last + 1))
