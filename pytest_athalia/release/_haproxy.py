"""The HAProxy driver: :class:`~pytest_athalia.release._router.Router` over HAProxy's runtime API.

It is also the :class:`~pytest_athalia.release._faults.FaultInjector` of release drills.

One TCP connection per request (HAProxy answers and closes it), to the stats socket the
generated configuration opens with ``level admin`` on the stack's network and that compose
publishes on 127.0.0.1 only. Weights change with ``set server <backend>/<server> weight N``
(effective at once for ``balance roundrobin``); :meth:`HAProxyRouter.set_weights` sends a
switch's two changes as ``cmd1; cmd2`` on one connection, which HAProxy runs in order (both
changes in a median 0.8 ms instead of 2.5 ms for two connections, measured here). Counters come
from ``show stat``, parsed by its CSV header (``# pxname,svname,...``), never by column position.
"""

from __future__ import annotations

import csv
import io
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final, final

from .._errors import AthaliaError, RouterError
from ..stack._override import API_PORT, BACKEND
from ..stack._stack import Endpoint, Stack
from ._faults import UNUSED_CHECK_PORT, Fault, clear_command, fault_command, restore_check_ports
from ._router import ServerStats, check_weight

__all__ = ["HAProxyRouter", "parse_show_stat"]

_REQUIRED: Final = ("pxname", "svname", "status", "weight", "stot", "hrsp_5xx")
_NOT_SERVERS: Final = frozenset({"FRONTEND", "BACKEND"})


