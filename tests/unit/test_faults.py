"""Router-injected faults: the Fault value, the runtime API commands and Lua text, drill sizing, and the fakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_athalia._errors import ConfigError, RouterError
from pytest_athalia.config._environment import load_environment
from pytest_athalia.config._rollout import FaultSpec, ProbeSpec, TriggersSpec
from pytest_athalia.fixtures._rollout import default_drills
from pytest_athalia.release._faults import (
    FakeFaultInjector,
    Fault,
    FaultInjector,
    InjectedFault,
    backend_lines,
    drill_faults,
    fault_command,
    global_lines,
    lua_script,
    restore_check_ports,
)
from pytest_athalia.release._release import Candidate
from pytest_athalia.testing import FakeRouter

# `show servers state colors` from HAProxy 2.6.12 (Debian bookworm), green's check port set to 1.
SERVERS_STATE = """\
1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight \
srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state \
bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr \
srv_agent_addr srv_agent_port
3 colors 1 blue 172.19.0.2 2 0 100 100 5 15 3 2 6 0 0 0 web 8000 - 0 0 - - 0
3 colors 2 green 172.19.0.3 0 0 0 0 4 8 2 0 6 0 0 0 web-green 8000 - 0 1 - - 0

"""


# -- the Fault value ------------------------------------------------------------------------------------------------


def test_a_fault_describes_what_it_does() -> None:
    """describe() names the share and status of errors, the added latency and the failing checks."""
    assert Fault(error_ratio=0.5).describe() == "50 % of answers 500"
    assert Fault(error_ratio=0.25, status=503, latency_ms=400).describe() == "25 % of answers 503, +400 ms"
    assert Fault(health_fail=True).describe() == "health checks failing"
    assert Fault().describe() == "no fault"
    assert Fault().harmless
    assert not Fault(latency_ms=1).harmless


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"error_ratio": 1.5}, "error_ratio: expected a number from 0 to 1, found 1.5"),
        ({"error_ratio": -0.1}, "error_ratio: expected a number from 0 to 1"),
        ({"error_ratio": float("nan")}, "error_ratio: expected a number from 0 to 1"),
        ({"error_ratio": True}, "error_ratio: expected a number from 0 to 1, found True"),
        ({"status": 99}, "status: expected an HTTP status from 100 to 599 (e.g. 500), found 99"),
        ({"status": 600}, "status: expected an HTTP status from 100 to 599"),
        ({"latency_ms": -1}, "latency_ms: expected a whole number of milliseconds from 0 to 60000, found -1"),
        ({"latency_ms": 1.5}, "latency_ms: expected a whole number of milliseconds"),
        ({"latency_ms": 60_001}, "latency_ms: expected a whole number of milliseconds"),
        ({"health_fail": "yes"}, "health_fail: expected true or false, found 'yes'"),
    ],
)
def test_a_bad_fault_is_a_config_error_naming_the_field_and_the_fix(kwargs: dict[str, object], expected: str) -> None:
    """Each field's rule is checked when the value is made; the message says where to fix it."""
    with pytest.raises(ConfigError) as info:
        Fault(**kwargs)  # type: ignore[arg-type]
    assert expected in str(info.value)
    assert "rollout.drills.<name>.fault" in str(info.value)


def test_a_fault_comes_from_the_environment_files_mapping() -> None:
    """health: fail becomes health_fail; a fractional latency is rounded up to whole milliseconds."""
    spec = FaultSpec(error_ratio=0.3, status=503, latency_ms=12.5, health="fail")
    assert Fault.from_spec(spec) == Fault(error_ratio=0.3, status=503, latency_ms=13, health_fail=True)


# -- the runtime API and the router's configuration -----------------------------------------------------------------


def test_the_fault_command_carries_server_ratio_status_latency_and_hold() -> None:
    """One line of five words after `athalia fault`, as the Lua command parses them."""
    assert fault_command("green", Fault(error_ratio=0.5)) == "athalia fault green 0.5 500 0 0"
    assert fault_command("green", Fault(latency_ms=400, health_fail=True)) == "athalia fault green 0 500 400 1"
    assert fault_command("blue", Fault(error_ratio=1 / 3, status=502)) == "athalia fault blue 0.333333 502 0 0"


def test_check_ports_to_restore_come_from_show_servers_state() -> None:
    """Only a server whose check port was moved (green to 1) is restored, to its own port."""
    assert restore_check_ports(SERVERS_STATE, "colors") == {"green": 8000}
    assert restore_check_ports(SERVERS_STATE.replace(" 0 1 - - 0", " 0 8000 - - 0"), "colors") == {}
    assert restore_check_ports(SERVERS_STATE, "other") == {}


def test_a_servers_state_without_its_columns_is_a_router_error() -> None:
    """A state table without srv_check_port is refused, not read as 'nothing to restore'."""
    text = SERVERS_STATE.replace(" srv_check_port", "")
    with pytest.raises(RouterError, match="expected srv_port and srv_check_port"):
        restore_check_ports(text.replace("srv_port", "port"), "colors")


