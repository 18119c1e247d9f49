"""The deployment suite against real Docker: the demo stack, a second project, and a bad candidate.

Each test runs ``pytest suites/deployment/test_release.py`` in a subprocess (the inner run), as a
user would, and checks its exit status, its JUnit XML (every test passed, the measured values are
properties) and, for a bad candidate, the failure text. ``suites/deployment/test_load.py`` belongs
to the load gates and is tested with them.

The second project (``fixtures/webredis``: a stdlib web service and Redis from Debian) knows nothing
of the plugin: ``webredis.yml`` is all it takes. Its images are tagged ``athalia-test/webredis-*``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from pytest_athalia.testing import unavailable
from tests.support.junit import measured
from tests.support.report_schema import validate_report

pytestmark = pytest.mark.docker

HERE = Path(__file__).parent
REPO = HERE.parents[1]
SUITE = REPO / "suites" / "deployment" / "test_release.py"
WEBREDIS = HERE / "fixtures" / "webredis" / "webredis.yml"
FRONTPROXY = HERE / "fixtures" / "frontproxy" / "frontproxy.yml"
DEMO_DEV = REPO / "demo" / "environments" / "dev.yml"
BASE_IMAGE = "athalia/base:bookworm"
RUN_TIMEOUT = 900.0  # a first run builds images; later runs take about 40 s
SUITE_TESTS = 6


@dataclass(frozen=True)
class InnerRun:
    returncode: int
    output: str
    outcomes: dict[str, str]  # test name -> passed / failed / skipped
    properties: dict[str, dict[str, str]]  # test name -> property -> value


@pytest.fixture(scope="module", autouse=True)
def base_image() -> None:
    """The demo and the webredis images build FROM the local base image (`athalia images bootstrap`)."""
    proc = subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True, timeout=60, check=False)
    if proc.returncode != 0:
        unavailable(f"the base image {BASE_IMAGE} is missing; run `athalia images bootstrap`")


def run_suite(tmp_path: Path, env_selector: str, *args: str, extra_env: dict[str, str] | None = None) -> InnerRun:
    """Run the deployment suite in a subprocess from the repository root, with its reports in tmp_path."""
    junit = tmp_path / "junit.xml"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ATHALIA_")}
    environ.update(extra_env or {})
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(SUITE),
            f"--athalia-env={env_selector}",
            f"--athalia-report={tmp_path / 'athalia.json'}",
            f"--junitxml={junit}",
            "--athalia-log-lines=0",
            "-p",
            "no:cacheprovider",
            "-q",
            *args,
        ],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    output = proc.stdout + proc.stderr
    outcomes: dict[str, str] = {}
    properties: dict[str, dict[str, str]] = {}
    if junit.exists():
        for case in ET.parse(junit).iter("testcase"):
            name = case.get("name", "")
            kinds = {child.tag for child in case} & {"failure", "error", "skipped"}
            outcomes[name] = {"failure": "failed", "error": "failed", "skipped": "skipped"}.get(
                next(iter(kinds), ""), "passed"
            )
        properties = measured(junit)
    return InnerRun(proc.returncode, output, outcomes, properties)


def setting(environment: Path, *keys: str) -> float:
    """A number from an environment file, e.g. ``setting(WEBREDIS, "rollout", "observe_s")``."""
    value: object = yaml.safe_load(environment.read_text(encoding="utf-8"))
    for key in keys:
        assert isinstance(value, dict), (environment, keys)
        value = value[key]
    assert isinstance(value, int | float), (environment, keys, value)
    return float(value)


def assert_suite_passed(run: InnerRun, environment: Path) -> None:
    """Every test of the suite passed, and the measured values are JUnit properties within the SLO."""
    # A trigger fires within the observation after the switch; the evaluation itself adds a little.
    max_detection_ms = setting(environment, "rollout", "observe_s") * 1000 + 500
    assert run.returncode == 0, run.output[-4000:]
    assert len(run.outcomes) == SUITE_TESTS, run.outcomes
    assert set(run.outcomes.values()) == {"passed"}, run.outcomes
    switch = run.properties["test_candidate_switches_with_zero_failed_requests"]
    assert switch["athalia.switch_failed_requests.measured"] == "0"
    assert switch["athalia.switch_failed_requests.verdict"] == "pass"
    assert switch["athalia.switch_ms.verdict"] == "pass"
    assert float(switch["athalia.switch_ms.measured"]) <= float(switch["athalia.switch_ms.threshold"])
    assert switch["athalia.probe_rate.verdict"] == "pass"
    assert float(switch["athalia.probe_rate.measured"]) >= 200
    for trigger in ("error_rate", "latency", "health"):
        drill = run.properties[f"test_bad_candidate_is_rolled_back_automatically[{trigger}]"]
        assert drill[f"athalia.drill_{trigger}.verdict"] == "pass"
        assert float(drill["athalia.rollback_ms.measured"]) <= float(drill["athalia.rollback_ms.threshold"])
        assert drill["athalia.rollback_failed_requests.measured"] == "0"
        # Measured from the first bad answer (after the switch) to the firing: never 0, never longer than observed.
        assert 0 < float(drill["athalia.detection.measured"]) <= max_detection_ms, drill


def test_demo_stack_passes_the_deployment_suite(tmp_path: Path) -> None:
    """On the dev demo stack every release test passes: clean switch, manual rollback, four automatic ones."""
    assert_suite_passed(run_suite(tmp_path, "dev"), DEMO_DEV)


def test_second_project_passes_with_nothing_but_an_environment_file(tmp_path: Path) -> None:
    """A web service plus Redis that knows nothing of the plugin passes the same suite with webredis.yml."""
    assert_suite_passed(run_suite(tmp_path, str(WEBREDIS)), WEBREDIS)


def test_front_proxy_app_passes_through_its_front_with_fixed_ports_under_two_workers(tmp_path: Path) -> None:
    """nginx calls the API by name and both publish fixed host ports: with only frontproxy.yml, `-n 2` passes.

    Each xdist worker starts its own stack: the fixed ports are republished on 127.0.0.1 with ephemeral
    ports (stack.ports: private), and the probe enters through the front (rollout.probe.service).
    """
    run = run_suite(tmp_path, str(FRONTPROXY), "-n", "2")
    assert_suite_passed(run, FRONTPROXY)
    # No drills in the file: each trigger was drilled through the router (a router-injected fault).
    for trigger in ("error_rate", "latency", "health"):
        drill = run.properties[f"test_bad_candidate_is_rolled_back_automatically[{trigger}]"]
        assert drill[f"athalia.drill_{trigger}.verdict"] == "pass", drill


def test_bad_candidate_fails_naming_trigger_value_threshold_and_samples(tmp_path: Path) -> None:
    """ATHALIA_CANDIDATE_ENV adding 400 ms to every answer fails the switch test with the trigger and its numbers.

    Slow, not failing: a candidate answering 500s could be stopped by the smoke test (which asks every judged
    path once) before any traffic moves, and this test is about the trigger.
    """
    run = run_suite(
        tmp_path,
        str(WEBREDIS),
        "-k",
        "switches",
        extra_env={"ATHALIA_CANDIDATE_ENV": "FAULT_LATENCY_MS=400"},
    )
    assert run.returncode == 1, run.output[-4000:]
    assert run.outcomes == {"test_candidate_switches_with_zero_failed_requests": "failed"}
    assert "trigger_latency: measured 4" in run.output, run.output[-4000:]
    assert "threshold <= 200 ms" in run.output
    assert "samples over 1000 ms): fail (the latency trigger fired and rolled the candidate back)" in run.output
    assert "FAULT_LATENCY_MS=400) on green: rolled back" in run.output
    # The rollback the switch test does not gate is still in the JUnit properties, with the trigger's numbers.
    properties = run.properties["test_candidate_switches_with_zero_failed_requests"]
    assert float(properties["athalia.rollback_ms.measured"]) <= setting(WEBREDIS, "slo", "rollback", "max_ms")
    assert int(properties["athalia.rollback_ms.samples"]) > 0  # requests after the cutover showed it
    assert properties["athalia.rollback_failed_requests.measured"] == "0"
    assert int(properties["athalia.trigger_latency.samples"]) >= 8  # min_samples in webredis.yml
    assert properties["athalia.trigger_latency.verdict"] == "fail"
    assert properties["athalia.smoke.verdict"] == "pass"
    assert properties["athalia.baseline.verdict"] == "pass"


def report_json(tmp_path: Path) -> dict[str, object]:
    import json

    data = json.loads((tmp_path / "athalia.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    validate_report(data)
    return data


def test_candidate_redirecting_its_health_path_is_stopped_by_the_smoke_test(tmp_path: Path) -> None:
    """A candidate whose /health answers 308 (blue: 200) is stopped before any traffic moves; the container's own
    healthcheck follows the redirect and calls it healthy, the smoke test does not."""
    run = run_suite(tmp_path, str(WEBREDIS), "-k", "switches", extra_env={"ATHALIA_CANDIDATE_ENV": "MOVED_HEALTH=true"})
    assert run.returncode == 1, run.output[-4000:]
    assert run.outcomes == {"test_candidate_switches_with_zero_failed_requests": "failed"}
    assert "GET /health on green answered 308 where blue (live) answers 200" in run.output, run.output[-4000:]
    assert "redirects not followed" in run.output
    properties = run.properties["test_candidate_switches_with_zero_failed_requests"]
    assert properties["athalia.baseline.verdict"] == "pass"
    assert properties["athalia.deploy.verdict"] == "pass"
    assert properties["athalia.smoke.verdict"] == "fail"
    assert properties["athalia.smoke.measured"] == "1"
    # No traffic moved: nothing after the smoke test was measured, and the probe never ran for a switch.
    assert properties["athalia.switch_failed_requests.verdict"] == "not measured"
    assert "the release stopped at the smoke check" in properties["athalia.switch_failed_requests.reason"]
    assert "athalia.probe_requests.measured" not in properties
    assert "1 of 7 release checks did not pass:\nsmoke: measured 1 paths" in run.output


def test_probe_path_failing_on_the_live_version_is_inconclusive(tmp_path: Path) -> None:
    """A probe path that 404s on blue: nothing is deployed, the test fails with an inconclusive baseline check naming
    the trigger, its measured value, threshold and samples, never a failure blamed on the candidate."""
    spec = yaml.safe_load(WEBREDIS.read_text(encoding="utf-8"))
    spec["stack"]["compose_files"] = [str(WEBREDIS.parent / "docker-compose.yml")]
    spec["rollout"]["probe"]["path"] = "/nope"
    environment = tmp_path / "webredis-404.yml"
    environment.write_text(yaml.safe_dump(spec), encoding="utf-8")
    run = run_suite(tmp_path, str(environment), "-k", "switches")
    assert run.returncode == 1, run.output[-4000:]
    assert run.outcomes == {"test_candidate_switches_with_zero_failed_requests": "failed"}
    assert "the live version already fails: error_rate trigger fired: measured 1 ratio" in run.output, run.output[
        -4000:
    ]
    assert "threshold > 0.05 ratio" in run.output
    assert "on blue before anything was deployed" in run.output
    assert "rolled the candidate back" not in run.output
    properties = run.properties["test_candidate_switches_with_zero_failed_requests"]
    assert properties["athalia.baseline.verdict"] == "inconclusive"
    assert properties["athalia.baseline.measured"] == "1"
    assert int(properties["athalia.baseline.samples"]) >= 40  # min_samples in webredis.yml
    assert properties["athalia.deploy.verdict"] == "not measured"
    assert int(properties["athalia.baseline_failed_requests.measured"]) >= 40  # it stops as soon as it fires
    data = report_json(tmp_path)
    summary = data["summary"]
    assert isinstance(summary, dict)
    assert (summary["failed"], summary["inconclusive"], summary["passed"]) == (0, 1, 0), summary
    timeline = data["timeline"]
    assert isinstance(timeline, list)
    assert [event["event"] for event in timeline] == ["baseline", "stop"], timeline  # nothing was deployed


def test_missing_candidate_image_stops_the_run_before_the_stack_starts(tmp_path: Path) -> None:
    """ATHALIA_CANDIDATE_IMAGE naming an image Docker lacks and no registry lists: one error naming the variable,
    before any container exists (the real `docker image inspect` and `docker manifest inspect`)."""
    run = run_suite(
        tmp_path, str(WEBREDIS), "-k", "switches", extra_env={"ATHALIA_CANDIDATE_IMAGE": "athalia-test/nope:404"}
    )
    assert run.returncode == 1, run.output[-4000:]
    assert (
        "the candidate image 'athalia-test/nope:404' (from the environment variable ATHALIA_CANDIDATE_IMAGE) is not "
        "present locally" in run.output
    ), run.output[-4000:]
    assert "Nothing was started" in run.output
    assert "building" not in run.output  # the stack was never built nor started
