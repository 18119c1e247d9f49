"""The router interface: FakeRouter behaves like the real one, wait_until_serving, and FakeStack as a ColorStack."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from pytest_athalia._errors import RolloutError, RouterError
from pytest_athalia.config._environment import Environment, EnvironmentSpec
from pytest_athalia.release import _router as router_module
from pytest_athalia.release._router import (
    COLOR_HEADER,
    COLORS,
    ColorStack,
    FakeRouter,
    Router,
    ServerStats,
    WeightBatch,
    WeightChange,
    apply_weights,
    check_weight,
    wait_until_serving,
)
from pytest_athalia.testing import Deploy, FakeStack


def ticking(start: float = 100.0, step: float = 0.5) -> Iterator[float]:
    value = start
    while True:
        yield value
        value += step


def test_the_color_header_is_the_one_the_router_sets() -> None:
    """The header the probe reads is the one the generated HAProxy configuration sets."""
    from pytest_athalia.stack._override import haproxy_config

    assert COLOR_HEADER == "X-Athalia-Color"
    assert f"http-response set-header {COLOR_HEADER} %[srv_name]" in haproxy_config("app", 8000, "/health")


# -- FakeRouter ---------------------------------------------------------------------------------------------------


def test_fake_router_starts_with_blue_live_and_green_idle() -> None:
    """Like the generated router: blue 100, green 0, both UP, no traffic counted yet."""
    fake = FakeRouter("http://127.0.0.1:9/")
    assert isinstance(fake, Router)
    assert dict(fake.weights()) == {"blue": 100, "green": 0}
    assert fake.stats() == (ServerStats("blue", "UP", 100, 0, 0, None), ServerStats("green", "UP", 0, 0, 0, None))
    assert fake.url("/version") == "http://127.0.0.1:9/version"


def test_fake_router_records_each_weight_change_with_the_clocks_time() -> None:
    """set_weight changes weights() and stats(), and records (time, server, weight) in order."""
    clock = ticking()
    fake = FakeRouter(clock=lambda: next(clock))
    fake.set_weight("green", 100)
    fake.set_weight("blue", 0)
    assert fake.changes == [WeightChange(100.0, "green", 100), WeightChange(100.5, "blue", 0)]
    assert dict(fake.weights()) == {"blue": 0, "green": 100}
    assert {s.server: s.weight for s in fake.stats()} == {"blue": 0, "green": 100}
    assert fake.weight_history("green") == (100,)


@pytest.mark.parametrize(
    ("server", "weight", "match"), [("purple", 1, "no server 'purple'"), ("blue", 300, "0 to 256")]
)
def test_fake_router_refuses_what_haproxy_refuses(server: str, weight: int, match: str) -> None:
    """Unknown servers and weights outside 0..256 are RouterErrors, and nothing is recorded."""
    fake = FakeRouter()
    with pytest.raises(RouterError, match=match):
        fake.set_weight(server, weight)
    assert fake.changes == []


def test_fake_router_fails_a_given_number_of_times_then_recovers() -> None:
    """fail(times=2) makes exactly the next two calls raise, whatever they are."""
    fake = FakeRouter()
    fake.fail("router down", times=2)
    with pytest.raises(RouterError, match=r"router down \(set_weight green 100\)"):
        fake.set_weight("green", 100)
    with pytest.raises(RouterError, match=r"router down \(stats\)"):
        fake.stats()
    assert dict(fake.weights()) == {"blue": 100, "green": 0}
    assert fake.changes == []


def test_fake_router_fails_until_told_to_recover() -> None:
    """fail() without times keeps failing; recover() ends it."""
    fake = FakeRouter()
    fake.fail()
    for _ in range(3):
        with pytest.raises(RouterError, match="unreachable"):
            fake.weights()
    fake.recover()
    assert fake.weights()["blue"] == 100
    assert fake.calls == ["weights"] * 4


def test_fake_router_stats_are_configurable() -> None:
    """set_stats changes only the fields given, and can add a server."""
    fake = FakeRouter()
    fake.set_stats("green", status="DOWN", requests=40, responses_5xx=7, response_time_ms=12.5)
    fake.set_stats("green", requests=41)
    assert fake.stats()[1] == ServerStats("green", "DOWN", 0, 41, 7, 12.5)
    fake.set_stats("spare", status="MAINT")
    assert [s.server for s in fake.stats()] == ["blue", "green", "spare"]


# -- check_weight and wait_until_serving -----------------------------------------------------------------------------


@pytest.mark.parametrize(("server", "weight"), [("blue", 0), ("green", 256), ("srv_1.a-b", 100)])
def test_check_weight_accepts_what_haproxy_accepts(server: str, weight: int) -> None:
    """Plain names and weights 0..256 pass."""
    check_weight(server, weight)


@pytest.mark.parametrize(
    ("server", "weight", "match"),
    [
        ("blue", 257, "found 257"),
        ("blue", -1, "found -1"),
        ("blue", 1.5, "found 1.5"),
        ("blue", False, "found False"),
        ("colors/blue", 1, "found 'colors/blue'"),
        ("blue weight 1", 1, "found 'blue weight 1'"),
    ],
)
def test_check_weight_refuses_the_rest(server: str, weight: object, match: str) -> None:
    """Anything else is a RouterError naming what was found."""
    with pytest.raises(RouterError, match=match):
        check_weight(server, weight)  # type: ignore[arg-type]


def test_wait_until_serving_returns_once_the_server_is_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """It polls stats() until the server's status is the one wanted."""
    fake = FakeRouter()
    fake.set_stats("green", status="MAINT (resolution)")
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:
            fake.set_stats("green", status="DOWN 1/2")
        if len(polls) == 3:
            fake.set_stats("green", status="UP")

    monkeypatch.setattr(router_module.time, "sleep", sleep)
    assert wait_until_serving(fake, "green", timeout=5, interval=0.01) >= 0
    assert len(polls) == 3
    assert fake.calls == ["stats"] * 4