def test_the_lua_script_registers_the_commands_and_actions_the_config_names() -> None:
    """The config's lua.<action> names and the driver's commands are the ones the script registers."""
    script = lua_script("colors")
    assert 'local backend = "colors"' in script
    assert "@" not in script.replace("@BACKEND@", "")  # every placeholder filled
    assert 'core.register_cli({"athalia", "fault"}' in script
    assert 'core.register_cli({"athalia", "clear"}' in script
    for action in ("athalia_hold", "athalia_fault"):
        assert f'core.register_action("{action}"' in script
        assert f"lua.{action}" in backend_lines()
    assert "core.msleep(fault.latency)" in script
    assert "txn.http:res_set_status(fault.status)" in script
    assert "srv:get_weight() > 0" in script  # a held server at weight 0 (rolled back) gets no traffic
    assert global_lines() == "    lua-load /etc/athalia/faults.lua\n"


# -- drills sized from the triggers -------------------------------------------------------------------------------


def test_default_thresholds_give_the_demos_drills() -> None:
    """5 % max error ratio gives 50 % errors; a 250 ms p95 gives +400 ms; health fails."""
    assert drill_faults(TriggersSpec(), ProbeSpec()) == {
        "error_rate": Fault(error_ratio=0.5),
        "latency": Fault(latency_ms=400),
        "health": Fault(health_fail=True),
    }


@pytest.mark.parametrize(
    ("max_ratio", "ratio"), [(0.0, 0.5), (0.05, 0.5), (0.2, 0.6), (0.3, 0.9), (0.5, 1.0), (0.99, 1.0)]
)
def test_the_error_ratio_is_well_above_the_threshold(max_ratio: float, ratio: float) -> None:
    """Three times max_ratio, at least 0.5, at most 1."""
    triggers = TriggersSpec.model_validate({"error_rate": {"max_ratio": max_ratio}})
    fault = drill_faults(triggers, ProbeSpec())["error_rate"]
    assert fault.error_ratio == pytest.approx(ratio)
    assert fault.error_ratio > max_ratio


@pytest.mark.parametrize(
    ("max_p95_ms", "timeout_ms", "latency_ms"),
    [(250, 2000, 400), (50, 2000, 150), (1000, 2000, 1500), (1000, 1200, 1100), (10, 2000, 110)],
)
def test_the_latency_is_well_above_the_threshold_and_below_the_probes_timeout(
    max_p95_ms: float, timeout_ms: float, latency_ms: int
) -> None:
    """1.6 x p95, at least p95 + 100 ms, at most halfway to the probe's timeout (a timeout is an error)."""
    triggers = TriggersSpec.model_validate({"latency": {"max_p95_ms": max_p95_ms}})
    fault = drill_faults(triggers, ProbeSpec(timeout_ms=timeout_ms))["latency"]
    assert fault.latency_ms == latency_ms
    assert max_p95_ms < fault.latency_ms < timeout_ms


def test_a_latency_threshold_the_probe_cannot_see_is_explained() -> None:
    """max_p95_ms at or above the probe's timeout: no latency drill can work, and the message says which keys."""
    triggers = TriggersSpec.model_validate({"latency": {"max_p95_ms": 2000}})
    with pytest.raises(ConfigError, match=r"max_p95_ms \(2000 ms\) is not below rollout.probe.timeout_ms \(2000 ms\)"):
        drill_faults(triggers, ProbeSpec(timeout_ms=2000))


def test_disabled_triggers_get_no_drill() -> None:
    """Only enabled triggers are drilled (the suite skips the others)."""
    triggers = TriggersSpec.model_validate({"latency": {"enabled": False}, "health": {"enabled": False}})
    assert list(drill_faults(triggers, ProbeSpec())) == ["error_rate"]


def test_default_drills_are_the_candidate_with_one_fault_per_trigger(tmp_path: Path) -> None:
    """No rollout.drills: rollout.candidate (image and env) plus a fault sized from that file's thresholds."""
    (tmp_path / "dev.yml").write_text(
        "stack: {compose_files: [c.yml], service: app, port: 8000}\n"
        "rollout:\n"
        "  enabled: true\n"
        "  candidate: {image: 'app:2', env: {APP_VERSION: '2'}}\n"
        "  triggers: {error_rate: {max_ratio: 0.2}, latency: {max_p95_ms: 100}}\n",
        encoding="utf-8",
    )
    (tmp_path / "c.yml").write_text("services: {app: {image: app}}\n", encoding="utf-8")
    drills = default_drills(load_environment("dev", tmp_path))
    env = (("APP_VERSION", "2"),)
    assert drills == {
        "error_rate": Candidate("drill error_rate", "app:2", env, Fault(error_ratio=0.6)),
        "latency": Candidate("drill latency", "app:2", env, Fault(latency_ms=200)),
        "health": Candidate("drill health", "app:2", env, Fault(health_fail=True)),
    }
    assert drills["latency"].describe() == "drill latency (image app:2, APP_VERSION=2, router fault: +200 ms)"


# -- the fake -------------------------------------------------------------------------------------------------------


