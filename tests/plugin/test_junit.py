"""Gate verdicts become ``athalia.<check>.<field>`` JUnit properties, and a breach fails the call phase."""

from __future__ import annotations

import pytest

from .helpers import Project, properties
from .helpers import project_fixture as project_fixture  # the `project` fixture

GATES = """
def test_fast(athalia_gate):
    athalia_gate.check("latency", 120.0, limit=250, unit="ms", samples=50, window="30s")

def test_slow(athalia_gate):
    athalia_gate.check("startup", 7.5, limit=5, unit="s", samples=1)
"""


@pytest.mark.parametrize("family", ["xunit1", "xunit2"])
def test_verdicts_are_junit_properties_in_every_family(project: Project, family: str) -> None:
    """Passing and failing checks write measured/threshold/comparison/unit/samples/verdict, with no warning."""
    # In-process runs warn that pytest_athalia is already imported (so not rewritten); that one is expected.
    project.ini(
        f"junit_family = {family}",
        "filterwarnings =",
        "    error",
        "    ignore:Module already imported:pytest.PytestAssertRewriteWarning",
    )
    project.pytester.makepyfile(test_gates=GATES)
    result = project.pytester.runpytest("--junitxml=junit.xml", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, errors=0, warnings=0)
    cases = project.junit()
    assert properties(cases["test_fast"]) == {
        "athalia.latency.measured": "120",
        "athalia.latency.threshold": "250",
        "athalia.latency.comparison": "<=",
        "athalia.latency.unit": "ms",
        "athalia.latency.samples": "50",
        "athalia.latency.window": "30s",
        "athalia.latency.verdict": "pass",
    }
    assert properties(cases["test_slow"]) == {
        "athalia.startup.measured": "7.5",
        "athalia.startup.threshold": "5",
        "athalia.startup.comparison": "<=",
        "athalia.startup.unit": "s",
        "athalia.startup.samples": "1",
        "athalia.startup.verdict": "fail",
    }


def test_breached_gate_is_a_call_phase_failure_with_measured_threshold_and_unit(project: Project) -> None:
    """A breach fails the test in its call phase (a failure, not an error) saying measured, threshold and unit."""
    project.pytester.makepyfile(test_gates=GATES)
    recorder = project.pytester.inline_run("--junitxml=junit.xml", "-p", "no:cacheprovider")
    failed = [r for r in recorder.getreports("pytest_runtest_logreport") if r.failed]
    assert [(r.nodeid, r.when) for r in failed] == [("test_gates.py::test_slow", "call")]
    assert str(failed[0].longrepr) == "startup: measured 7.50 s, threshold <= 5 s (1 sample): fail"
    case = project.junit()["test_slow"]
    assert case.find("error") is None
    failure = case.find("failure")
    assert failure is not None
    assert "startup: measured 7.50 s, threshold <= 5 s (1 sample): fail" in failure.get("message", "")


def test_missing_measurement_fails_closed_with_the_reason(project: Project) -> None:
    """Nothing measured is a failure, recorded with an empty measured value and the reason."""
    project.pytester.makepyfile(
        "def test_nothing(athalia_gate):\n    athalia_gate.check('p95', None, limit=250, unit='ms', samples=0)\n"
    )
    result = project.pytester.runpytest("--junitxml=junit.xml", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    props = properties(project.junit()["test_nothing"])
    assert props["athalia.p95.measured"] == ""
    assert props["athalia.p95.verdict"] == "fail"
    assert props["athalia.p95.reason"] == "no value was measured"
