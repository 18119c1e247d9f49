"""What the stack hands out: frozen values, built from compose's output right at the boundary."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Endpoint", "ExecResult", "ServiceState", "StartupReport"]


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def url(self, path: str = "", scheme: str = "http") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{path}"


@dataclass(frozen=True)
class ServiceState:
    """One container of the stack as compose reports it (`health` is "" without a healthcheck)."""

    service: str
    container: str
    state: str
    health: str

    @property
    def healthy(self) -> bool:
        return self.state == "running" and self.health in ("healthy", "")


@dataclass(frozen=True)
class StartupReport:
    """What starting the stack measured; `error` is set (and redacted) when it did not come up."""

    project: str
    build_seconds: float | None
    startup_seconds: float | None
    deadline_seconds: float
    services: tuple[ServiceState, ...] = ()
    error: str = ""

    @property
    def started(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: str