def test_the_fake_records_injections_and_clears() -> None:
    """FakeFaultInjector is a FaultInjector; it keeps the active faults and the history of calls."""
    fake = FakeFaultInjector()
    assert isinstance(fake, FaultInjector)
    fake.inject("green", Fault(error_ratio=0.5))
    fake.inject("green", Fault(latency_ms=10))  # replaces the earlier one
    assert fake.active == {"green": Fault(latency_ms=10)}
    fake.clear()
    assert fake.active == {}
    assert fake.history == [
        InjectedFault("green", Fault(error_ratio=0.5)),
        InjectedFault("green", Fault(latency_ms=10)),
        InjectedFault("*", None),
    ]


def test_the_fake_shows_a_health_fault_on_its_router_until_cleared() -> None:
    """Linked to a FakeRouter, health_fail shows the server DOWN, and clear() shows it UP again."""
    router = FakeRouter()
    fake = FakeFaultInjector(router)
    fake.inject("green", Fault(health_fail=True))
    assert {s.server: s.status for s in router.stats()} == {"blue": "UP", "green": "DOWN"}
    fake.clear()
    assert {s.server: s.status for s in router.stats()} == {"blue": "UP", "green": "UP"}


def test_the_fake_refuses_unknown_servers_and_can_fail_like_an_unreachable_router() -> None:
    """An unknown server and fail() both raise RouterError; recover() ends the failure."""
    fake = FakeFaultInjector()
    with pytest.raises(RouterError, match="no server 'purple'; it has blue, green"):
        fake.inject("purple", Fault(error_ratio=1))
    fake.fail("router gone")
    with pytest.raises(RouterError, match=r"router gone \(clear\)"):
        fake.clear()
    fake.recover()
    fake.clear()


# -- the environment file -----------------------------------------------------------------------------------------

ENV = "stack: {compose_files: [c.yml], service: app, port: 8000}\nrollout:\n  enabled: true\n"


def environment_error(tmp_path: Path, rollout: str) -> str:
    (tmp_path / "dev.yml").write_text(ENV + rollout, encoding="utf-8")
    (tmp_path / "c.yml").write_text("services: {app: {image: app}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_environment("dev", tmp_path)
    return str(info.value)


def test_a_drills_fault_mapping_becomes_the_candidates_fault(tmp_path: Path) -> None:
    """rollout.drills.<name>.fault is read into the drill candidate; env drills stay as they were."""
    (tmp_path / "dev.yml").write_text(
        ENV + "  drills:\n"
        "    slow: {fault: {latency_ms: 400}}\n"
        "    broken: {fault: {error_ratio: 0.5, status: 503}}\n"
        "    sick: {fault: {health: fail}}\n"
        "    app_level: {env: {FAULT_ERROR_RATE: '0.5'}}\n",
        encoding="utf-8",
    )
    (tmp_path / "c.yml").write_text("services: {app: {image: app}}\n", encoding="utf-8")
    drills = load_environment("dev", tmp_path).spec.rollout.drills
    assert Candidate.from_spec("drill slow", drills["slow"]).fault == Fault(latency_ms=400)
    assert Candidate.from_spec("drill broken", drills["broken"]).fault == Fault(error_ratio=0.5, status=503)
    assert Candidate.from_spec("drill sick", drills["sick"]).fault == Fault(health_fail=True)
    app_level = Candidate.from_spec("drill app_level", drills["app_level"])
    assert (app_level.fault, app_level.env) == (None, (("FAULT_ERROR_RATE", "0.5"),))


@pytest.mark.parametrize(
    ("rollout", "key", "expected"),
    [
        ("  drills: {x: {fault: {error_ratio: 1.5}}}\n", "rollout.drills.x.fault.error_ratio", "a ratio from 0 to 1"),
        ("  drills: {x: {fault: {status: 99}}}\n", "rollout.drills.x.fault.status", "an HTTP status from 100 to 599"),
        ("  drills: {x: {fault: {latency_ms: -5}}}\n", "rollout.drills.x.fault.latency_ms", "from 0 to 60000"),
        ("  drills: {x: {fault: {health: ok}}}\n", "rollout.drills.x.fault.health", "fail (the router's health"),
        ("  drills: {x: {fault: {}}}\n", "rollout.drills.x.fault", "a fault that does something"),
        ("  drills: {x: {fault: {latency: 5}}}\n", "rollout.drills.x.fault.latency", "unknown key"),
        ("  candidate: {fault: {error_ratio: '0.5'}}\n", "rollout.candidate.fault.error_ratio", "a ratio"),
        # The keys of a drill, not the file's top-level keys (a drill is an entry of a mapping).
        (
            "  drills: {x: {imag: app:2}}\n",
            "rollout.drills.x.imag",
            "allowed under rollout.drills.x: image, env, fault",
        ),
        ("  drills: {x: 5}\n", "rollout.drills.x", "a mapping with keys: image, env, fault"),
    ],
)
def test_a_bad_fault_mapping_names_the_key_and_the_rule(tmp_path: Path, rollout: str, key: str, expected: str) -> None:
    """Each fault key rejects bad values with the file, the key and what was expected."""
    message = environment_error(tmp_path, rollout)
    assert "dev.yml, line " in message
    assert f"key {key}" in message
    assert expected in message
