"""Failed tests that use the stack carry the tail of its logs as the report section "athalia: service logs"."""

from __future__ import annotations

import pytest

from .helpers import Project
from .helpers import project_fixture as project_fixture  # the `project` fixture

SECTION = "athalia: service logs"
LOGS = "\n".join(f"app | line-{n:02d}" for n in range(1, 11))

TESTS = """
def test_passes(athalia_stack):
    pass

def test_fails(athalia_stack):
    assert False, "boom"

def test_fails_without_the_stack():
    assert False, "no stack here"
"""


def _sections(recorder: pytest.HookRecorder) -> dict[tuple[str, str], str]:
    """The log section's body per (test name, phase), for the reports that carry one."""
    return {
        (report.nodeid.split("::")[1], report.when): dict(report.sections)[SECTION]
        for report in recorder.getreports("pytest_runtest_logreport")
        if SECTION in dict(report.sections)
    }


def test_failed_stack_test_carries_the_log_tail_limited_by_log_lines(project: Project) -> None:
    """Only the failing test that uses the stack gets the section, with the last --athalia-log-lines lines."""
    project.fake(logs=LOGS)
    project.pytester.makepyfile(TESTS)
    recorder = project.pytester.inline_run("--athalia-log-lines", "3")
    recorder.assertoutcome(passed=1, failed=2)
    assert _sections(recorder) == {("test_fails", "call"): "app | line-08\napp | line-09\napp | line-10"}


def test_log_section_is_shown_in_the_failure_report(project: Project) -> None:
    """The terminal shows the section under the failure, with the default tail (50 lines: all 10 here)."""
    project.fake(logs=LOGS)
    project.pytester.makepyfile(TESTS)
    result = project.pytester.runpytest()
    result.stdout.fnmatch_lines(["*_ test_fails _*", "*- athalia: service logs -*", "app | line-01", "app | line-10"])


def test_stack_that_did_not_start_attaches_its_logs_to_the_setup_error(project: Project) -> None:
    """When the stack did not start, the setup error of a test that needs it carries the log tail."""
    project.fake(logs=LOGS, error="compose up failed")
    project.pytester.makepyfile("def test_needs_stack(athalia_stack):\n    pass\n")
    recorder = project.pytester.inline_run("--athalia-log-lines", "1")
    assert _sections(recorder) == {("test_needs_stack", "setup"): "app | line-10"}


def test_log_lines_zero_attaches_no_section(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """ATHALIA_LOG_LINES=0 turns the section off."""
    monkeypatch.setenv("ATHALIA_LOG_LINES", "0")
    project.fake(logs=LOGS)
    project.pytester.makepyfile(TESTS)
    recorder = project.pytester.inline_run()
    recorder.assertoutcome(passed=1, failed=2)
    assert _sections(recorder) == {}