@final
class HAProxyRouter:
    """Drives the HAProxy router of a stack; `api` is the runtime API, `front` the clients' address."""

    def __init__(
        self,
        api: Endpoint,
        front: Endpoint,
        *,
        backend: str = BACKEND,
        timeout: float = 5.0,
        hint: str = "",
        locate: Callable[[], tuple[Endpoint, Endpoint]] | None = None,
    ) -> None:
        self._api = api
        self._front = front
        # Where the router is now (api, front): a restarted container gets new ephemeral host ports.
        self._locate = locate
        self._locate_lock = threading.Lock()
        self._backend = backend
        self._timeout = timeout
        self._hint = hint or "check that the router (the service under deployment) is running and look at its log"
        self.last_command_seconds: float | None = None
        self._servers: frozenset[str] | None = None

    @classmethod
    def for_stack(cls, stack: Stack, *, timeout: float = 5.0) -> HAProxyRouter:
        """The router the generated override puts in the place of `stack`'s ``stack.service``."""
        spec = stack.environment.spec.stack

        def locate() -> tuple[Endpoint, Endpoint]:
            return stack.endpoint(spec.service, API_PORT), stack.endpoint(spec.service, spec.port)

        api, front = locate()
        return cls(
            api,
            front,
            timeout=timeout,
            hint=f"check it with `docker compose -p {stack.project} logs {spec.service}`",
            locate=locate,
        )

    def relocate(self) -> bool:
        """Look the router's published ports up again; True when they moved (a restarted container).

        Never raises: a router that is still restarting has no port yet, and the old ones stay.
        """
        if self._locate is None:
            return False
        with self._locate_lock:
            try:
                api, front = self._locate()
            except AthaliaError:
                return False
            moved = (api, front) != (self._api, self._front)
            self._api, self._front = api, front
            return moved

    @property
    def api(self) -> Endpoint:
        return self._api

    # -- Router -----------------------------------------------------------------------------------
    def url(self, path: str = "") -> str:
        return self._front.url(path)

    def set_weight(self, server: str, weight: int) -> None:
        check_weight(server, weight)
        command = f"set server {self._backend}/{server} weight {weight}"
        answer = self.command(command)
        if answer.strip():  # HAProxy answers nothing when it applied the change
            raise RouterError(self._refused(command, answer))

    def set_weights(self, changes: Sequence[tuple[str, int]]) -> None:
        """Apply the changes in order on one connection; every server is checked to exist first.

        HAProxy runs every command of a ``;`` line even after one is refused, so a refused first
        change (an unknown server) would still drain the second server and leave both at 0. Hence
        the names are checked against ``show stat`` (read once) before anything is sent.
        """
        for server, weight in changes:
            check_weight(server, weight)
        known = self._known_servers()
        unknown = [server for server, _ in changes if server not in known]
        if unknown:
            raise RouterError(
                f"athalia: backend {self._backend} at {self._where()} has no server {', '.join(unknown)} (it has "
                f"{', '.join(sorted(known))}); nothing was changed. The servers are the colors blue and green."
            )
        line = "; ".join(f"set server {self._backend}/{server} weight {weight}" for server, weight in changes)
        answer = self._send(line)
        if answer.strip():
            raise RouterError(self._refused(line, answer))

    def _known_servers(self) -> frozenset[str]:
        return self._servers if self._servers is not None else frozenset(stat.server for stat in self.stats())

    def weights(self) -> Mapping[str, int]:
        return {stat.server: stat.weight for stat in self.stats()}

    def stats(self) -> tuple[ServerStats, ...]:
        command = f"show stat {self._backend} 4 -1"  # type 4: servers only
        answer = self.command(command)
        try:
            stats = parse_show_stat(answer, self._backend)
        except RouterError as exc:
            raise RouterError(f"{exc} (`{command}` at {self._where()})") from None
        self._servers = frozenset(stat.server for stat in stats)  # fixed by the configuration
        return stats

    # -- FaultInjector (release drills; see release/_faults.py) -------------------------------------
    def inject(self, server: str, fault: Fault) -> None:
        """Set `fault` on `server` in the router's fault script; a health fault points its checks at an unused port."""
        check_weight(server, 0)  # the same rule for the name
        if server not in self._known_servers():
            raise RouterError(
                f"athalia: backend {self._backend} at {self._where()} has no server {server} (it has "
                f"{', '.join(sorted(self._known_servers()))}); no fault was injected. The servers are the colors."
            )
        self._fault_command(fault_command(server, fault))
        if fault.health_fail:
            self._fault_command(f"set server {self._backend}/{server} check-port {UNUSED_CHECK_PORT}")
        else:
            self._restore_check_ports(only=server)

    def clear(self) -> None:
        """Remove every fault and give every server's health checks its own port back."""
        self._fault_command(clear_command())
        self._restore_check_ports()

    def _restore_check_ports(self, only: str | None = None) -> None:
        state = self.command(f"show servers state {self._backend}")
        for server, port in restore_check_ports(state, self._backend).items():
            if only is None or server == only:
                self._fault_command(f"set server {self._backend}/{server} check-port {port}")

    def _fault_command(self, command: str) -> None:
        answer = self.command(command)
        if not answer.strip():
            return
        if "Unknown command" in answer:
            said = " ".join(answer.split())
            raise RouterError(
                f"athalia: the HAProxy router at {self._where()} does not know `{command.split()[0]} ...`: its "
                "configuration has no fault script (release/_faults.py), so it predates router-injected drills or was "
                f"not generated by pytest-athalia. Restart the stack (the configuration is generated at each start), "
                f"or drill with the app's own faults (rollout.drills.<name>.env). It answered {said!r}."
            )
        raise RouterError(self._refused(command, answer))

    # -- the runtime API --------------------------------------------------------------------------
    def command(self, command: str) -> str:
        """Send one runtime API command and return HAProxy's whole answer; times it in `last_command_seconds`."""
        if "\n" in command or ";" in command:
            raise RouterError(
                f"athalia: expected one runtime API command, found {command!r}. Send commands one by one."
            )
        return self._send(command)

    def _send(self, command: str) -> str:
        start = time.perf_counter()
        try:
            answer = self._exchange(command)
        except OSError as first:
            try:
                if not self.relocate():
                    raise first
                answer = self._exchange(command)  # once more, at the router's new address
            except OSError as exc:
                raise self._unreachable(command, exc) from None
        self.last_command_seconds = time.perf_counter() - start
        return answer

    def _exchange(self, command: str) -> str:
        chunks: list[bytes] = []
        with socket.create_connection((self._api.host, self._api.port), timeout=self._timeout) as conn:
            conn.sendall(command.encode() + b"\n")
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def _unreachable(self, command: str, exc: OSError) -> RouterError:
        return RouterError(
            f"athalia: cannot reach the HAProxy runtime API at {self._where()} to run `{command}` "
            f"({type(exc).__name__}: {exc}). Expected the router's stats socket (port {API_PORT}, published on "
            f"127.0.0.1); {self._hint}."
        )

    def _where(self) -> str:
        host = f"[{self._api.host}]" if ":" in self._api.host else self._api.host
        return f"{host}:{self._api.port}"

    def _refused(self, command: str, answer: str) -> str:
        text = " ".join(answer.split())
        if "No such" in answer:
            fix = f"the servers of backend {self._backend} are the colors blue and green"
        elif "Unknown command" in answer or "Permission denied" in answer:
            fix = "the stats socket needs `level admin` (the generated configuration has it)"
        else:
            fix = self._hint
        return (
            f"athalia: the HAProxy runtime API at {self._where()} refused `{command}`: it answered {text!r} "
            f"where an empty answer means done. Fix: {fix}."
        )


