"""--athalia-history: each run that writes the JSON report appends it to the history, and nothing else changes.

Two runs in a row make two rows, in the default SQLite file and in a real PostgreSQL database; a
store that cannot be written costs one line and neither the report nor the outcome; a run that uses no
athalia fixture writes no history.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pytest_athalia.history import open_history

from .helpers import Project, output
from .helpers import project_fixture as project_fixture  # the `project` fixture

GATED = """
def test_release(athalia_gate):
    athalia_gate.check("deploy", 3.5, limit=120, unit="s", samples=1)
    athalia_gate.check("switch_ms", 1.25, limit=1000, unit="ms", samples=400, window="switch")
"""

UNRELATED = """
def test_add():
    assert 1 + 1 == 2
"""

NOT_RECORDED = "athalia: history: this run was not recorded in"


def _ids(url: str) -> list[str]:
    with open_history(url, must_exist=True) as store:
        return [r.run_id for r in store.runs()]


def test_two_runs_make_two_rows_in_the_default_sqlite_file(project: Project) -> None:
    """No setting: reports/history.sqlite beside the report, one row per run, the second run after the first."""
    project.pytester.makepyfile(test_gates=GATED)
    first = project.pytester.runpytest()
    first.assert_outcomes(passed=1)
    first_id = project.report()["run"]["id"]
    project.pytester.runpytest().assert_outcomes(passed=1)
    second_id = project.report()["run"]["id"]
    path = project.path / "reports" / "history.sqlite"
    assert _ids(str(path)) == [first_id, second_id]
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT environment, status, deploy_s, switch_ms FROM runs ORDER BY id").fetchall()
    assert rows == [("dev", "passed", 3.5, 1.25)] * 2
    assert f"athalia: history: run recorded in {path}" in first.stdout.str()


def test_two_runs_make_two_rows_in_postgresql(project: Project, postgres_url: str) -> None:
    """--athalia-history postgresql://...: one row per run; the URL's password never reaches the output."""
    project.pytester.makepyfile(test_gates=GATED)
    result = project.pytester.runpytest(f"--athalia-history={postgres_url}")
    result.assert_outcomes(passed=1)
    failing = GATED.replace("limit=120", "limit=1")
    project.pytester.makepyfile(test_gates=failing)
    project.pytester.runpytest(f"--athalia-history={postgres_url}").assert_outcomes(failed=1)
    with open_history(postgres_url) as store:
        runs = store.runs()
        assert [r.status for r in runs] == ["passed", "failed"]
        assert store.rates()["dev"].success_rate == 0.5
    password = postgres_url.split("@")[0].rsplit(":", 1)[1]
    assert password not in output(result)
    assert "athalia: history: run recorded in postgresql://athalia:***@" in result.stdout.str()
    assert not (project.path / "reports" / "history.sqlite").exists()


def test_the_variable_and_the_ini_key_choose_the_store(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """ATHALIA_HISTORY beats ini athalia_history; an ini path is relative to the ini file's folder."""
    project.pytester.makepyfile(test_gates=GATED)
    project.ini("athalia_history = db/ini.sqlite")
    project.pytester.runpytest().assert_outcomes(passed=1)
    assert (project.path / "db" / "ini.sqlite").is_file()
    monkeypatch.setenv("ATHALIA_HISTORY", str(project.path / "env.sqlite"))
    project.pytester.runpytest().assert_outcomes(passed=1)
    assert len(_ids(str(project.path / "env.sqlite"))) == 1
    assert len(_ids(str(project.path / "db" / "ini.sqlite"))) == 1


def test_history_off_writes_no_store_and_says_nothing(project: Project) -> None:
    """--athalia-history=off: the report is written, no history file, no history line."""
    project.pytester.makepyfile(test_gates=GATED)
    result = project.pytester.runpytest("--athalia-history=off")
    result.assert_outcomes(passed=1)
    assert (project.path / "reports" / "athalia.json").is_file()
    assert not (project.path / "reports" / "history.sqlite").exists()
    assert "athalia: history" not in output(result)


def test_a_store_that_cannot_be_written_costs_one_line_not_the_report_nor_the_outcome(project: Project) -> None:
    """The store's folder is a file: the run passes, the report is written, one line names the option and the fix."""
    project.pytester.makepyfile(test_gates=GATED)
    (project.path / "blocker").write_text("", encoding="utf-8")
    result = project.pytester.runpytest("--athalia-history=blocker/history.sqlite")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1)
    assert project.report()["tests"]
    lines = [line for line in output(result).splitlines() if line.startswith(NOT_RECORDED)]
    assert len(lines) == 1, output(result)
    assert "(from --athalia-history)" in lines[0]
    assert "--athalia-history=PATH|URL|off (ATHALIA_HISTORY, ini athalia_history)" in lines[0]
    assert "Traceback" not in output(result)


def test_a_failing_run_is_recorded_as_failed_and_keeps_its_exit_status(project: Project) -> None:
    """A failed gate: exit status 1, and the history says failed with its failed check."""
    project.pytester.makepyfile(test_gates=GATED.replace("limit=1000", "limit=1"))
    result = project.pytester.runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    with open_history(str(project.path / "reports" / "history.sqlite")) as store:
        [run] = store.runs()
    assert (run.status, run.exit_status, run.passed, run.failed) == ("failed", 1, 1, 1)


def test_an_interrupted_run_is_recorded_whole(project: Project) -> None:
    """Ctrl-C in a test: the report says interrupted, and the history holds that run, checks included."""
    project.pytester.makepyfile(
        test_gates=GATED + "\n\ndef test_zz_interrupted(athalia_gate):\n    raise KeyboardInterrupt\n"
    )
    project.pytester.runpytest(no_reraise_ctrlc=True)
    with open_history(str(project.path / "reports" / "history.sqlite")) as store:
        [run] = store.runs()
    assert run.status == "interrupted"
    assert [c.name for c in run.checks] == ["deploy", "switch_ms"]


def test_a_run_without_athalia_fixtures_writes_no_history(project: Project, tmp_path: Path) -> None:
    """A quiet guest: even with a store configured, a run that writes no report appends nothing."""
    project.pytester.makepyfile(test_math=UNRELATED)
    store = tmp_path / "elsewhere" / "history.sqlite"
    project.ini(f"athalia_history = {store}")
    result = project.pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert not store.parent.exists()
    assert not (project.path / "reports").exists()
    assert "athalia: history" not in output(result)
