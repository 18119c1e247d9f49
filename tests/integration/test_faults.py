"""Router-injected faults against a real HAProxy: errors, latency and failing checks on one color, and each
trigger firing in a real release.

The stack is test_router's (``web`` answering ``/version``, a ``sidecar``), with the generated router.
Green runs the same app as blue: every fault comes from the router, none from the app. The measured
figures (error ratio, added latency, time to DOWN) are JUnit properties.
"""

from __future__ import annotations

import http.client
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_athalia.config._rollout import ProbeSpec, TriggersSpec
from pytest_athalia.release._bluegreen import BlueGreen
from pytest_athalia.release._checks import drill_verdict
from pytest_athalia.release._faults import FAULT_HEADER, Fault, lua_script
from pytest_athalia.release._haproxy import HAProxyRouter
from pytest_athalia.release._release import Candidate, Phase, Plan
from pytest_athalia.release._router import COLOR_HEADER, wait_until_serving
from pytest_athalia.stack import _override as override
from pytest_athalia.stack._stack import ComposeStack
from tests.integration.test_router import _labelled, _make_stack, _started

pytestmark = pytest.mark.docker

Record = Callable[[str, object], None]


@dataclass
class Rig:
    stack: ComposeStack
    router: HAProxyRouter


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    stack = _make_stack(tmp_path_factory.mktemp("faults"), [])
    try:
        _started(stack)
        stack.deploy_color("green", image=None, env={"APP_VERSION": "2.0.0"}, timeout=60)
        router = HAProxyRouter.for_stack(stack)
        wait_until_serving(router, "green", timeout=15)
        yield Rig(stack, router)
    finally:
        stack.stop()
    assert _labelled(stack.project) == []


@pytest.fixture
def rig_clean(rig: Rig) -> Iterator[Rig]:
    """No fault, blue 100 and green 100 (both serve), green UP; the same again afterwards."""
    rig.router.clear()
    rig.router.set_weights([("blue", 100), ("green", 100)])
    wait_until_serving(rig.router, "green", timeout=10)
    yield rig
    rig.router.clear()
    rig.router.set_weights([("blue", 100), ("green", 0)])


def _requests(router: HAProxyRouter, count: int) -> list[tuple[int, str | None, str | None, float]]:
    """`count` GET /version on one keep-alive connection: (status, color, fault header, ms)."""
    host, _, port = router.url().removeprefix("http://").rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    answers = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            conn.request("GET", "/version")
            response = conn.getresponse()
            response.read()
            ms = (time.perf_counter() - start) * 1000
            answers.append((response.status, response.getheader(COLOR_HEADER), response.getheader(FAULT_HEADER), ms))
    finally:
        conn.close()
    return answers


def _status(router: HAProxyRouter, server: str) -> str:
    return {s.server: s.status for s in router.stats()}[server]