def test_wait_until_serving_times_out_naming_the_last_status() -> None:
    """A server that never turns UP is a RouterError saying what the router last reported."""
    fake = FakeRouter()
    fake.set_stats("green", status="DOWN")
    with pytest.raises(RouterError, match=r"did not report server green as UP within 0\.05 s; last status: DOWN"):
        wait_until_serving(fake, "green", timeout=0.05, interval=0.01)


def test_wait_until_serving_names_the_servers_when_the_server_is_unknown() -> None:
    """Waiting for a server the router does not have lists the ones it has."""
    with pytest.raises(RouterError, match=r"no server 'purple' \(servers: blue, green\)"):
        wait_until_serving(FakeRouter(), "purple", timeout=0.0)


# -- FakeStack as a ColorStack ------------------------------------------------------------------------------------


def make_env() -> Environment:
    spec = EnvironmentSpec.model_validate(
        {"stack": {"compose_files": ["compose.yml"], "service": "app", "port": 8000}, "rollout": {"enabled": True}}
    )
    return Environment("dev", Path("/nonexistent/dev.yml"), spec)


def test_fake_stack_is_a_color_stack_with_addresses_per_color() -> None:
    """Each color has its service name (the router has the environment's own) and direct address."""
    stack = FakeStack(make_env(), color_urls={"green": "http://127.0.0.1:8002/"}, base_url="http://127.0.0.1:8001")
    assert isinstance(stack, ColorStack)
    assert [stack.color_service(color) for color in COLORS] == ["app-blue", "app-green"]
    assert stack.color_url("blue", "/version") == "http://127.0.0.1:8001/version"
    assert stack.color_url("green", "/version") == "http://127.0.0.1:8002/version"


def test_fake_stack_records_deploys_and_returns_their_time() -> None:
    """deploy_color records color, image, env and timeout, and returns the configured seconds."""
    stack = FakeStack(make_env(), deploy_seconds=3.25)
    assert stack.deploy_color("green", image="app:2", env={"APP_VERSION": "2"}, timeout=30) == 3.25
    assert stack.deploys == [Deploy("green", "app:2", {"APP_VERSION": "2"}, 30)]
    assert stack.calls == ["deploy green"]


