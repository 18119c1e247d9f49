"""The JSON artifact: written with every verdict on pass, failure, interrupt and SIGTERM, and under xdist."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from .helpers import Project, output
from .helpers import project_fixture as project_fixture  # the `project` fixture

PASSING = """
def test_fast(athalia_gate):
    athalia_gate.check("latency", 120.0, limit=250, unit="ms", samples=50, window="30s")
"""

FAILING = """
def test_slow(athalia_gate):
    athalia_gate.check("startup", 7.5, limit=5, unit="s", samples=1)
"""

INTERRUPTED = """
def test_first(athalia_gate):
    athalia_gate.check("latency", 120.0, limit=250, unit="ms", samples=50)

def test_interrupted(athalia_stack):
    raise KeyboardInterrupt
"""


def test_passing_run_writes_the_report_where_asked(project: Project) -> None:
    """--athalia-report PATH gets the run, the summary and each check with its pass verdict."""
    project.pytester.makepyfile(test_gates=PASSING)
    project.pytester.runpytest("--athalia-report", "out/run.json").assert_outcomes(passed=1)
    assert not (project.path / "reports").exists()
    report = project.report("out/run.json")  # validated against the schema
    assert report["schema"] == "pytest-athalia/report/2"
    run = report["run"]
    assert (run["environment"], run["exit_status"], run["status"]) == ("dev", 0, "passed")
    assert run["environment_file"] == "environments/dev.yml"  # from the rootdir: the same on every checkout
    assert run["candidate"] == {"version": None, "image": None, "previous": None}  # no rollout in this environment
    assert run["started_at"] <= run["finished_at"]
    assert run["duration_s"] >= 0
    assert report["summary"] == {
        "tests": 1,
        "skipped": 0,
        "checks": 1,
        "passed": 1,
        "failed": 0,
        "inconclusive": 0,
        "not_measured": 0,
    }
    (test,) = report["tests"]
    assert test["duration_s"] >= 0
    assert {k: v for k, v in test.items() if k != "duration_s"} == {
        "nodeid": "test_gates.py::test_fast",
        "outcome": "passed",
        "reason": None,
        "checks": [
            {
                "name": "latency",
                "subject": None,
                "measured": 120,
                "unit": "ms",
                "samples": 50,
                "threshold": 250,
                "comparison": "<=",
                "window": "30s",
                "verdict": "pass",
                "reason": None,
            }
        ],
    }
    assert (report["series"], report["timeline"]) == ([], [])


def test_failing_run_writes_the_default_report_with_the_failed_verdict(project: Project) -> None:
    """Without --athalia-report the artifact is reports/athalia.json under the rootdir, failures included."""
    project.pytester.makepyfile(test_gates=FAILING)
    project.pytester.runpytest().assert_outcomes(failed=1)
    report = project.report()
    assert (report["run"]["exit_status"], report["run"]["status"]) == (1, "failed")
    assert report["summary"]["failed"] == 1
    (test,) = report["tests"]
    assert (test["outcome"], test["reason"]) == (
        "failed",
        "startup: measured 7.50 s, threshold <= 5 s (1 sample): fail",
    )
    assert (test["checks"][0]["name"], test["checks"][0]["verdict"]) == ("startup", "fail")
    assert test["checks"][0]["measured"] == 7.5


def test_keyboard_interrupt_still_writes_the_report_and_stops_the_stack(project: Project) -> None:
    """A run interrupted by KeyboardInterrupt keeps the verdicts measured so far and removes the stack."""
    project.pytester.makepyfile(test_gates=INTERRUPTED)
    result = project.pytester.runpytest(no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    report = project.report()
    assert (report["run"]["exit_status"], report["run"]["status"]) == (2, "interrupted")
    assert report["tests"][0]["nodeid"] == "test_gates.py::test_first"
    assert project.checks()["latency"]["verdict"] == "pass"
    assert len(project.stopped()) == 1


def test_interrupted_test_is_not_reported_as_passed(project: Project) -> None:
    """A test whose call phase never finished is not 'passed' in the artifact (fail closed)."""
    project.pytester.makepyfile(test_gates=INTERRUPTED)
    project.pytester.runpytest(no_reraise_ctrlc=True)
    outcomes = {test["nodeid"]: test["outcome"] for test in project.report()["tests"]}
    assert outcomes.get("test_gates.py::test_interrupted") != "passed"


def test_sigterm_interrupts_the_run_and_still_writes_reports_and_stops_the_stack(project: Project) -> None:
    """SIGTERM while a test sleeps becomes an interrupt: JSON and JUnit XML are written, the stack is stopped."""
    project.pytester.makepyfile(
        test_gates=PASSING
        + """
import pathlib, time

def test_sleeps(athalia_stack):
    pathlib.Path("sleeping").touch()
    time.sleep(60)
"""
    )
    proc = project.pytester.popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--junitxml=junit.xml"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (project.path / "sleeping").exists():
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the test never started sleeping"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert b"KeyboardInterrupt: SIGTERM" in out
    assert project.report()["run"]["status"] == "interrupted"
    assert project.checks()["latency"]["verdict"] == "pass"
    assert "test_fast" in project.junit()
    assert len(project.stopped()) == 1


def test_xdist_controller_report_holds_the_verdicts_of_both_workers(project: Project) -> None:
    """Under -n 2 the controller's JSON has the checks measured on gw0 and on gw1."""
    project.pytester.makepyfile(
        test_gates="""
import os
import pytest

@pytest.mark.xdist_group("one")
def test_one(athalia_gate):
    athalia_gate.check("on_" + os.environ["PYTEST_XDIST_WORKER"], 1.0, limit=2, unit="s", samples=1)

@pytest.mark.xdist_group("two")
def test_two(athalia_gate):
    athalia_gate.check("on_" + os.environ["PYTEST_XDIST_WORKER"], 3.0, limit=2, unit="s", samples=1)
"""
    )
    result = project.pytester.runpytest_subprocess("-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    report = project.report()
    assert report["summary"] == {
        "tests": 2,
        "skipped": 0,
        "checks": 2,
        "passed": 1,
        "failed": 1,
        "inconclusive": 0,
        "not_measured": 0,
    }
    checks = project.checks()
    assert set(checks) == {"on_gw0", "on_gw1"}, output(result)
    assert sorted(fields["verdict"] for fields in checks.values()) == ["fail", "pass"]