def _until(condition: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"not within {timeout} s"
        time.sleep(0.02)
    return time.monotonic() - start


# -- the generated configuration ------------------------------------------------------------------------------------


def test_the_generated_config_and_fault_script_pass_haproxys_own_check(tmp_path: Path) -> None:
    """`haproxy -c` in the router image accepts the configuration with the script loaded (lua-load runs it)."""
    config = override.haproxy_config("web", 8000, "/health").replace("/etc/athalia/faults.lua", "/tmp/faults.lua")
    (tmp_path / "haproxy.cfg").write_text(config)
    (tmp_path / "faults.lua").write_text(lua_script("colors"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "haproxy.cfg").write_text(config)
    (broken / "faults.lua").write_text(lua_script("colors").replace("end)\n", "end\n", 1))  # a Lua syntax error

    def check(folder: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "run", "--rm", "-i", "--entrypoint", "bash", "athalia/router:2.6", "-c",
             "cat >/tmp/all; sed -n '1,/^--LUA--$/p' /tmp/all | head -n -1 >/tmp/h.cfg; "
             "sed -n '/^--LUA--$/,$p' /tmp/all | tail -n +2 >/tmp/faults.lua; haproxy -c -f /tmp/h.cfg"],
            input=(folder / "haproxy.cfg").read_text() + "--LUA--\n" + (folder / "faults.lua").read_text(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip

    good = check(tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Configuration file is valid" in good.stdout + good.stderr
    bad = check(broken)
    assert bad.returncode != 0, "a broken script must fail the check: the check has to be able to fail"
    assert "faults.lua" in bad.stdout + bad.stderr


# -- each fault on its own ------------------------------------------------------------------------------------------


def test_an_error_ratio_replaces_that_share_of_greens_answers_which_still_name_green(
    rig_clean: Rig, record_property: Record
) -> None:
    """error_ratio 0.5, status 503: about half of green's answers are 503 with the color header; blue is untouched."""
    rig_clean.router.inject("green", Fault(error_ratio=0.5, status=503))
    answers = _requests(rig_clean.router, 600)
    green = [a for a in answers if a[1] == "green"]
    blue = [a for a in answers if a[1] == "blue"]
    assert len(green) >= 250, len(green)
    assert len(blue) >= 250, len(blue)
    assert all(color is not None for _, color, _, _ in answers)  # every answer names its color
    failed = [a for a in green if a[0] == 503]
    ratio = len(failed) / len(green)
    record_property("fault_error_ratio_measured", f"{ratio:.3f} of {len(green)}")
    assert 0.4 <= ratio <= 0.6, ratio
    assert {status for status, *_ in green} == {200, 503}
    assert all(fault == "error" for _, _, fault, _ in failed)
    assert {status for status, *_ in blue} == {200}
    rig_clean.router.clear()
    assert {status for status, *_ in _requests(rig_clean.router, 60)} == {200}


def test_latency_is_added_to_greens_answers_only(rig_clean: Rig, record_property: Record) -> None:
    """latency_ms 150: each of green's answers takes at least 150 ms more; blue's stay fast."""
    before = _requests(rig_clean.router, 40)
    rig_clean.router.inject("green", Fault(latency_ms=150))
    during = _requests(rig_clean.router, 40)
    green = [ms for _, color, _, ms in during if color == "green"]
    blue = [ms for _, color, _, ms in during if color == "blue"]
    base = statistics.median(ms for _, color, _, ms in before if color == "green")
    added = statistics.median(green) - base
    record_property("fault_added_latency_ms", f"{added:.1f} (min green {min(green):.1f}, max blue {max(blue):.1f})")
    # Every green answer: the test app alone answers in 1 to 45 ms (its unbuffered writes meet delayed ACKs),
    # and that stall overlaps the router's sleep, so the median difference may be less than 150.
    assert min(green) >= 150, green
    assert max(blue) < 150, blue
    assert {status for status, *_ in during} == {200}


def test_failing_health_checks_take_green_down_until_cleared(rig_clean: Rig, record_property: Record) -> None:
    """health_fail: the router's own checks fail and green shows DOWN; while it weighs more than 0 it still
    answers (the hold), at weight 0 it gets nothing; clear brings it back UP."""
    rig_clean.router.set_weights([("green", 100), ("blue", 0)])
    rig_clean.router.inject("green", Fault(health_fail=True))
    to_down = _until(lambda: _status(rig_clean.router, "green").startswith("DOWN"), timeout=10)
    record_property("fault_time_to_down_s", f"{to_down:.2f}")
    assert to_down < 3.0  # inter 1s, fastinter 250ms, fall 2
    assert {(status, color) for status, color, _, _ in _requests(rig_clean.router, 30)} == {(200, "green")}
    rig_clean.router.set_weights([("blue", 100), ("green", 0)])
    assert {(status, color) for status, color, _, _ in _requests(rig_clean.router, 30)} == {(200, "blue")}
    rig_clean.router.clear()
    to_up = _until(lambda: _status(rig_clean.router, "green") == "UP", timeout=10)
    record_property("fault_time_to_up_s", f"{to_up:.2f}")


# -- each trigger in a real release ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "fault"),
    [
        ("error_rate", Fault(error_ratio=0.5)),
        ("latency", Fault(latency_ms=400)),
        ("health", Fault(health_fail=True)),
    ],
)
def test_each_trigger_fires_on_a_router_fault_in_a_real_release(
    rig: Rig, trigger: str, fault: Fault, record_property: Record
) -> None:
    """The app unchanged plus a router fault: that trigger fires, the rollback loses nothing, the fault is gone."""
    plan = Plan(
        probe_path="/version",
        smoke_paths=("/health",),
        health_path="/health",
        probe=ProbeSpec(rate=300.0, clients=6, max_seconds=30.0),
        triggers=TriggersSpec(),
        observe_s=5.0,
    )
    rollout = BlueGreen(rig.router, rig.stack, plan)
    rollout.reset()
    try:
        report = rollout.release(Candidate(f"drill {trigger}", None, (("APP_VERSION", "2.0.0"),), fault))
        assert report.fired is not None, report.describe()
        assert report.fired.trigger == trigger, report.describe()
        assert report.phase is Phase.ROLLED_BACK
        assert drill_verdict(report, trigger).passed, report.describe()
        assert report.rollback is not None
        assert report.rollback.failed == (), report.describe()
        if report.rollback.detection_ms is not None:
            record_property(f"drill_{trigger}_detection_ms", f"{report.rollback.detection_ms:.0f}")
        # Cleared: green answers unchanged again, and is UP.
        _until(lambda: _status(rig.router, "green") == "UP", timeout=10)
        rig.router.set_weights([("green", 100), ("blue", 0)])
        answers = _requests(rig.router, 30)
        assert {(status, color, header) for status, color, header, _ in answers} == {(200, "green", None)}
        assert max(ms for *_, ms in answers) < 300
    finally:
        rollout.reset()