def test_fake_stack_deploy_can_fail() -> None:
    """With deploy_error set, deploy_color raises RolloutError with it, after recording the call."""
    stack = FakeStack(make_env(), deploy_error="athalia: green did not become healthy")
    with pytest.raises(RolloutError, match="green did not become healthy"):
        stack.deploy_color("green", image=None, env={}, timeout=5)
    assert len(stack.deploys) == 1


# -- the built-in pytest_athalia_make_router ----------------------------------------------------------------------


def test_built_in_make_router_drives_haproxy_of_a_compose_stack_with_rollout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """For a ComposeStack of an environment with rollout.enabled it returns the HAProxy driver on its ports."""
    from pytest_athalia import plugin
    from pytest_athalia.config._secrets import Redactor
    from pytest_athalia.release._haproxy import HAProxyRouter
    from pytest_athalia.report._progress import Progress
    from pytest_athalia.stack._stack import ComposeStack, Endpoint

    ports = {9999: 41001, 8000: 41002}
    monkeypatch.setattr(
        ComposeStack, "endpoint", lambda self, service=None, port=None: Endpoint("127.0.0.1", ports[port])
    )
    stack = ComposeStack(
        make_env(), project="athalia-dev-main-p1-abcdef", redactor=Redactor(), progress=Progress(print)
    )
    router = plugin.pytest_athalia_make_router(config=None, environment=make_env(), stack=stack)  # type: ignore[arg-type]
    assert isinstance(router, HAProxyRouter)
    assert router.api == Endpoint("127.0.0.1", 41001)
    assert router.url("/") == "http://127.0.0.1:41002/"


def test_built_in_make_router_leaves_other_stacks_and_disabled_rollouts_to_others() -> None:
    """A stack that is not a ComposeStack, or rollout.enabled false, gets None (the next implementation decides)."""
    from pytest_athalia import plugin

    env = make_env()
    disabled = Environment(
        env.name,
        env.path,
        env.spec.model_copy(update={"rollout": env.spec.rollout.model_copy(update={"enabled": False})}),
    )
    assert plugin.pytest_athalia_make_router(config=None, environment=env, stack=FakeStack(env)) is None  # type: ignore[arg-type]
    assert plugin.pytest_athalia_make_router(config=None, environment=disabled, stack=FakeStack(env)) is None  # type: ignore[arg-type]


class _OneByOne:
    """A Router without set_weights, as a project's own driver may be."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def url(self, path: str = "") -> str:
        return "http://127.0.0.1:1" + path

    def set_weight(self, server: str, weight: int) -> None:
        self.calls.append((server, weight))

    def weights(self) -> Mapping[str, int]:
        return {}

    def stats(self) -> tuple[ServerStats, ...]:
        return ()


def test_apply_weights_uses_one_call_when_the_router_batches() -> None:
    """A WeightBatch router (the fake, HAProxy) gets one set_weights call with the changes in order."""
    router = FakeRouter()
    apply_weights(router, [("green", 100), ("blue", 0)])
    assert router.calls == ["set_weights green 100, blue 0"]
    assert dict(router.weights()) == {"blue": 0, "green": 100}


def test_apply_weights_falls_back_to_one_call_per_change() -> None:
    """A router with only set_weight gets the changes one by one, in order."""
    router = _OneByOne()
    assert isinstance(router, Router)
    assert not isinstance(router, WeightBatch)
    apply_weights(router, [("green", 100), ("blue", 0)])
    assert router.calls == [("green", 100), ("blue", 0)]


def test_fake_set_weights_changes_nothing_when_one_change_is_invalid() -> None:
    """Every change is checked before any is applied: an unknown server leaves blue live."""
    router = FakeRouter()
    with pytest.raises(RouterError, match="no server 'purple'"):
        router.set_weights([("blue", 0), ("purple", 100)])
    assert dict(router.weights()) == {"blue": 100, "green": 0}
    assert router.changes == []
