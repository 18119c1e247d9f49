"""The gate summary renderers over a v2 report: Markdown for $GITHUB_STEP_SUMMARY, and the Prometheus text
format, read back by a real parser (prometheus_client's, and promtool's where it is installed)."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pytest_athalia.report._summary import markdown_summary, prometheus_path, prometheus_text, write_summaries
from pytest_athalia.testing import unavailable
from tests.support.report_v2 import EMPTY, REPORT, report


def parse(text: str) -> dict[str, Any]:
    """The metric families of an exposition, by name, from prometheus_client's text parser."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        unavailable("prometheus_client is not installed (pip install -e '.[dev]')")
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in parse(text)[name].samples}


def check_labels(test: str, check: str, unit: str, subject: str = "", **more: str) -> tuple[tuple[str, str], ...]:
    labels = {"environment": "staging", "test": test, "check": check, "subject": subject, "unit": unit, **more}
    return tuple(sorted(labels.items()))


BLUE_GREEN = "suites/deployment/test_release.py::test_blue_green"
LOAD = 'suites/deployment/test_load.py::test_load[a "quoted" | piped\\path]'


# -- Prometheus ----------------------------------------------------------------------------------------------


def test_prometheus_text_parses_and_holds_every_figure_of_the_report() -> None:
    """Each check's measured value, threshold, pass flag and samples come back through a real parser."""
    text = prometheus_text(REPORT)
    measured = samples(text, "athalia_check_measured")
    assert measured[check_labels(BLUE_GREEN, "switch_ms", "ms")] == 1400
    assert measured[check_labels(LOAD, "load_ok_ratio", "ratio")] == 0.9975
    trivy = "suites/security/test_images.py::test_image[athalia-demo-app:1.1.0-secret]"
    assert measured[check_labels(trivy, "trivy-secret", "findings", subject="athalia-demo-app:1.1.0")] == 0
    assert check_labels(BLUE_GREEN, "rollback_ms", "ms") not in measured  # nothing measured: no sample, not 0
    threshold = samples(text, "athalia_check_threshold")
    assert threshold[check_labels(BLUE_GREEN, "switch_ms", "ms", comparison="<=")] == 1000
    assert threshold[check_labels(LOAD, "load_ok_ratio", "ratio", comparison=">=")] == 0.99
    passed = samples(text, "athalia_check_passed")
    assert passed[check_labels(BLUE_GREEN, "deploy", "s")] == 1
    assert passed[check_labels(BLUE_GREEN, "switch_ms", "ms")] == 0
    assert passed[check_labels(LOAD, "load_ok_ratio", "ratio")] == 0  # inconclusive never passes
    assert passed[check_labels(BLUE_GREEN, "rollback_ms", "ms")] == 0
    stack = "suites/ci/test_stack.py::test_stack_starts_within_startup_slo"
    assert check_labels(stack, "build", "s") not in passed  # a recorded value has no verdict
    assert samples(text, "athalia_check_samples")[check_labels(BLUE_GREEN, "switch_ms", "ms")] == 507
    gated = [c for t in REPORT["tests"] for c in t["checks"] if c["verdict"] is not None]
    assert len(passed) == len(gated)


def test_prometheus_text_has_the_run_identity_status_and_totals() -> None:
    """Run status (one state at 1), exit status, duration, end time, totals and an info series."""
    text = prometheus_text(REPORT)
    status = {dict(k)["status"]: v for k, v in samples(text, "athalia_run_status").items()}
    assert status == {"passed": 0, "failed": 1, "interrupted": 0, "error": 0}
    assert list(samples(text, "athalia_run_duration_seconds").values()) == [230.3]
    assert list(samples(text, "athalia_run_timestamp_seconds").values()) == [pytest.approx(1796451302.456)]
    assert list(samples(text, "athalia_run_exit_status").values()) == [1]
    checks = {dict(k)["verdict"]: v for k, v in samples(text, "athalia_run_checks").items()}
    assert checks == {"all": 6, "passed": 3, "failed": 1, "inconclusive": 1, "not_measured": 1}
    (info,) = samples(text, "athalia_run_info")
    assert dict(info)["version"] == "1.1.0"
    assert dict(info)["commit"] == REPORT["run"]["git"]["commit"]
    assert dict(info)["ci_job"] == "deploy/staging"


def test_label_values_with_quotes_backslashes_and_newlines_survive_the_parser() -> None:
    """Label escaping per the text format: a nodeid with \" \\ and a newline reads back unchanged."""
    nasty = 'suites/x.py::test_x["a\\b"\nc]'
    data = report(tests=[{**REPORT["tests"][1], "nodeid": nasty}])
    tests = {dict(k)["test"] for k in samples(prometheus_text(data), "athalia_check_measured")}
    assert tests == {nasty}


