"""The rollout section and slo.rollback: defaults, resolved plan, and errors that name the key and the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_athalia._errors import ConfigError
from pytest_athalia.config._environment import load_environment
from pytest_athalia.fixtures._rollout import candidate_from, default_drills
from pytest_athalia.release._release import Candidate, Plan

BASE = """\
stack:
  compose_files: [../docker-compose.yml]
  service: app
  port: 8000
  health_path: /health
  ready_path: /ready
  version_path: /version
"""

FULL = (
    BASE
    + """\
rollout:
  enabled: true
  candidate:
    image: athalia-demo/app:2.0.0
    env: {APP_VERSION: 2.0.0}
  deploy_timeout_s: 90
  observe_s: 2.5
  probe: {path: /items, rate: 400, clients: 8, timeout_ms: 1500, max_seconds: 30}
  smoke: {paths: [/health, /version]}
  triggers:
    window_ms: 800
    error_rate: {max_ratio: 0.02, min_samples: 40}
    latency: {max_p95_ms: 300, min_samples: 12}
    health: {path: /health, interval_ms: 25, max_failures: 2}
    external: {command: [sh, -c, 'exit 0'], match: ROLLBACK, interval_ms: 100}
  drills:
    error_rate: {env: {FAULT_ERROR_RATE: "0.5"}}
    health: {env: {FAULT_READY_FAIL: true}}
slo:
  rollback: {max_ms: 50, max_switch_ms: 80, max_failed_requests: 0}
"""
)


def load(envdir: Path, text: str) -> Plan:
    (envdir / "dev.yml").write_text(text, encoding="utf-8")
    return Plan.from_environment(load_environment("dev", envdir))


def error(envdir: Path, text: str) -> str:
    (envdir / "dev.yml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_environment("dev", envdir)
    return str(info.value)


def test_defaults_resolve_paths_from_the_stack(envdir: Path) -> None:
    """Without a rollout section the probe uses the version path, smoke the health path, the trigger readiness."""
    plan = load(envdir, BASE)
    assert (plan.probe_path, plan.smoke_paths, plan.health_path) == (
        "/version",
        ("/health", "/ready", "/version"),
        "/ready",
    )
    assert plan.probe.rate == 300
    assert plan.triggers.error_rate.max_ratio == 0.05
    assert not plan.triggers.external.configured


def test_every_key_is_read(envdir: Path) -> None:
    """A complete section is read into the plan, the drills and slo.rollback."""
    (envdir / "dev.yml").write_text(FULL, encoding="utf-8")
    environment = load_environment("dev", envdir)
    plan = Plan.from_environment(environment)
    assert (plan.probe_path, plan.smoke_paths, plan.health_path) == (
        "/items",
        ("/health", "/version", "/ready", "/items"),
        "/health",
    )
    assert (plan.deploy_timeout_s, plan.observe_s, plan.smoke_timeout_s) == (90, 2.5, 2.0)
    assert plan.triggers.external.command == ("sh", "-c", "exit 0")
    assert plan.triggers.health.max_failures == 2
    rollout = environment.spec.rollout
    assert rollout.drills["health"].env == {"FAULT_READY_FAIL": "true"}
    rollback = environment.spec.slo.rollback
    assert (rollback.max_ms, rollback.max_switch_ms, rollback.max_failed_requests) == (50, 80, 0)


@pytest.mark.parametrize(
    ("section", "key", "expected"),
    [
        ("rollout: {probe: {rate: 100}}", "rollout.probe.rate", "a number of requests per second from 200 to 5000"),
        ("rollout: {probe: {clients: 0}}", "rollout.probe.clients", "a whole number of keep-alive clients"),
        ("rollout: {probe: {path: version}}", "rollout.probe.path", "a URL path starting with '/'"),
        ("rollout: {observe_s: 0}", "rollout.observe_s", "a number of seconds greater than 0 and at most 300"),
        (
            "rollout: {triggers: {window_ms: 10}}",
            "rollout.triggers.window_ms",
            "a number of milliseconds, at least 100",
        ),
        ("rollout: {triggers: {error_rate: {max_ratio: 1.5}}}", "rollout.triggers.error_rate.max_ratio", "a ratio"),
        ("rollout: {triggers: {latency: {min_samples: 0}}}", "rollout.triggers.latency.min_samples", "at least 1"),
        ("rollout: {triggers: {health: {max_failures: 0}}}", "rollout.triggers.health.max_failures", "at least 1"),
        ("rollout: {triggers: {external: {url: ftp://x}}}", "rollout.triggers.external.url", "an http:// or https://"),
        ("rollout: {triggers: {external: {command: []}}}", "rollout.triggers.external.command", "a command as a list"),
        ("rollout: {drills: {Bad-Name: {}}}", "rollout.drills", "a mapping of drill names"),
        ("rollout: {drills: {slow: {env: {FAULT_LATENCY_MS: [1]}}}}", "rollout.drills.slow.env", "a string, number"),
        ("slo: {rollback: {max_failed_requests: -1}}", "slo.rollback.max_failed_requests", "at least 0"),
        ("slo: {rollback: {max_switch_ms: 0}}", "slo.rollback.max_switch_ms", "milliseconds greater than 0"),
        ("rollout: {baseline_s: 60}", "rollout.baseline_s", "from 0.5 to 30"),
        ("rollout: {probe: {port: 80}}", "rollout.probe", "set service too, or remove port"),
        ("rollout: {probe: {service: 'a b'}}", "rollout.probe.service", "a compose service"),
        ("rollout: {smoke: {expect_status: [abc]}}", "rollout.smoke.expect_status", "a code such as 200"),
        ("rollout: {smoke: {expect_status: []}}", "rollout.smoke.expect_status", "list at least one status"),
    ],
)
def test_bad_values_name_the_key_and_the_rule(envdir: Path, section: str, key: str, expected: str) -> None:
    """Each new key rejects bad values with a message naming the file, the key and what was expected."""
    message = error(envdir, BASE + section + "\n")
    assert "environments/dev.yml, line " in message
    assert f"key {key}" in message
    assert expected in message


def test_unknown_trigger_key_is_rejected(envdir: Path) -> None:
    """A typo in a trigger's keys is an error that lists the allowed keys, not a silent default."""
    message = error(envdir, BASE + "rollout: {triggers: {error_rate: {max_rate: 0.1}}}\n")
    assert "key rollout.triggers.error_rate.max_rate: unknown key" in message
    assert "max_ratio" in message


