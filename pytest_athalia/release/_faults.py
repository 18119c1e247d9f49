"""Faults the router injects into one color's answers, so that every rollback trigger can be drilled on any app.

A drill needs a bad candidate. Without help from the app (no ``FAULT_*`` variables), the router
makes the candidate bad: a Lua script loaded by HAProxy (:func:`lua_script`) keeps a table of
faults by server name, set and cleared through the runtime API (level admin)::

    athalia fault <server> <error_ratio> <status> <latency_ms> <hold>
    athalia clear

- ``http-response lua.athalia_fault`` (before the color header is set, so a replaced answer still
  names its color) sleeps `latency_ms` (``core.msleep``, which yields) and replaces that share of
  the server's answers' status by `status`;
- a failing health check is HAProxy's own: ``set server <backend>/<server> check-port 1`` points
  the router's real checks at a port nothing listens on, so the server goes DOWN; ``clear``
  restores the server's port (:func:`restore_check_ports`);
- while the server is DOWN and still weighs more than 0, ``hold`` keeps sending it the traffic its
  weight gives it (``http-request lua.athalia_hold``, ``use-server`` with ``option persist``), as an
  app whose health endpoint broke keeps serving. Without it the router would answer 503 to
  everyone (the old color weighs 0) and the error-rate trigger would always beat the health one.

:class:`FaultInjector` is the interface (:class:`~pytest_athalia.release._haproxy.HAProxyRouter`
implements it); :class:`FakeFaultInjector` is its fake; :func:`drill_faults` sizes one fault per
trigger from the environment's own thresholds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Protocol, final, runtime_checkable

from .._errors import ConfigError, RouterError
from ..config._rollout import FaultSpec, ProbeSpec, TriggersSpec
from ._router import COLORS, FakeRouter

__all__ = [
    "FAULT_HEADER",
    "LUA_CONFIG_NAME",
    "LUA_PATH",
    "UNUSED_CHECK_PORT",
    "FakeFaultInjector",
    "Fault",
    "FaultInjector",
    "InjectedFault",
    "backend_lines",
    "clear_command",
    "drill_faults",
    "fault_command",
    "global_lines",
    "lua_script",
    "restore_check_ports",
]

LUA_PATH: Final = "/etc/athalia/faults.lua"  # next to the router's configuration (CONFIG_PATH)
LUA_CONFIG_NAME: Final = "athalia-router-faults"
FAULT_HEADER: Final = "X-Athalia-Fault"  # on an answer whose status the router replaced
UNUSED_CHECK_PORT: Final = 1  # tcpmux: nothing listens there in a container, so a check is refused at once
MAX_LATENCY_MS: Final = 60_000  # the probe's longest timeout (rollout.probe.timeout_ms)


@dataclass(frozen=True)
class Fault:
    """What the router does to one server's answers: a share of errors, added latency, failing health checks."""

    error_ratio: float = 0.0  # 0..1: the share of answers whose status becomes `status`
    status: int = 500
    latency_ms: int = 0  # added to every answer of the server
    health_fail: bool = False  # the router's health checks of the server fail (it goes DOWN)

    def __post_init__(self) -> None:
        problems = []
        ratio = self.error_ratio
        number = isinstance(ratio, int | float) and not isinstance(ratio, bool)
        if not (number and math.isfinite(ratio) and 0 <= ratio <= 1):
            problems.append(f"error_ratio: expected a number from 0 to 1, found {self.error_ratio!r}")
        if isinstance(self.status, bool) or not isinstance(self.status, int) or not 100 <= self.status <= 599:
            problems.append(f"status: expected an HTTP status from 100 to 599 (e.g. 500), found {self.status!r}")
        if (
            isinstance(self.latency_ms, bool)
            or not isinstance(self.latency_ms, int)
            or not 0 <= self.latency_ms <= MAX_LATENCY_MS
        ):
            problems.append(
                f"latency_ms: expected a whole number of milliseconds from 0 to {MAX_LATENCY_MS}, "
                f"found {self.latency_ms!r}"
            )
        if not isinstance(self.health_fail, bool):
            problems.append(f"health_fail: expected true or false, found {self.health_fail!r}")
        if problems:
            raise ConfigError(
                f"athalia: invalid router fault ({'; '.join(problems)}). Fix the fault: mapping of the drill "
                "(rollout.drills.<name>.fault in the environment file) or the Fault(...) call."
            )

    @classmethod
    def from_spec(cls, spec: FaultSpec) -> Fault:
        return cls(
            error_ratio=float(spec.error_ratio),
            status=spec.status,
            latency_ms=math.ceil(spec.latency_ms),
            health_fail=spec.health == "fail",
        )

    @property
    def harmless(self) -> bool:
        """True when the fault changes nothing (no errors, no latency, healthy checks)."""
        return self.error_ratio == 0 and self.latency_ms == 0 and not self.health_fail

    def describe(self) -> str:
        """E.g. ``50 % of answers 500, +400 ms, health checks failing`` (``no fault`` when harmless)."""
        parts = []
        if self.error_ratio:
            parts.append(f"{self.error_ratio * 100:g} % of answers {self.status}")
        if self.latency_ms:
            parts.append(f"+{self.latency_ms} ms")
        if self.health_fail:
            parts.append("health checks failing")
        return ", ".join(parts) or "no fault"