def test_help_and_type_once_per_metric_in_a_stable_order() -> None:
    """Each metric has one HELP and one TYPE line before its samples; the text is the same for any test order."""
    text = prometheus_text(REPORT)
    lines = text.splitlines()
    names = [line.split()[2] for line in lines if line.startswith("# TYPE ")]
    assert len(names) == len(set(names))
    assert [line.split()[2] for line in lines if line.startswith("# HELP ")] == names
    assert all(line.endswith(" gauge") for line in lines if line.startswith("# TYPE "))
    shuffled = copy.deepcopy(REPORT)
    shuffled["tests"].reverse()
    for test in shuffled["tests"]:
        test["checks"].reverse()
    assert prometheus_text(shuffled) == text
    assert text.endswith("\n")


def test_an_empty_run_still_reports_its_status() -> None:
    """A run with no environment and no checks exposes its status and no check metric."""
    families = parse(prometheus_text(EMPTY))
    assert "athalia_check_measured" not in families
    assert {s.labels["status"]: s.value for s in families["athalia_run_status"].samples}["interrupted"] == 1


def test_promtool_accepts_the_text() -> None:
    """`promtool check metrics` (Debian's prometheus package) finds no problem: lint rules included."""
    promtool = shutil.which("promtool")
    if promtool is None:
        unavailable("promtool is not installed (Debian: apt-get install prometheus; .ci/run installs it)")
    proc = subprocess.run([promtool, "check", "metrics"], input=prometheus_text(REPORT), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- Markdown ------------------------------------------------------------------------------------------------


def _table(text: str) -> list[list[str]]:
    """The gate table's rows, split on unescaped pipes."""
    import re

    start = text.index("| verdict |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def test_markdown_has_the_run_identity_and_totals() -> None:
    """Environment and status in the title; candidate, commit, CI job link and totals below it."""
    text = markdown_summary(REPORT)
    assert text.startswith("## athalia: staging, failed\n")
    assert "candidate 1.1.0 `athalia-demo-app:1.1.0` (previous 1.0.0)" in text
    assert "commit `08a51f1c0ffe` on `main`" in text
    assert "[deploy/staging](https://github.com/o/r/actions/runs/1)" in text
    assert "**5 tests** (1 skipped) · **6 checks**: 3 passed, 1 failed, 1 inconclusive, 1 not measured" in text


def test_markdown_gate_table_lists_every_gate_failures_first() -> None:
    """One row per gated check with verdict, check, subject, measured, threshold and samples; breaches on top."""
    rows = _table(markdown_summary(REPORT))
    assert [row[1] for row in rows] == [
        "`switch_ms`",
        "`load_ok_ratio`",
        "`rollback_ms`",
        "`startup`",
        "`deploy`",
        "`trivy-secret`",
    ]
    assert all(len(row) == 7 for row in rows)  # a pipe in a nodeid is escaped, not a new column
    switch = rows[0]
    assert switch[0] == "❌ **fail**"
    assert switch[3].startswith("1400 ms")
    assert switch[4:6] == ["<= 1000 ms", "507"]
    assert rows[2][3].startswith("nothing measured (not reached")
    assert rows[5][2] == "athalia-demo-app:1.1.0"
    assert "too few samples: 3 < 10 required second line" in rows[1][3]  # one line per row


def test_markdown_lists_recorded_values_apart_and_says_when_nothing_was_judged() -> None:
    """Recorded values get their own table; a run without gates says so."""
    assert "| `build` |  | 12.5 s | 1 |" in markdown_summary(REPORT)
    empty = markdown_summary(EMPTY)
    assert empty.startswith("## athalia: no environment, interrupted")
    assert "No gate was judged in this run." in empty


# -- writing -------------------------------------------------------------------------------------------------


def test_write_summaries_writes_the_prom_file_and_appends_to_the_step_summary(tmp_path: Path) -> None:
    """athalia.prom goes beside the JSON report; the Markdown is appended, keeping what the job wrote before."""
    step = tmp_path / "step_summary.md"
    step.write_text("earlier step output\n", encoding="utf-8")
    report_path = tmp_path / "reports" / "athalia.json"
    assert write_summaries(REPORT, report_path, {"GITHUB_STEP_SUMMARY": str(step)}) == []
    assert prometheus_path(report_path) == tmp_path / "reports" / "athalia.prom"
    assert (tmp_path / "reports" / "athalia.prom").read_text(encoding="utf-8") == prometheus_text(REPORT)
    assert step.read_text(encoding="utf-8") == "earlier step output\n" + markdown_summary(REPORT) + "\n"


def test_write_summaries_reports_an_unwritable_step_summary_and_still_writes_the_prom_file(tmp_path: Path) -> None:
    """A step summary that cannot be written is one line naming it; the .prom file is written all the same."""
    missing = tmp_path / "no-such-folder" / "summary.md"
    problems = write_summaries(REPORT, tmp_path / "athalia.json", {"GITHUB_STEP_SUMMARY": str(missing)})
    assert len(problems) == 1
    assert "$GITHUB_STEP_SUMMARY" in problems[0]
    assert str(missing) in problems[0]
    assert (tmp_path / "athalia.prom").is_file()


def test_write_summaries_ignores_a_report_of_another_schema(tmp_path: Path) -> None:
    """A report that is not schema 2 writes nothing (the renderers read that schema only)."""
    assert write_summaries({"schema": "pytest-athalia/report/1"}, tmp_path / "athalia.json", {}) == []
    assert list(tmp_path.iterdir()) == []