def test_external_signal_is_a_url_or_a_command_not_both(envdir: Path) -> None:
    """Giving both url and command is an error at the external key."""
    message = error(envdir, BASE + "rollout: {triggers: {external: {url: 'http://127.0.0.1:1/', command: ['true']}}}\n")
    assert "key rollout.triggers.external" in message
    assert "either url or command, not both" in message


def test_candidate_overrides_from_the_environment(envdir: Path) -> None:
    """ATHALIA_CANDIDATE_ENV adds or replaces variables and ATHALIA_CANDIDATE_IMAGE the image."""
    (envdir / "dev.yml").write_text(FULL, encoding="utf-8")
    environment = load_environment("dev", envdir)
    assert candidate_from(environment, {}) == Candidate(
        "rollout.candidate", "athalia-demo/app:2.0.0", (("APP_VERSION", "2.0.0"),)
    )
    environ = {"ATHALIA_CANDIDATE_ENV": "FAULT_ERROR_RATE=0.5 APP_VERSION='2.0.1 rc'", "ATHALIA_CANDIDATE_IMAGE": "x:1"}
    assert candidate_from(environment, environ) == Candidate(
        "rollout.candidate", "x:1", (("APP_VERSION", "2.0.1 rc"), ("FAULT_ERROR_RATE", "0.5"))
    )


def test_probe_baseline_and_smoke_keys_are_read(envdir: Path) -> None:
    """rollout.baseline_s, rollout.smoke.expect_status and rollout.probe.service/port reach the plan and the spec."""
    text = "rollout: {baseline_s: 1.5, probe: {service: front, port: 80}, smoke: {expect_status: [200, 3xx]}}\n"
    (envdir / "dev.yml").write_text(BASE + text, encoding="utf-8")
    environment = load_environment("dev", envdir)
    plan = Plan.from_environment(environment)
    assert (plan.baseline_s, plan.smoke_expect) == (1.5, ("200", "3xx"))
    assert (environment.spec.rollout.probe.service, environment.spec.rollout.probe.port) == ("front", 80)
    assert plan.probe_base is None  # resolved against the running stack by the athalia_rollout fixture
    (envdir / "dev.yml").write_text(BASE + "rollout: {smoke: {expect_status: live}}\n", encoding="utf-8")
    assert Plan.from_environment(load_environment("dev", envdir)).smoke_expect == "live"


