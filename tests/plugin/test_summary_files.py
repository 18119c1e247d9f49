"""At the end of a run the controller writes reports/athalia.prom beside the JSON report and appends the gate
summary to $GITHUB_STEP_SUMMARY: also when the run fails or is interrupted, and under xdist."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_athalia.report._artifact import SCHEMA, ReportBook

from .helpers import Project
from .helpers import project_fixture as project_fixture  # the `project` fixture

GATES = """
import pytest

def test_fast(athalia_gate):
    athalia_gate.check("latency", 120.0, limit=250, unit="ms", samples=50)

def test_slow(athalia_gate):
    athalia_gate.check("startup", 7.5, limit=5, unit="s", samples=1)
"""


@pytest.fixture
def step_summary(project: Project, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = project.path / "github-step-summary.md"
    path.write_text("# before\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    return path


@pytest.mark.parametrize("workers", [None, "2"], ids=["serial", "xdist"])
def test_a_failed_run_writes_the_prom_file_and_the_step_summary(
    project: Project, step_summary: Path, workers: str | None
) -> None:
    """A run with a breached gate writes athalia.prom beside athalia.json and appends the Markdown once."""
    project.pytester.makepyfile(test_gates=GATES)
    args = ["-p", "no:cacheprovider", *(["-n", workers] if workers else [])]
    project.pytester.runpytest(*args).assert_outcomes(passed=1, failed=1)
    prom = (project.path / "reports" / "athalia.prom").read_text(encoding="utf-8")
    assert 'athalia_run_status{environment="dev",status="failed"} 1' in prom
    text = step_summary.read_text(encoding="utf-8")
    assert text.startswith("# before\n## athalia: dev, failed\n")
    assert text.count("## athalia:") == 1


def test_an_interrupted_run_still_writes_them(project: Project, step_summary: Path) -> None:
    """Ctrl-C in a test: the session ends, and the .prom file and the summary are written all the same."""
    project.pytester.makepyfile("def test_stop(athalia_stack):\n    raise KeyboardInterrupt\n")
    result = project.pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert (project.path / "reports" / "athalia.prom").is_file()
    assert "## athalia: dev, interrupted" in step_summary.read_text(encoding="utf-8")


def test_a_run_without_athalia_writes_neither(project: Project, step_summary: Path) -> None:
    """A quiet guest: no gate, no fixture, no report option: no .prom file and nothing appended."""
    project.pytester.makepyfile("def test_plain():\n    pass\n")
    project.pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert not (project.path / "reports").exists()
    assert step_summary.read_text(encoding="utf-8") == "# before\n"


def test_the_real_report_and_the_prom_file_show_the_same_figures(project: Project, step_summary: Path) -> None:
    """End to end with the book's own report: each gate's measured value is in the JSON, the .prom and the summary."""
    assert ReportBook().as_json()["schema"] == SCHEMA
    project.pytester.makepyfile(test_gates=GATES)
    project.pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1, failed=1)
    report = project.report()
    prom = (project.path / "reports" / "athalia.prom").read_text(encoding="utf-8")
    markdown = step_summary.read_text(encoding="utf-8")
    for test in report["tests"]:
        for check in test["checks"]:
            assert f'check="{check["name"]}"' in prom
            assert f"`{check['name']}`" in markdown
    assert 'athalia_check_measured{environment="dev",test="test_gates.py::test_slow",check="startup"' in prom
    assert "❌ **fail** | `startup`" in markdown
