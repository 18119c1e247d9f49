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


IMAGE_CONFTEST = '''\
"""A FakeStack that records whether it started, a FakeRouter, and a FakeImageLookup that knows one image."""

import pytest

from pytest_athalia.release._candidate_image import FakeImageLookup
from pytest_athalia.stack._values import ServiceState
from pytest_athalia.testing import FakeRouter, FakeStack

STACKS = []
LOOKUP = FakeImageLookup(local={"athalia-demo/app:2.0.0"})
SERVICES = [ServiceState("app", "c1", "running", "healthy"), ServiceState("front", "c2", "running", "")]


@pytest.hookimpl(optionalhook=True)
def pytest_athalia_make_stack(config, environment, project):
    stack = FakeStack(environment, project=project, base_url="http://127.0.0.1:8080", services=SERVICES)
    STACKS.append(stack)
    return stack


@pytest.hookimpl(optionalhook=True)
def pytest_athalia_make_router(config, environment, stack):
    return FakeRouter()


@pytest.fixture(scope="session")
def athalia_image_lookup():
    return LOOKUP
'''


@pytest.fixture
def images(project: pytest.Pytester) -> pytest.Pytester:
    """The project with a conftest whose image lookup knows only athalia-demo/app:2.0.0."""
    (project.path / "conftest.py").write_text(IMAGE_CONFTEST, encoding="utf-8")
    return project


def test_missing_candidate_image_fails_before_the_stack_starts(
    images: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ATHALIA_CANDIDATE_IMAGE naming an image that is neither local nor pullable: an error naming the variable, and
    no stack was ever made or started."""
    monkeypatch.setenv("ATHALIA_CANDIDATE_IMAGE", "nope/app:9")
    images.makepyfile(
        test_it=textwrap.dedent(
            """
            from conftest import LOOKUP, STACKS

            def test_release(athalia_rollout):
                pass

            def test_after():
                assert STACKS == []
                assert LOOKUP.asked == ["present nope/app:9", "pullable nope/app:9"]
            """
        )
    )
    result = images.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*athalia: the candidate image 'nope/app:9' (from the environment variable "
            "ATHALIA_CANDIDATE_IMAGE) is not present locally and cannot be pulled*"
        ]
    )
    assert "Nothing was started" in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_present_candidate_image_and_no_image_pass_the_check(images: pytest.Pytester) -> None:
    """rollout.candidate without an image asks nothing; a local image passes and the stack starts."""
    images.makepyfile(
        test_it=textwrap.dedent(
            """
            from conftest import LOOKUP, STACKS

            def test_release(athalia_rollout):
                assert LOOKUP.asked == []
                assert [s.calls[0] for s in STACKS] == ["start"]
            """
        )
    )
    images.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_probe_service_resolves_to_its_published_address(images: pytest.Pytester) -> None:
    """rollout.probe.service names a service of the stack: the plan's probe enters through its address."""
    with (images.path / "environments" / "dev.yml").open("a", encoding="utf-8") as fh:
        fh.write("  probe: {service: front, port: 80}\n")
    images.makepyfile(
        test_it=textwrap.dedent(
            """
            def test_plan(athalia_rollout):
                plan = athalia_rollout.plan
                assert plan.probe_base == "http://127.0.0.1:8080"
                assert plan.probe_entry == "front:80"
                assert plan.probe_url("http://router") == "http://127.0.0.1:8080/health"
            """
        )
    )
    images.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_unknown_probe_service_names_the_key_the_services_and_the_fix(images: pytest.Pytester) -> None:
    """rollout.probe.service naming no service of the stack fails the test in one paragraph, listing the services."""
    with (images.path / "environments" / "dev.yml").open("a", encoding="utf-8") as fh:
        fh.write("  probe: {service: frontend}\n")
    images.makepyfile(test_it="def test_plan(athalia_rollout):\n    pass\n")
    result = images.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*athalia: rollout.probe.service in *dev.yml names 'frontend', which is not a service of the stack*"]
    )
    result.stdout.fnmatch_lines(["*(its services: app, front). Fix: name the service users come in through*"])
