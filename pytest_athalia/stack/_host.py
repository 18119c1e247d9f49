"""Where the stack's published ports are reached from the machine that runs pytest.

Compose reports the address a port is published on, as the Docker daemon's host sees it. With a
local daemon that is the address to use (a wildcard means loopback). With a remote daemon
(``DOCKER_HOST=tcp://ci-docker:2376`` or ``ssh://user@ci-docker``) a wildcard or loopback address
means the daemon's host; and ``TC_HOST``, testcontainers' variable, names the host outright (for
example when pytest runs in a container that reaches the daemon's ports through a gateway).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

__all__ = ["daemon_host", "endpoint_host"]

LOOPBACK: Final = "127.0.0.1"
_REMOTE_SCHEMES: Final = frozenset({"tcp", "http", "https", "ssh"})


def daemon_host(docker_host: str) -> str | None:
    """The host of a remote daemon named by a ``DOCKER_HOST`` value; None for a local one (unix, npipe, loopback)."""
    if "://" not in docker_host:
        return None
    try:
        split = urlsplit(docker_host)
        host = split.hostname or ""
    except ValueError:  # a malformed bracket: docker itself would refuse it
        return None
    if split.scheme not in _REMOTE_SCHEMES:
        return None
    return None if _is_local(host) else host


def endpoint_host(published: str, environ: Mapping[str, str]) -> str:
    """The host to connect to for a port compose reports published on `published` ("" when unknown).

    ``TC_HOST`` (or ``TESTCONTAINERS_HOST_OVERRIDE``, as testcontainers reads them) wins; then, for a
    remote ``DOCKER_HOST``, its host unless the port is published on a specific address; then
    `published`, with a wildcard or nothing meaning loopback.
    """
    override = (environ.get("TC_HOST") or environ.get("TESTCONTAINERS_HOST_OVERRIDE") or "").strip()
    if override:
        return override
    remote = daemon_host(environ.get("DOCKER_HOST", "").strip())
    if remote is not None and (not published or _is_local(published) or _is_unspecified(published)):
        return remote
    if not published or _is_unspecified(published):
        return LOOPBACK
    return published


def _is_local(host: str) -> bool:
    if host in ("", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:  # a host name
        return False