def test_candidate_source_names_the_variable_or_the_file_key(envdir: Path) -> None:
    """The candidate knows where its image and environment came from: the variables, or rollout.candidate's keys."""
    (envdir / "dev.yml").write_text(FULL, encoding="utf-8")
    environment = load_environment("dev", envdir)
    from_file = candidate_from(environment, {}).source
    assert f"its image from rollout.candidate.image in {environment.path}" in from_file
    assert "ATHALIA_CANDIDATE" not in from_file
    from_var = candidate_from(environment, {"ATHALIA_CANDIDATE_IMAGE": "x:1", "ATHALIA_CANDIDATE_ENV": "A=1"}).source
    assert "its image from the environment variable ATHALIA_CANDIDATE_IMAGE and" in from_var
    assert "rollout.candidate.image" not in from_var
    assert "the environment variable ATHALIA_CANDIDATE_ENV" in from_var


@pytest.mark.parametrize("text", ["FAULT_ERROR_RATE", "=1", "A=1 'unclosed"])
def test_bad_candidate_override_names_the_variable(envdir: Path, text: str) -> None:
    """A malformed ATHALIA_CANDIDATE_ENV is a ConfigError naming the variable."""
    (envdir / "dev.yml").write_text(BASE, encoding="utf-8")
    with pytest.raises(ConfigError, match="ATHALIA_CANDIDATE_ENV"):
        candidate_from(load_environment("dev", envdir), {"ATHALIA_CANDIDATE_ENV": text})


@pytest.mark.parametrize("name", ["dev", "staging", "production"])
def test_demo_environments_define_every_drill(name: str) -> None:
    """The demo environments enable the rollout and drill each bad-candidate trigger through the router
    (rollout.drills with fault:, or none: the defaults sized from the triggers)."""
    environment = load_environment(name, Path(__file__).parents[2] / "demo" / "environments")
    rollout = environment.spec.rollout
    assert rollout.enabled
    drills = (
        {key: Candidate.from_spec(key, spec) for key, spec in rollout.drills.items()}
        if rollout.drills
        else default_drills(environment)
    )
    assert set(drills) == {"error_rate", "latency", "health"}
    assert all(drill.fault is not None for drill in drills.values())
    assert not [var for drill in drills.values() for var, _ in drill.env if var.startswith("FAULT_")]
    assert environment.spec.slo.rollback.max_failed_requests == 0


def test_deploy_error_of_a_variable_image_names_the_variable_not_the_file(envdir: Path) -> None:
    """A deploy failing for ATHALIA_CANDIDATE_IMAGE says the image came from that variable, not rollout.candidate."""
    from pytest_athalia._errors import RolloutError
    from pytest_athalia.release._bluegreen import BlueGreen
    from pytest_athalia.testing import FakeRouter, FakeStack

    (envdir / "dev.yml").write_text(BASE, encoding="utf-8")
    environment = load_environment("dev", envdir)
    candidate = candidate_from(environment, {"ATHALIA_CANDIDATE_IMAGE": "nope/app:9"})
    stack_says = (
        "athalia: deploying green (service app-green) of project p failed (exit 18, wait timeout 60 s). Check the "
        f"candidate's image and settings (rollout.candidate in {environment.path}) and the service's log "
        "(docker compose -p p logs app-green). compose said:\nError: No such image: nope/app:9"
    )
    stack = FakeStack(environment, deploy_error=stack_says)
    rollout = BlueGreen(FakeRouter(), stack, Plan.from_environment(environment))
    with pytest.raises(RolloutError) as info:
        rollout.deploy(candidate)
    text = str(info.value)
    assert "The candidate takes its image from the environment variable ATHALIA_CANDIDATE_IMAGE" in text
    assert f"rollout.candidate in {environment.path}" not in text
    assert text.count("Error: No such image: nope/app:9") == 1
    assert text.endswith("compose said:\nError: No such image: nope/app:9")