@runtime_checkable
class FaultInjector(Protocol):
    """Injects a :class:`Fault` into the answers of one server (color) of the router, and clears them all."""

    def inject(self, server: str, fault: Fault) -> None:
        """Make the router apply `fault` to `server`'s answers from now on (replacing an earlier one)."""
        ...

    def clear(self) -> None:
        """Remove every fault: answers pass unchanged and health checks reach the servers again."""
        ...


# --------------------------------------------------------------------------- the runtime API commands


def fault_command(server: str, fault: Fault) -> str:
    """The runtime API command of the Lua script that sets `fault` on `server` (health: see the module doc)."""
    return f"athalia fault {server} {fault.error_ratio:.6g} {fault.status} {fault.latency_ms} {int(fault.health_fail)}"


def clear_command() -> str:
    return "athalia clear"


def restore_check_ports(servers_state: str, backend: str) -> dict[str, int]:
    """The servers of `backend` whose check port differs from their port, from ``show servers state``.

    Maps each to its own port (what ``set server ... check-port`` restores). A check port of 0 is
    HAProxy's "the server's port". The columns are found by the header's names.
    """
    header: list[str] = []
    restore: dict[str, int] = {}
    for line in servers_state.splitlines():
        if line.startswith("# "):
            header = line[2:].split()
            continue
        fields = dict(zip(header, line.split(), strict=False))
        if not header or fields.get("be_name") != backend:
            continue
        try:
            port, check = int(fields["srv_port"]), int(fields["srv_check_port"])
        except (KeyError, ValueError):
            raise RouterError(
                f"athalia: expected srv_port and srv_check_port in `show servers state {backend}`, found "
                f"{line[:120]!r}; expected HAProxy 2.6 or newer."
            ) from None
        if check not in (0, port):
            restore[fields["srv_name"]] = port
    return restore


# --------------------------------------------------------------------------- what the router's configuration needs


def global_lines() -> str:
    """The lines of the ``global`` section that load the fault script."""
    return f"    lua-load {LUA_PATH}\n"


def backend_lines() -> str:
    """The backend's lines, in this order before ``http-response set-header <color header>``.

    ``http-response`` rules run in order: the fault's status replacement comes first, so the color
    header is still set on the replaced answer. ``use-server`` rules name each color: HAProxy 2.6
    takes no server name from a variable.
    """
    hold = "var(txn.athalia_hold)"
    lines = [
        "    # Release drills (pytest_athalia/release/_faults.py): faults in one color's answers.",
        "    http-request lua.athalia_hold",
        *(f"    use-server {color} if {{ {hold} -m str {color} }}" for color in COLORS),
        # A use-server rule may pick a DOWN server only with it: force-persist is judged before the
        # backend's http-request rules set the variable. Nothing else of ours persists.
        "    option persist",
        "    http-response lua.athalia_fault",
    ]
    return "\n".join(lines) + "\n"


def lua_script(backend: str) -> str:
    """The Lua script (HAProxy 2.6, Lua 5.3) behind ``athalia fault``/``athalia clear`` and the two actions."""
    return _LUA.replace("@BACKEND@", backend).replace("@FAULT_HEADER@", FAULT_HEADER)


_LUA: Final = """\
-- Generated by pytest-athalia (pytest_athalia/release/_faults.py): faults in one color's answers, for drills.
local backend = "@BACKEND@"
local faults = {}  -- server name -> {ratio, status, latency, hold}
math.randomseed(os.time())

local function refuse(applet, text)
  applet:send("athalia: " .. text .. "\\n")
end

-- The words of the command come first: "athalia", "fault".
core.register_cli({"athalia", "fault"},
  "athalia fault <server> <error_ratio> <status> <latency_ms> <hold 0|1> : inject a drill fault",
  function(applet, _, _, server, ratio, status, latency, hold)
    local proxy = core.backends[backend]
    if server == nil or proxy == nil or proxy.servers[server] == nil then
      return refuse(applet, "no server " .. tostring(server) .. " in backend " .. backend)
    end
    local r, s, l = tonumber(ratio), tonumber(status), tonumber(latency)
    if r == nil or r < 0 or r > 1 then
      return refuse(applet, "expected an error ratio from 0 to 1, found " .. tostring(ratio))
    end
    if s == nil or s % 1 ~= 0 or s < 100 or s > 599 then
      return refuse(applet, "expected a status from 100 to 599, found " .. tostring(status))
    end
    if l == nil or l % 1 ~= 0 or l < 0 or l > 60000 then
      return refuse(applet, "expected a latency from 0 to 60000 ms, found " .. tostring(latency))
    end
    if hold ~= "0" and hold ~= "1" then
      return refuse(applet, "expected hold 0 or 1, found " .. tostring(hold))
    end
    faults[server] = {ratio = r, status = math.floor(s), latency = math.floor(l), hold = hold == "1"}
  end)

core.register_cli({"athalia", "clear"}, "athalia clear : remove every drill fault", function(applet)
  faults = {}
end)

-- Keeps sending a held server the traffic its weight gives it while its checks fail (DOWN).
core.register_action("athalia_hold", {"http-req"}, function(txn)
  for server, fault in pairs(faults) do
    if fault.hold then
      local proxy = core.backends[backend]
      local srv = proxy and proxy.servers[server]
      if srv ~= nil and srv:get_weight() > 0 then
        txn:set_var("txn.athalia_hold", server)
        return
      end
    end
  end
end)

-- Only for answers served by a server with a fault (srv_name: the server that answered).
core.register_action("athalia_fault", {"http-res"}, function(txn)
  local fault = faults[txn.sf:srv_name()]
  if fault == nil then
    return
  end
  if fault.latency > 0 then
    core.msleep(fault.latency)
  end
  if fault.ratio > 0 and math.random() < fault.ratio then
    txn.http:res_set_status(fault.status)
    txn.http:res_set_header("@FAULT_HEADER@", "error")
  end
end)
"""


