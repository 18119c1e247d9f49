"""The JSON report v2 through real pytest runs: identity, skips with their reason, errors, subjects, series and
timelines (under pytest-xdist too), and the terminal table showing the report's own figures.

Every report read through ``project.report()`` is validated against the schema the package ships.
"""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pytest_athalia._cli import main as cli_main
from pytest_athalia.report._slo import figure

from .helpers import ENVIRONMENT_YML, Project, output
from .helpers import project_fixture as project_fixture  # the `project` fixture

MIXED = """
import pytest

def test_skipped():
    pytest.skip("no complaints desk in this environment")

@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")

def test_error(broken):
    pass

@pytest.mark.xfail(reason="known slow", strict=True)
def test_xfail():
    assert False

def test_gate(athalia_gate):
    athalia_gate.check("latency", 120.25, limit=250, unit="ms", samples=50, window="30s")
"""

SUBJECTS = """
def test_two_images(athalia_gate):
    athalia_gate.check("trivy-vuln", 0, limit=0, unit="findings", samples=12, subject="app:1.0.0")
    athalia_gate.check("trivy-vuln", 0, limit=0, unit="findings", samples=14, subject="app:1.1.0")
    athalia_gate.record("build", 3.25, "s", subject="app")
"""

RECORDS = """
import os
import pytest
from pytest_athalia import TimelineEvent

@pytest.mark.xdist_group("one")
def test_load(athalia_gate):
    rows = [(t, 10, 100.0 + t, 0.0, None) for t in range(1, 4001)]
    athalia_gate.series("load", ["t_s", "users", "rps", "failures_per_s", "p95_ms"], rows)
    athalia_gate.check("load_p95", 3.0, limit=300, unit="ms", samples=4000)

@pytest.mark.xdist_group("two")
def test_release(athalia_gate):
    athalia_gate.timeline([TimelineEvent(8.4, "switch", "blue -> green"), TimelineEvent(0.0, "deploy", "green 1.1.0")])
    athalia_gate.check("switch_ms", 1.4, limit=1000, unit="ms", samples=507, window="switch")
"""


def test_skips_keep_their_reason_errors_and_xfails_are_told_apart(project: Project) -> None:
    """A skip keeps its reason, a broken fixture is an error with its message, an xfail is skipped with its reason."""
    project.pytester.makepyfile(test_mixed=MIXED)
    project.pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1, skipped=1, errors=1, xfailed=1)
    report = project.report()
    tests = {t["nodeid"].partition("::")[2]: t for t in report["tests"]}
    assert (tests["test_skipped"]["outcome"], tests["test_skipped"]["reason"]) == (
        "skipped",
        "no complaints desk in this environment",
    )
    assert tests["test_error"]["outcome"] == "error"
    assert tests["test_error"]["reason"] == "RuntimeError: fixture broke"
    assert (tests["test_xfail"]["outcome"], tests["test_xfail"]["reason"]) == ("skipped", "xfail: known slow")
    assert tests["test_gate"]["reason"] is None
    assert all(isinstance(t["duration_s"], float) for t in tests.values())
    assert report["summary"] == {
        "tests": 4,
        "skipped": 2,
        "checks": 1,
        "passed": 1,
        "failed": 0,
        "inconclusive": 0,
        "not_measured": 0,
    }
    assert (report["run"]["exit_status"], report["run"]["status"]) == (1, "failed")