def parse_show_stat(text: str, backend: str = BACKEND) -> tuple[ServerStats, ...]:
    """The servers of `backend` from ``show stat`` CSV, located by the header's column names.

    Requests are ``req_tot`` (HTTP requests) where HAProxy fills it, else ``stot``; the weight is
    ``uweight`` (the one set through the API) where present, else ``weight``; ``rtime`` is None
    for a server that served nothing. A missing column or an empty counter is a RouterError: a
    number we cannot read must not count as zero.
    """
    lines = text.lstrip().splitlines()
    if not lines or not lines[0].startswith("# "):
        first = lines[0][:80] if lines else "nothing"
        raise RouterError(
            f"athalia: expected `show stat` CSV starting with '# pxname,svname,...', found {first!r}. "
            "Is the address the router's runtime API?"
        )
    rows = list(csv.reader(io.StringIO("\n".join([lines[0][2:], *lines[1:]]))))
    header = rows[0]
    missing = [name for name in _REQUIRED if name not in header]
    if missing:
        raise RouterError(
            f"athalia: `show stat` has no column {', '.join(missing)} (it has {len(header)} columns); "
            "expected HAProxy 1.8 or newer."
        )
    stats = []
    proxies = set()
    for row in rows[1:]:
        if not row or not any(row):
            continue
        fields = dict(zip(header, row, strict=False))
        proxies.add(fields["pxname"])
        if fields["pxname"] != backend or fields["svname"] in _NOT_SERVERS:
            continue
        requests = _optional_int(fields, "req_tot")
        response_time = _optional_int(fields, "rtime")
        weight = _optional_int(fields, "uweight")
        stats.append(
            ServerStats(
                server=fields["svname"],
                status=fields["status"],
                weight=_int(fields, "weight") if weight is None else weight,
                requests=_int(fields, "stot") if requests is None else requests,
                responses_5xx=_int(fields, "hrsp_5xx"),
                response_time_ms=None if response_time is None or not requests else float(response_time),
            )
        )
    if not stats:
        raise RouterError(
            f"athalia: `show stat` lists no server of backend {backend!r} (proxies: "
            f"{', '.join(sorted(proxies)) or 'none'}). The rollout's backend is {BACKEND!r}."
        )
    return tuple(stats)


def _optional_int(fields: Mapping[str, str], name: str) -> int | None:
    return None if fields.get(name, "") == "" else _int(fields, name)


def _int(fields: Mapping[str, str], name: str) -> int:
    raw = fields.get(name, "")
    try:
        return int(raw)
    except ValueError:
        raise RouterError(
            f"athalia: expected a whole number in column {name} of `show stat` for server "
            f"{fields.get('svname', '?')}, found {raw!r}. Is the backend in mode http?"
        ) from None
