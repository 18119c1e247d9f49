"""Releases whose candidate carries a router fault: injected after the switch, cleared on every way out.

The doubles are test_rollout's LocalRouter and LocalColors; `LocalFaults` applies a Fault to a color
of the LocalRouter as the router's Lua script does (errors with the color header, added latency, and
for a health fault the server shown DOWN while its traffic still reaches it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pytest
from test_rollout import PLAN, SLO, LocalColors, LocalRouter
from test_rollout import local_router as local_router  # the fixture

from pytest_athalia._errors import RolloutError, RouterError
from pytest_athalia.release._bluegreen import BlueGreen
from pytest_athalia.release._checks import drill_verdict, rollback_verdicts
from pytest_athalia.release._faults import Fault
from pytest_athalia.release._release import Candidate, Phase
from pytest_athalia.release._router import ServerStats
from pytest_athalia.testing import FakeFaultInjector


class LocalFaults:
    """FaultInjector over a LocalRouter; records each call with the weights the router had then."""

    def __init__(self, router: LocalRouter, *, fail_inject: bool = False, fail_clears: int = 0) -> None:
        self.router = router
        self.down: set[str] = set()
        self.calls: list[tuple[str, str, Fault | None, Mapping[str, int]]] = []
        self.fail_inject = fail_inject
        self.fail_clears = fail_clears

    def inject(self, server: str, fault: Fault) -> None:
        self.calls.append(("inject", server, fault, self.router.weights()))
        if self.fail_inject:
            raise RouterError("athalia: the router refused the fault")
        state = self.router.routing.colors[server]
        state.error_rate, state.latency_ms = fault.error_ratio, fault.latency_ms
        if fault.health_fail:
            self.down.add(server)

    def clear(self) -> None:
        self.calls.append(("clear", "*", None, self.router.weights()))
        if self.fail_clears:
            self.fail_clears -= 1
            raise RouterError("athalia: the router is unreachable")
        for state in self.router.routing.colors.values():
            state.error_rate, state.latency_ms = 0.0, 0.0
        self.down.clear()


class FaultyRouter(LocalRouter):
    """The LocalRouter whose stats show a held server DOWN (its checks fail) while it still serves."""

    faults: LocalFaults

    def stats(self) -> tuple[ServerStats, ...]:
        return tuple(replace(s, status="DOWN") if s.server in self.faults.down else s for s in super().stats())


@pytest.fixture
def faulty(local_router: LocalRouter) -> tuple[BlueGreen, LocalFaults]:
    router = FaultyRouter(local_router._server)
    faults = router.faults = LocalFaults(router)
    return BlueGreen(router, LocalColors(router), PLAN, faults=faults), faults


@pytest.mark.parametrize(
    ("fault", "trigger"),
    [
        (Fault(error_ratio=0.5), "error_rate"),
        (Fault(latency_ms=400), "latency"),
        (Fault(health_fail=True), "health"),
    ],
    ids=["error_rate", "latency", "health"],
)
def test_a_router_fault_fires_its_trigger_and_is_cleared_after_the_rollback(
    faulty: tuple[BlueGreen, LocalFaults], fault: Fault, trigger: str
) -> None:
    """The unchanged candidate plus a router fault is rolled back by that fault's trigger; the fault is then cleared."""
    rollout, faults = faulty
    report = rollout.release(Candidate("drill", None, (), fault), observe_s=5.0)
    assert report.fired is not None, report.describe()
    assert report.fired.trigger == trigger, report.describe()
    assert report.phase is Phase.ROLLED_BACK
    assert report.smoke is not None
    assert report.smoke.passed  # the smoke test saw the healthy candidate
    assert drill_verdict(report, trigger).passed
    assert all(v.passed for v in rollback_verdicts(report, SLO)), report.describe()
    # Injected once, on green, after the switch (green took the traffic); cleared after the rollback.
    assert [(kind, server, f) for kind, server, f, _ in faults.calls] == [
        ("inject", "green", fault),
        ("clear", "*", None),
    ]
    assert faults.calls[0][3] == {"blue": 0, "green": 100}
    assert faults.calls[1][3] == {"blue": 100, "green": 0}
    assert "router fault: " + fault.describe() in report.describe()


def test_a_candidate_without_fault_touches_no_fault(faulty: tuple[BlueGreen, LocalFaults]) -> None:
    """A release without a fault neither injects nor clears; reset() clears nothing it did not inject."""
    rollout, faults = faulty
    report = rollout.release(Candidate("good", None, (("APP_VERSION", "2"),)), observe_s=0.3)
    assert report.phase is Phase.LIVE, report.describe()
    rollout.reset()
    assert faults.calls == []


def test_a_fault_without_an_injector_is_refused_before_anything_moves(local_router: LocalRouter) -> None:
    """A router that cannot inject faults (no inject/clear): RolloutError naming the fix, nothing deployed."""
    colors = LocalColors(local_router)
    rollout = BlueGreen(local_router, colors, PLAN)
    with pytest.raises(RolloutError, match="needs a router that injects faults, and LocalRouter does not"):
        rollout.release(Candidate("drill", None, (), Fault(error_ratio=0.5)))
    assert colors.deployed == []
    assert rollout.phase is Phase.IDLE


def test_a_failed_injection_rolls_the_candidate_back_at_once(faulty: tuple[BlueGreen, LocalFaults]) -> None:
    """If the router refuses the fault, the candidate does not stay live without it: rolled back, and said so."""
    rollout, faults = faulty
    faults.fail_inject = True
    with pytest.raises(RolloutError, match=r"could not inject the drill's router fault \(\+400 ms\) into green"):
        rollout.release(Candidate("drill", None, (), Fault(latency_ms=400)))
    assert rollout.phase is Phase.ROLLED_BACK
    assert rollout.router.weights() == {"blue": 100, "green": 0}
    assert [kind for kind, *_ in faults.calls] == ["inject", "clear"]


def test_reset_clears_a_fault_the_release_could_not_clear(faulty: tuple[BlueGreen, LocalFaults]) -> None:
    """A clear that failed after the rollback is not lost: reset() (the fixture's teardown) tries again."""
    rollout, faults = faulty
    faults.fail_clears = 1
    with pytest.raises(RolloutError, match="could not clear the drill's router faults"):
        rollout.release(Candidate("drill", None, (), Fault(error_ratio=0.5)), observe_s=5.0)
    rollout.reset()
    assert [kind for kind, *_ in faults.calls] == ["inject", "clear", "clear"]
    assert faults.down == set()
    assert rollout.router.weights() == {"blue": 100, "green": 0}


def test_the_fake_injector_drills_health_with_a_fake_router(local_router: LocalRouter) -> None:
    """FakeFaultInjector can stand in for the router's injector; its history shows inject then clear."""
    fake = FakeFaultInjector()
    rollout = BlueGreen(local_router, LocalColors(local_router), replace(PLAN, observe_s=0.3), faults=fake)
    report = rollout.release(Candidate("drill", None, (), Fault(latency_ms=5)))
    assert report.phase is Phase.LIVE  # 5 ms is below every threshold: nothing fires
    assert [(entry.server, entry.fault) for entry in fake.history] == [("green", Fault(latency_ms=5)), ("*", None)]
    assert fake.active == {}
