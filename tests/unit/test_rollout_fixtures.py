"""The rollout fixtures in a pytester project: router from the hook, reset weights, candidate overrides."""

from __future__ import annotations

import textwrap

import pytest

ENVIRONMENT = """\
stack:
  compose_files: [../compose.yml]
  service: app
  port: 8000
rollout:
  enabled: {enabled}
  candidate: {{env: {{APP_VERSION: "2.0.0"}}}}
  drills:
    error_rate: {{env: {{FAULT_ERROR_RATE: "0.5"}}}}
"""

CONFTEST = '''\
"""A FakeStack (no Docker) and a FakeRouter whose weights start the wrong way round (green live)."""

import pytest

from pytest_athalia.testing import FakeRouter, FakeStack

ROUTER = FakeRouter(weights={"blue": 0, "green": 100})


@pytest.hookimpl(optionalhook=True)
def pytest_athalia_make_stack(config, environment, project):
    return FakeStack(environment, project=project)


@pytest.hookimpl(optionalhook=True)
def pytest_athalia_make_router(config, environment, stack):
    return ROUTER if environment.spec.rollout.enabled else None
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project with one environment (rollout enabled) and the fake stack and router."""
    (pytester.path / "compose.yml").write_text("services: {}\n", encoding="utf-8")
    (pytester.path / "environments").mkdir()
    write_environment(pytester, enabled=True)
    (pytester.path / "pytest.ini").write_text("[pytest]\nathalia_environments = environments\n", encoding="utf-8")
    (pytester.path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    return pytester


def write_environment(pytester: pytest.Pytester, *, enabled: bool) -> None:
    text = ENVIRONMENT.format(enabled="true" if enabled else "false")
    (pytester.path / "environments" / "dev.yml").write_text(text, encoding="utf-8")


def test_rollout_starts_and_ends_with_blue_live(project: pytest.Pytester) -> None:
    """athalia_rollout resets the router to blue=100, green=0 before the test and again after it."""
    project.makepyfile(
        test_it=textwrap.dedent(
            """
            from conftest import ROUTER

            def test_first(athalia_rollout):
                assert athalia_rollout.phase.value == "idle"
                assert athalia_rollout.live == "blue"
                assert dict(athalia_rollout.router.weights()) == {"blue": 100, "green": 0}
                athalia_rollout.router.set_weight("green", 100)

            def test_second(athalia_rollout):
                reset = [("blue", 100), ("green", 0)]
                changes = [(c.server, c.weight) for c in ROUTER.changes]
                assert changes == [*reset, ("green", 100), *reset, *reset]
            """
        )
    )
    project.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_router_fixture_names_rollout_enabled_when_there_is_no_router(project: pytest.Pytester) -> None:
    """With rollout.enabled false no hook returns a router, and the test fails naming the key and the fix."""
    write_environment(project, enabled=False)
    project.makepyfile(test_it="def test_router(athalia_router):\n    pass\n")
    result = project.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*athalia: no router for the rollout: rollout.enabled is false in *dev.yml*"])
    result.stdout.fnmatch_lines(["*set `rollout: {enabled: true}` there*"])


def test_candidate_and_drills_come_from_the_file_and_the_environment(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """athalia_candidate merges ATHALIA_CANDIDATE_ENV over rollout.candidate; athalia_drills lists the drills."""
    monkeypatch.setenv("ATHALIA_CANDIDATE_ENV", "FAULT_LATENCY_MS=400")
    project.makepyfile(
        test_it=textwrap.dedent(
            """
            def test_candidate(athalia_candidate, athalia_drills):
                assert athalia_candidate.env == (("APP_VERSION", "2.0.0"), ("FAULT_LATENCY_MS", "400"))
                assert athalia_drills["error_rate"].env == (("FAULT_ERROR_RATE", "0.5"),)
            """
        )
    )
    project.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_malformed_candidate_override_is_a_usage_error(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malformed ATHALIA_CANDIDATE_ENV stops the run with the variable named and an example."""
    monkeypatch.setenv("ATHALIA_CANDIDATE_ENV", "oops")
    project.makepyfile(test_it="def test_candidate(athalia_candidate):\n    pass\n")
    result = project.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.ret != 0
    assert "ATHALIA_CANDIDATE_ENV expected NAME=VALUE words" in result.stdout.str() + result.stderr.str()
