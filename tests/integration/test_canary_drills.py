"""Drills of the infrastructure while a canary runs, on the real demo stack (docs/canary.md, Drills).

The demo stack (app, PostgreSQL, Redis) with the plugin's router, its canary probed on ``/ready``
(which pings PostgreSQL and Redis: ``fixtures/canarydrills/drills.yml``). A thread waits until the
canary moves traffic, then kills the canary's container, PostgreSQL or Redis, or restarts the router.
Each drill has its right verdict, never a promotion; nothing hangs (the release is bounded), and
afterwards the stack is as it was: every service healthy, the router at blue=100, green=0 and
answering ``/ready`` with 200 (at its new port, after a restart).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_athalia._http import get
from pytest_athalia.canary._canary import Canary
from pytest_athalia.canary._report import CanaryPhase, CanaryReport
from pytest_athalia.canary._sources import metric_source
from pytest_athalia.config._environment import Environment, load_environment
from pytest_athalia.config._secrets import Redactor
from pytest_athalia.fixtures._rollout import candidate_from
from pytest_athalia.release._haproxy import HAProxyRouter
from pytest_athalia.release._release import Plan
from pytest_athalia.report._progress import Progress
from pytest_athalia.stack._cleanup import make_project_name
from pytest_athalia.stack._stack import ComposeStack
from pytest_athalia.testing import unavailable, wait_until

pytestmark = pytest.mark.docker

HERE = Path(__file__).parent
ENVIRONMENT = HERE / "fixtures" / "canarydrills" / "drills.yml"
BASE_IMAGE = "athalia/base:bookworm"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
RELEASE_BOUND_S = 180.0  # baseline + deploy + 3 steps held to max_step_s (8 s) + settling: about 40 s


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


@dataclass
class Rig:
    environment: Environment
    stack: ComposeStack
    router: HAProxyRouter
    progress: list[str] = field(default_factory=list)

    def container(self, service: str) -> str:
        out = _docker(
            "ps", "--all", "--quiet", "--filter", f"label={PROJECT_LABEL}={self.stack.project}",
            "--filter", f"label={SERVICE_LABEL}={service}",
        ).stdout.split()  # fmt: skip
        assert len(out) == 1, f"expected one container of {service} in {self.stack.project}, found {out}"
        return out[0]

    def canary(self) -> Canary:
        env = self.environment
        plan = Plan.from_environment(env)
        source = metric_source(env, self.stack, self.router)
        return Canary(self.router, self.stack, plan, env.spec.rollout.canary, source, say=self.progress.append)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    if _docker("image", "inspect", BASE_IMAGE).returncode != 0:
        unavailable(f"the base image {BASE_IMAGE} is missing; run `athalia images bootstrap`")
    if not (HERE.parents[1] / "demo" / "secrets" / "dev-db-password").is_file():
        unavailable("demo/secrets/dev-db-password is missing; run `make secrets`")
    environment = load_environment(str(ENVIRONMENT), None)
    progress: list[str] = []
    stack = ComposeStack(
        environment,
        project=make_project_name(f"drills{secrets.token_hex(2)}", "main", os.getpid()),
        redactor=Redactor(),
        progress=Progress(progress.append),
        files_root=tmp_path_factory.mktemp("canary-drills"),
    )
    try:
        report = stack.start()
        if not report.started:
            pytest.fail(f"the demo stack did not start: {report.error}\n{stack.failure_logs(30)}", pytrace=False)
        yield Rig(environment, stack, HAProxyRouter.for_stack(stack), progress)
    finally:
        stack.stop()
        left = _docker("ps", "--all", "--quiet", "--filter", f"label={PROJECT_LABEL}={stack.project}").stdout.split()
        assert not left, f"the drills' stack left containers behind: {left}"


@pytest.fixture
def as_it_was(rig: Rig) -> Iterator[list[str]]:
    """After the drill: the killed containers started again, and the stack checked to be as it was."""
    killed: list[str] = []
    yield killed
    for container in killed:
        _docker("start", container)
    _assert_as_it_was(rig)


def _assert_as_it_was(rig: Rig) -> None:
    def healthy() -> bool:
        states = rig.stack.services()
        return bool(states) and all(s.healthy for s in states)

    assert wait_until(healthy, 90) is not None, f"not every service is healthy again: {rig.stack.services()}"
    rig.router.relocate()
    assert rig.router.weights() == {"blue": 100, "green": 0}

    def ready() -> bool:
        return get(rig.router.url("/ready"), timeout=2).status == 200

    assert wait_until(ready, 60) is not None, f"the router does not answer /ready with 200: {rig.router.url()}"


def _release_with(rig: Rig, drill: Callable[[], None], *, after_s: float = 1.5) -> tuple[CanaryReport, float]:
    """Release the candidate; `after_s` into the first step, run `drill` in a thread. Bounded: a hang fails."""
    canary = rig.canary()
    canary.reset()
    candidate = candidate_from(rig.environment, {})
    fired: list[float] = []

    def at_first_step() -> None:
        if wait_until(lambda: canary.phase is CanaryPhase.STEPPING, 120) is None:
            return
        time.sleep(after_s)
        fired.append(time.monotonic())
        drill()

    drilling = threading.Thread(target=at_first_step, daemon=True)
    drilling.start()
    done: list[CanaryReport] = []
    failed: list[BaseException] = []

    def release() -> None:
        try:
            done.append(canary.release(candidate))
        except BaseException as exc:  # reported in the test's thread
            failed.append(exc)

    started = time.monotonic()
    releasing = threading.Thread(target=release, daemon=True)
    releasing.start()
    releasing.join(RELEASE_BOUND_S)
    drilling.join(10)
    assert not releasing.is_alive(), f"the canary hung: still {canary.phase.value} after {RELEASE_BOUND_S:g} s"
    if failed:
        raise failed[0]
    assert fired, f"the drill never ran: the canary ended {done[0].phase.value} before stepping"
    (report,) = done
    print(report.describe())
    print("\n".join(rig.progress[-20:]))
    return report, time.monotonic() - started


def _rolled_back(report: CanaryReport) -> str:
    got = report.phase.value
    assert report.phase is CanaryPhase.ROLLED_BACK, f"expected a rollback, got {got}:\n{report.describe()}"
    assert report.rollback is not None
    return report.rollback.reason


def test_killing_the_canary_container_rolls_back(rig: Rig, as_it_was: list[str]) -> None:
    """The candidate dies during a step: its errors fail the step, or too few samples fail it closed: rolled back."""

    def kill() -> None:
        green = rig.container(rig.stack.color_service("green"))  # deployed by this release
        as_it_was.append(green)
        _docker("kill", green)

    report, seconds = _release_with(rig, kill)
    reason = _rolled_back(report)
    assert report.rollback is not None
    assert report.rollback.step < 100, report.describe()
    assert "error_rate" in reason or "failed closed" in reason, reason
    assert not report.rollback.failed, f"requests failed on the live color: {report.rollback.failed[:3]}"
    print(f"canary container killed: rolled back at {report.rollback.step} % in {seconds:.1f} s: {reason}")


@pytest.mark.parametrize("service", ["postgres", "redis"])
def test_killing_a_dependency_fails_closed(rig: Rig, as_it_was: list[str], service: str) -> None:
    """Both colors fail /ready: the difference says nothing, the step is inconclusive and fails closed."""
    container = rig.container(service)

    def kill() -> None:
        as_it_was.append(container)
        _docker("kill", container)

    report, seconds = _release_with(rig, kill)
    reason = _rolled_back(report)
    assert "failed closed" in reason, reason
    assert "the live version fails too" in reason, reason
    print(f"{service} killed: rolled back at {report.rollback.step if report.rollback else '?'} % in {seconds:.1f} s")


def test_restarting_the_router_fails_closed_and_restores_it(rig: Rig, as_it_was: list[str]) -> None:
    """The router restarts at 25 % (counters reset, weights back to blue=100, new host ports): never promoted."""
    router = rig.container(rig.environment.spec.stack.service)
    before = rig.router.api

    def restart() -> None:
        _docker("restart", "--time", "1", router)

    report, seconds = _release_with(rig, restart)
    reason = _rolled_back(report)
    assert "failed closed" in reason, reason
    print(f"router restarted ({before} -> {rig.router.api}): rolled back in {seconds:.1f} s: {reason}")