def test_one_name_two_subjects_are_two_checks_with_unique_property_names(project: Project) -> None:
    """`athalia.<name>[<subject>].<field>`: one test holds trivy-vuln for two images, in JUnit and JSON alike."""
    project.pytester.makepyfile(test_subjects=SUBJECTS)
    project.pytester.runpytest("--junitxml=junit.xml", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    props = project.measured()["test_two_images"]
    assert props["athalia.trivy-vuln[app:1.0.0].samples"] == "12"
    assert props["athalia.trivy-vuln[app:1.1.0].samples"] == "14"
    assert props["athalia.build[app].measured"] == "3.25"
    checks = project.report()["tests"][0]["checks"]
    assert [(c["name"], c["subject"], c["samples"], c["verdict"]) for c in checks] == [
        ("trivy-vuln", "app:1.0.0", 12, "pass"),
        ("trivy-vuln", "app:1.1.0", 14, "pass"),
        ("build", "app", 1, None),
    ]


def test_series_and_timeline_reach_the_controller_under_xdist(project: Project) -> None:
    """Recorded on gw0 and gw1, the series (capped at 3600 rows) and the timeline are in the controller's report."""
    project.pytester.makepyfile(test_records=RECORDS)
    result = project.pytester.runpytest_subprocess("-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    report = project.report()
    (series,) = report["series"]
    assert (series["name"], series["test"]) == ("load", "test_records.py::test_load")
    assert series["columns"] == ["t_s", "users", "rps", "failures_per_s", "p95_ms"]
    assert len(series["rows"]) == 3600, output(result)
    assert series["rows"][0] == [1, 10, 101.0, 0.0, None]
    assert series["rows"][-1][0] == 4000
    assert [(e["t_s"], e["event"], e["test"]) for e in report["timeline"]] == [
        (0.0, "deploy", "test_records.py::test_release"),
        (8.4, "switch", "test_records.py::test_release"),
    ]
    assert report["summary"]["checks"] == 2


def test_the_terminal_the_json_the_prom_file_the_summary_and_the_dashboard_show_the_same_figures(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each gate's measured value and threshold: the JSON's number, shown alike in every human view."""
    summary = project.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    project.pytester.makepyfile(
        test_figures="""
def test_figures(athalia_gate):
    athalia_gate.check("ratio", 0.123456789, limit=0.05, unit="", samples=3, at_most=False)
    athalia_gate.check("big", 1234567.891, limit=2e6, unit="requests", samples=1)
    athalia_gate.check("switch_ms", 1.40123, limit=100, unit="ms", samples=507)
"""
    )
    result = project.pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    checks = project.checks()
    shown = result.stdout.str().partition("athalia gates")[2]
    markdown = summary.read_text(encoding="utf-8")
    prom = {
        (sample.name, sample.labels["check"]): sample.value
        for family in text_string_to_metric_families((project.path / "reports" / "athalia.prom").read_text())
        for sample in family.samples
        if "check" in sample.labels
    }
    page = project.path / "dashboard.html"
    assert cli_main(["report", "--report", str(project.path / "reports" / "athalia.json"), "--output", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    for name, check in checks.items():
        measured, threshold, unit = figure(check["measured"]), figure(check["threshold"]), check["unit"] or ""
        assert f"PASS  {name}: measured {measured} " in shown, (name, check, shown)
        assert f"threshold {check['comparison']} {threshold} " in shown
        assert f"| {measured} {unit}".rstrip() + " |" in markdown, (name, markdown)
        assert f">{measured} {unit}".rstrip() + "<" in html, name
        assert prom["athalia_check_measured", name] == check["measured"]
        assert prom["athalia_check_threshold", name] == check["threshold"]
    # Six significant digits everywhere: what JUnit and the JSON keep.
    assert "measured 0.123457 " in shown
    assert "measured 1234570 requests" in shown
    assert "measured 1.40123 ms" in shown


def test_run_identity_comes_from_github_actions_and_the_rollout_candidate(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under GitHub Actions the run names commit, branch, job and URL; the candidate comes from rollout.candidate."""
    for name, value in {
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKFLOW": "deploy",
        "GITHUB_JOB": "staging",
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "42",
        "GITHUB_SHA": "08a51f1",
        "GITHUB_REF_NAME": "main",
        "ATHALIA_CANDIDATE_IMAGE": "registry.example/app:1.2.0",
    }.items():
        monkeypatch.setenv(name, value)
    project.environment(
        "dev",
        ENVIRONMENT_YML.replace(
            "  version_path: /version\n", "  version_path: /version\n  env: {APP_VERSION: '1.0.0'}\n"
        )
        + "rollout:\n  enabled: true\n  candidate: {env: {APP_VERSION: '1.1.0'}}\n",
    )
    project.pytester.makepyfile(
        test_gates="def test_g(athalia_gate):\n    athalia_gate.check('x', 1, limit=2, unit='s', samples=1)\n"
    )
    project.pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    run = project.report()["run"]
    assert run["git"] == {"commit": "08a51f1", "branch": "main"}
    assert run["ci"] == {
        "provider": "github-actions",
        "job": "deploy/staging",
        "url": "https://github.example/o/r/actions/runs/42",
    }
    assert run["candidate"] == {"version": "1.1.0", "image": "registry.example/app:1.2.0", "previous": "1.0.0"}
    assert run["environment"] == "dev"