# --------------------------------------------------------------------------- drills sized from the triggers


def drill_faults(triggers: TriggersSpec, probe: ProbeSpec) -> dict[str, Fault]:
    """One router fault per enabled trigger, sized from the environment's thresholds to make it fire.

    - ``error_rate``: ``3 * max_ratio``, at least 0.5 and at most 1: far above the threshold
      however few samples the window holds;
    - ``latency``: ``1.6 * max_p95_ms``, at least ``max_p95_ms + 100``, but at most halfway from
      the threshold to the probe's timeout: a request that times out is an error, and the
      error-rate trigger would fire first;
    - ``health``: failing checks.

    Raises ConfigError when the latency trigger cannot fire before the probe times out.
    """
    faults: dict[str, Fault] = {}
    if triggers.error_rate.enabled:
        faults["error_rate"] = Fault(error_ratio=round(min(1.0, max(0.5, 3 * triggers.error_rate.max_ratio)), 3))
    if triggers.latency.enabled:
        threshold, timeout = triggers.latency.max_p95_ms, probe.timeout_ms
        if threshold >= timeout:
            raise ConfigError(
                f"athalia: rollout.triggers.latency.max_p95_ms ({threshold:g} ms) is not below "
                f"rollout.probe.timeout_ms ({timeout:g} ms): a slow answer times out before the latency trigger "
                "can see it. Lower max_p95_ms or raise the probe's timeout_ms."
            )
        wanted = max(1.6 * threshold, threshold + 100)
        faults["latency"] = Fault(latency_ms=math.ceil(min(wanted, (threshold + timeout) / 2)))
    if triggers.health.enabled:
        faults["health"] = Fault(health_fail=True)
    return faults


# --------------------------------------------------------------------------- the fake


@dataclass(frozen=True)
class InjectedFault:
    """One ``inject`` (fault set) or ``clear`` (fault None, server "*") on a :class:`FakeFaultInjector`."""

    server: str
    fault: Fault | None


@final
class FakeFaultInjector:
    """An in-memory :class:`FaultInjector` for unit tests: records what was injected and cleared.

    Linked to a :class:`~pytest_athalia.release._router.FakeRouter`, a health fault shows its
    server DOWN in the fake's stats, and ``clear()`` shows it UP again, as HAProxy would.
    ``fail("...")`` makes the next calls raise RouterError, as an unreachable router would.
    """

    def __init__(self, router: FakeRouter | None = None, servers: tuple[str, ...] = COLORS) -> None:
        self._router = router
        self._servers = servers
        self.active: dict[str, Fault] = {}
        self.history: list[InjectedFault] = []
        self._failure: str | None = None

    def inject(self, server: str, fault: Fault) -> None:
        self._check(f"inject {server}")
        if server not in self._servers:
            raise RouterError(
                f"athalia: the fake fault injector has no server {server!r}; it has {', '.join(self._servers)}."
            )
        self.active[server] = fault
        self.history.append(InjectedFault(server, fault))
        if self._router is not None and fault.health_fail:
            self._router.set_stats(server, status="DOWN")

    def clear(self) -> None:
        self._check("clear")
        if self._router is not None:
            for server, fault in self.active.items():
                if fault.health_fail:
                    self._router.set_stats(server, status="UP")
        self.active.clear()
        self.history.append(InjectedFault("*", None))

    def fail(self, message: str = "the fake fault injector is unreachable") -> None:
        self._failure = message

    def recover(self) -> None:
        self._failure = None

    def _check(self, what: str) -> None:
        if self._failure is not None:
            raise RouterError(f"athalia: {self._failure} ({what}).")
