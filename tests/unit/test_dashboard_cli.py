"""`athalia report`: writes the page from the history and the last report; one-paragraph errors, exit status 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_athalia._cli import main
from pytest_athalia.dashboard import _command
from tests.support.reports_v2 import FakeHistory, history, report, require_plotly


@pytest.fixture(autouse=True)
def _plotly() -> None:
    require_plotly()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder as the current directory (the defaults are relative to it)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> FakeHistory:
    """The history store the command opens: six runs in memory, whatever the location."""
    fake = FakeHistory(history())
    opened: list[str] = []

    def open_history(location: str) -> FakeHistory:
        opened.append(location)
        return fake

    monkeypatch.setattr(_command, "_open_history", open_history)
    fake.opened = opened  # type: ignore[attr-defined]
    return fake


def write_json(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_the_default_paths_make_reports_dashboard_html(
    project: Path, store: FakeHistory, capsys: pytest.CaptureFixture[str]
) -> None:
    """reports/history.sqlite and reports/athalia.json in, reports/dashboard.html out; the path is printed."""
    (project / "reports").mkdir()
    (project / "reports" / "history.sqlite").touch()
    write_json(project / "reports" / "athalia.json", report(7, "dev", day=3))
    assert main(["report"]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("reports/dashboard.html\n", "")
    text = (project / "reports" / "dashboard.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "7 run(s)" in text
    assert text.count('class="plotly-graph-div"') == 4  # run 7 has no load series and no timeline
    assert text.count("No data in these reports.") == 2
    assert store.opened == ["reports/history.sqlite"]  # type: ignore[attr-defined]
    assert store.closed
    assert store.calls == [(None, None)]
    assert [p.name for p in (project / "reports").iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_options_choose_the_store_the_environment_the_limit_and_the_output(
    project: Path, store: FakeHistory, capsys: pytest.CaptureFixture[str]
) -> None:
    """--history URL is handed to the store as given; --env and --limit reach it and the page."""
    out = project / "site" / "index.html"
    argv = ["report", "--history", "postgresql://h/db", "--env", "staging", "--limit", "5", "--output", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr().out == f"{out}\n"
    assert store.opened == ["postgresql://h/db"]  # type: ignore[attr-defined]
    assert store.calls == [("staging", 5)]
    text = out.read_text(encoding="utf-8")
    assert "2 run(s)" in text
    assert "· staging" in text


def test_a_report_alone_is_enough(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No history yet (the default store is missing): the last report makes a one-run dashboard."""
    path = write_json(project / "last.json", history()[-1])
    assert main(["report", "--report", str(path)]) == 0
    assert "1 run(s)" in (project / "reports" / "dashboard.html").read_text(encoding="utf-8")


def error_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    assert err.count("\n") == 1  # one paragraph
    return err


def test_no_runs_at_all_is_an_error_that_says_what_to_do(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = error_of(["report"], capsys)
    assert "no runs to show" in err
    assert "reports/history.sqlite" in err
    assert "--athalia-env" in err
    assert not (project / "reports").exists()  # nothing written, not even the folder


def test_an_explicit_missing_file_is_an_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "--report nope.json: no such file" in error_of(["report", "--report", "nope.json"], capsys)
    assert "--history gone.sqlite: no such file" in error_of(["report", "--history", "gone.sqlite"], capsys)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "cannot read it as JSON"),
        (json.dumps({"schema": "pytest-athalia/report/1", "run": {}}), "found 'pytest-athalia/report/1'"),
        (json.dumps([1, 2]), "found 'list'"),
    ],
)
def test_a_report_that_is_not_a_v2_report_is_an_error(
    project: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    (project / "r.json").write_text(content, encoding="utf-8")
    err = error_of(["report", "--report", "r.json"], capsys)
    assert "--report r.json" in err
    assert expected in err


def test_an_environment_without_runs_names_those_there_are(
    project: Path, store: FakeHistory, capsys: pytest.CaptureFixture[str]
) -> None:
    store.stored = history()
    (project / "h.sqlite").touch()
    err = error_of(["report", "--history", "h.sqlite", "--env", "prod"], capsys)
    assert "--env prod: no run of that environment (history h.sqlite, report reports/athalia.json)" in err


def test_a_limit_below_one_is_an_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "--limit 0" in error_of(["report", "--limit", "0"], capsys)


def test_without_plotly_the_error_names_the_extra(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The charts need the report extra; its absence is one paragraph naming the pip command."""
    for name in [m for m in sys.modules if m == "plotly" or m.startswith("plotly.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.delitem(sys.modules, "pytest_athalia.dashboard._charts", raising=False)
    write_json(project / "reports" / "athalia.json", history()[-1])
    err = error_of(["report"], capsys)
    assert "pip install 'pytest-athalia[report]'" in err
