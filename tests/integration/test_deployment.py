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

pytestmark = pytest.mark.docker

HERE = Path(__file__).parent
REPO = HERE.parents[1]
SUITE = REPO / "suites" / "deployment" / "test_release.py"
WEBREDIS = HERE / "fixtures" / "webredis" / "webredis.yml"
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
            properties[name] = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
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


def test_bad_candidate_fails_naming_trigger_value_threshold_and_samples(tmp_path: Path) -> None:
    """ATHALIA_CANDIDATE_ENV with a 50 % error rate fails the switch test with the trigger and its numbers."""
    run = run_suite(
        tmp_path,
        str(WEBREDIS),
        "-k",
        "switches",
        extra_env={"ATHALIA_CANDIDATE_ENV": "FAULT_ERROR_RATE=0.5"},
    )
    assert run.returncode == 1, run.output[-4000:]
    assert run.outcomes == {"test_candidate_switches_with_zero_failed_requests": "failed"}
    assert "trigger_error_rate: measured 0." in run.output
    assert "threshold <= 0.05 ratio" in run.output
    assert "samples over 1000 ms): fail (the error_rate trigger fired and rolled the candidate back)" in run.output
    assert "FAULT_ERROR_RATE=0.5) on green: rolled back" in run.output
    # The rollback the switch test does not gate is still in the JUnit properties, with the trigger's numbers.
    properties = run.properties["test_candidate_switches_with_zero_failed_requests"]
    assert float(properties["athalia.rollback_ms.measured"]) <= setting(WEBREDIS, "slo", "rollback", "max_ms")
    assert int(properties["athalia.rollback_ms.samples"]) > 0  # requests after the cutover showed it
    assert properties["athalia.rollback_failed_requests.measured"] == "0"
    assert int(properties["athalia.trigger_error_rate.samples"]) >= 40  # min_samples in webredis.yml
    assert properties["athalia.trigger_error_rate.verdict"] == "fail"
