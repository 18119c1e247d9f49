"""The terminal summary section "athalia gates" lists every verdict and a count."""

from __future__ import annotations

from .helpers import Project
from .helpers import project_fixture as project_fixture  # the `project` fixture

GATES = """
def test_fast(athalia_gate):
    athalia_gate.check("latency", 120.0, limit=250, unit="ms", samples=50)
    athalia_gate.record("build", 12.5, "s")

def test_slow(athalia_gate):
    athalia_gate.check("startup", 7.5, limit=5, unit="s", samples=1)

def test_thin(athalia_gate):
    athalia_gate.check("ratio", 1.0, limit=0.99, unit="ratio", samples=3, at_most=False, min_samples=10)
"""


def test_summary_lists_each_verdict_and_counts_them(project: Project) -> None:
    """Each gate gets a PASS/FAIL line with measured, threshold, unit and samples, then the totals and the file."""
    project.pytester.makepyfile(test_gates=GATES)
    result = project.pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*= athalia gates =*",
            "PASS  latency: measured 120 ms, threshold <= 250 ms, 50 sample(s)",
            "FAIL  startup: measured 7.5 s, threshold <= 5 s, 1 sample(s)",
            "FAIL  ratio: measured 1 ratio, threshold >= 0.99 ratio, 3 sample(s)",
            f"3 checks: 1 passed, 2 failed, 0 inconclusive; report {project.path / 'reports' / 'athalia.json'}",
        ]
    )
    result.stdout.no_fnmatch_line("* build:*")  # a recorded value is not a gate


def test_no_summary_without_gates(project: Project) -> None:
    """A run that judged nothing prints no athalia gates section."""
    project.pytester.makepyfile("def test_plain(): pass")
    result = project.pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*athalia gates*")


STOPPED = """
from pytest_athalia import Measurement, Outcome, Threshold, Verdict, Comparison

def test_stopped(athalia_gate):
    deploy = Verdict(Measurement("deploy", None, "s", 0), Threshold(60, Comparison.AT_MOST, "s"), Outcome.FAIL,
                     "compose said: no such image")
    later = Verdict(Measurement("switch_ms", None, "ms", 0), Threshold(1000, Comparison.AT_MOST, "ms"),
                    Outcome.NOT_MEASURED, "not reached: the release stopped at the deploy check")
    athalia_gate.apply_all([deploy, later])
"""


def test_nothing_measured_says_why_in_words(project: Project) -> None:
    """A check with no value shows its reason (never "measured nothing s"); a not-measured one is counted apart."""
    project.pytester.makepyfile(test_stopped=STOPPED)
    result = project.pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*= athalia gates =*",
            "FAIL  deploy: nothing measured, threshold <= 60 s: compose said: no such image",
            "NOT MEASURED switch_ms: nothing measured, threshold <= 1000 ms: not reached: the release stopped at the "
            "deploy check",
            "2 checks: 0 passed, 1 failed, 0 inconclusive, 1 not measured; report *",
        ]
    )
    result.stdout.fnmatch_lines(["*1 of 2 checks did not pass:", "deploy: measured nothing*"])
    result.stdout.no_fnmatch_line("*measured nothing s*")
    result.stdout.no_fnmatch_line("switch_ms: measured nothing*")
