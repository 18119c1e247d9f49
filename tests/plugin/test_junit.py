"""Gate verdicts in the JUnit XML: a file valid for its junit_family, the measured values readable in each,
and a breach failing the call phase."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pytest_athalia.report._junit import HEADER
from tests.support.junit import schema_errors

from .helpers import Project, properties
from .helpers import project_fixture as project_fixture  # the `project` fixture

GATES = """
import pytest

def test_fast(athalia_gate):
    athalia_gate.check("latency", 120.0, limit=250, unit="ms", samples=50, window="30s")

def test_slow(athalia_gate):
    athalia_gate.check("startup", 7.5, limit=5, unit="s", samples=1)

def test_skipped(athalia_gate):
    athalia_gate.record("build", 12.5, "s")
    pytest.skip("no registry to push to")

def test_plain():
    pass
"""

FAST = {
    "athalia.latency.measured": "120",
    "athalia.latency.threshold": "250",
    "athalia.latency.comparison": "<=",
    "athalia.latency.unit": "ms",
    "athalia.latency.samples": "50",
    "athalia.latency.window": "30s",
    "athalia.latency.verdict": "pass",
}
SLOW = {
    "athalia.startup.measured": "7.5",
    "athalia.startup.threshold": "5",
    "athalia.startup.comparison": "<=",
    "athalia.startup.unit": "s",
    "athalia.startup.samples": "1",
    "athalia.startup.verdict": "fail",
}
SKIPPED = {"athalia.build.measured": "12.5", "athalia.build.unit": "s", "athalia.build.samples": "1"}


def _run(project: Project, family: str, *args: str) -> pytest.RunResult:
    # In-process runs warn that pytest_athalia is already imported (so not rewritten); that one is expected.
    project.ini(
        f"junit_family = {family}",
        "filterwarnings =",
        "    error",
        "    ignore:Module already imported:pytest.PytestAssertRewriteWarning",
    )
    project.pytester.makepyfile(test_gates=GATES)
    result = project.pytester.runpytest("--junitxml=junit.xml", "-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=2, failed=1, skipped=1, errors=0, warnings=0)
    return result


@pytest.mark.parametrize("family", ["xunit2", "xunit1", "legacy"])
@pytest.mark.parametrize("workers", [None, "2"], ids=["serial", "xdist"])
def test_junit_is_valid_for_its_family_and_keeps_every_measured_value(
    project: Project, family: str, workers: str | None
) -> None:
    """Passing, failing and skipped tests with checks give a file the family's XSD accepts, with every value."""
    if workers:
        # xdist runs the tests in workers; the controller writes the file from their reports.
        _run(project, family, "-n", workers)
    else:
        _run(project, family)
    assert schema_errors(project.path / "junit.xml", family) == []
    measured = project.measured()
    assert measured == {"test_fast": FAST, "test_slow": SLOW, "test_skipped": SKIPPED}


def test_xunit2_moves_the_properties_to_the_testsuite_one_name_per_test(project: Project) -> None:
    """xunit2: no testcase has <properties>; the testsuite's name each value `<classname>.<name>::<property>`."""
    _run(project, "xunit2")
    root = ET.parse(project.path / "junit.xml").getroot()
    assert [case for case in root.iter("testcase") if case.find("properties") is not None] == []
    suite = root.find("testsuite")
    assert suite is not None
    names = [prop.get("name") for prop in suite.iter("property")]
    assert names[:2] == [
        "test_gates.test_fast::athalia.latency.measured",
        "test_gates.test_fast::athalia.latency.threshold",
    ]
    assert "test_gates.test_slow::athalia.startup.verdict" in names
    assert len(names) == len(set(names)) == len(FAST) + len(SLOW) + len(SKIPPED)


@pytest.mark.parametrize("family", ["xunit1", "legacy"])
def test_xunit1_keeps_the_properties_on_the_testcase(project: Project, family: str) -> None:
    """xunit1 and legacy: the properties stay on their testcase, and the testsuite gets none."""
    _run(project, family)
    cases = project.junit()
    assert properties(cases["test_fast"]) == FAST
    assert properties(cases["test_slow"]) == SLOW
    root = ET.parse(project.path / "junit.xml").getroot()
    assert root.find("testsuite/properties") is None


@pytest.mark.parametrize("family", ["xunit2", "xunit1"])
def test_each_test_lists_its_values_in_system_out(project: Project, family: str) -> None:
    """Every test with checks shows them as `name = value` lines in its <system-out> (what GitLab displays)."""
    _run(project, family)
    cases = project.junit()
    out = cases["test_slow"].findtext("system-out") or ""
    assert out.splitlines() == [HEADER, *(f"{name} = {value}" for name, value in SLOW.items())]
    assert "athalia.build.measured = 12.5" in (cases["test_skipped"].findtext("system-out") or "")
    assert cases["test_plain"].find("system-out") is None


def test_captured_output_and_the_values_share_one_system_out(project: Project) -> None:
    """With junit_logging, the values join pytest's captured output (Jenkins reads the first system-out only)."""
    project.pytester.makepyfile(
        'def test_prints(athalia_gate):\n    print("hello")\n    athalia_gate.record("build", 3, "s")\n'
    )
    project.pytester.runpytest("--junitxml=junit.xml", "-o", "junit_logging=all").assert_outcomes(passed=1)
    case = project.junit()["test_prints"]
    outs = case.findall("system-out")
    assert len(outs) == 1
    text = outs[0].text or ""
    assert text.index("hello") < text.index(HEADER) < text.index("athalia.build.measured = 3")
    assert [child.tag for child in case] == ["system-out", "system-err"]
    assert schema_errors(project.path / "junit.xml", "xunit2") == []


def test_other_testcase_properties_stay_where_pytest_put_them(project: Project) -> None:
    """Only athalia.* properties move: a property of the user's stays on its testcase (pytest warns about it)."""
    project.pytester.makepyfile(
        "def test_mixed(request, athalia_gate):\n"
        "    request.node.user_properties.append(('team', 'ops'))\n"
        "    athalia_gate.record('build', 3, 's')\n"
    )
    project.pytester.runpytest("--junitxml=junit.xml").assert_outcomes(passed=1)
    assert properties(project.junit()["test_mixed"]) == {"team": "ops"}
    assert project.measured()["test_mixed"]["athalia.build.measured"] == "3"


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
    props = project.measured()["test_nothing"]
    assert props["athalia.p95.measured"] == ""
    assert props["athalia.p95.verdict"] == "fail"
    assert props["athalia.p95.reason"] == "no value was measured"


def test_a_run_without_checks_leaves_pytests_file_untouched(project: Project) -> None:
    """No athalia property, no rewrite: the file is byte for byte what pytest wrote (a quiet guest)."""
    project.pytester.makepyfile("def test_plain():\n    pass\n")
    project.pytester.runpytest("--junitxml=junit.xml", "--athalia-report=reports/a.json").assert_outcomes(passed=1)
    text = (project.path / "junit.xml").read_text(encoding="utf-8")
    assert HEADER not in text
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?><testsuites')
