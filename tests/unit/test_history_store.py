"""Rates, the fake store, where the CLI finds the history, and the end-of-run append that never fails a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_athalia._errors import HistoryError
from pytest_athalia.config._settings import Sourced, history_outside_pytest
from pytest_athalia.history import Rates, compute_rates, open_history, public_location
from pytest_athalia.history._wire import record_run
from pytest_athalia.testing import FakeHistoryStore
from tests.support.reports import v2_report

# -- rates ---------------------------------------------------------------------------------------------------


def test_rates_per_environment() -> None:
    """success = passed / completed, rollback = rolled back / completed, per environment, sorted by name."""
    rates = compute_rates(
        [
            ("staging", "passed", False),
            ("dev", "passed", True),
            ("staging", "failed", True),
            ("staging", "passed", False),
            ("staging", "error", False),
        ]
    )
    assert list(rates) == ["dev", "staging"]
    staging = rates["staging"]
    assert staging == Rates("staging", runs=4, completed=4, passed=2, failed=2, interrupted=0, rolled_back=1)
    assert (staging.success_rate, staging.rollback_rate) == (0.5, 0.25)
    assert (rates["dev"].success_rate, rates["dev"].rollback_rate) == (1.0, 1.0)


def test_interrupted_runs_count_apart_and_leave_the_rates_alone() -> None:
    """A cancelled run says nothing about the release: not in the denominators, even when it rolled back."""
    rates = compute_rates([("dev", "passed", False), ("dev", "interrupted", True), ("dev", "failed", False)])
    dev = rates["dev"]
    assert (dev.runs, dev.completed, dev.interrupted, dev.rolled_back) == (3, 2, 1, 0)
    assert (dev.success_rate, dev.rollback_rate) == (0.5, 0.0)


def test_no_completed_run_gives_no_rate_rather_than_zero() -> None:
    """Only interrupted runs: the rates are None."""
    only = compute_rates([("dev", "interrupted", False)])["dev"]
    assert (only.success_rate, only.rollback_rate) == (None, None)
    assert only.as_json()["success_rate"] is None
    assert compute_rates([]) == {}


def test_runs_without_an_environment_come_last() -> None:
    """The None environment is a group of its own, after the named ones."""
    assert list(compute_rates([(None, "passed", False), ("b", "passed", False), ("a", "failed", False)])) == [
        "a",
        "b",
        None,
    ]


# -- the fake store ------------------------------------------------------------------------------------------


def test_fake_store_keeps_one_run_per_id_oldest_first_and_the_last_n() -> None:
    """Idempotent on run id; ordered by start time whatever the append order; limit keeps the newest."""
    store = FakeHistoryStore()
    late = v2_report(run_id="late", started_at="2026-12-06T00:00:00Z")
    early = v2_report(run_id="early", started_at="2026-12-04T00:00:00Z")
    middle = v2_report(run_id="middle", started_at="2026-12-05T00:00:00Z", environment="staging")
    for report in (late, early, late, middle):
        store.append(report)
    assert [r.run_id for r in store.runs()] == ["early", "middle", "late"]
    assert [r["run"]["id"] for r in store.reports(limit=2)] == ["middle", "late"]
    assert [r.run_id for r in store.runs(limit=10)] == ["early", "middle", "late"]
    assert store.runs(limit=0) == []
    assert [r.run_id for r in store.runs("dev")] == ["early", "late"]
    assert store.reports("staging") == [middle]
    assert len(store.appended) == 4
    assert store.rates()["dev"].runs == 2


def test_fake_store_can_fail_like_a_broken_store() -> None:
    """fail=TEXT: every call raises HistoryError(TEXT)."""
    store = FakeHistoryStore(fail="athalia: disk full")
    with pytest.raises(HistoryError, match="disk full"):
        store.append(v2_report())
    with pytest.raises(HistoryError, match="disk full"):
        store.runs()


# -- opening -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("location", ["mysql://db/history", "sqlite:relative.db", "http://example.com/h"])
def test_an_unknown_url_is_a_clear_error(location: str) -> None:
    """Neither a path nor a URL we know: the error lists what is accepted."""
    with pytest.raises(HistoryError, match="sqlite:///PATH or postgresql://"):
        open_history(location)


def test_passwords_are_masked_in_locations() -> None:
    """In the URL's user part and in a password= parameter."""
    assert public_location("postgresql://app:s3cret@db:5432/h") == "postgresql://app:***@db:5432/h"
    assert public_location("postgresql://db/h?password=s3cret&sslmode=require") == (
        "postgresql://db/h?password=***&sslmode=require"
    )
    assert public_location("reports/history.sqlite") == "reports/history.sqlite"


def test_reading_a_missing_sqlite_history_does_not_create_it(tmp_path: Path) -> None:
    """must_exist: an error naming the path, and no file appears."""
    with pytest.raises(HistoryError, match="there is no history at"):
        open_history(str(tmp_path / "none.sqlite"), must_exist=True)
    assert not (tmp_path / "none.sqlite").exists()


# -- where `athalia history` looks ---------------------------------------------------------------------------


def test_cli_history_follows_the_plugins_choice(tmp_path: Path) -> None:
    """--history, else ATHALIA_HISTORY, else ini athalia_history, else beside the report (ATHALIA_REPORT, ini)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\nathalia_report = out/run.json\n", encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    assert history_outside_pytest(None, cwd=sub, environ={}) == Sourced(
        str(tmp_path / "out" / "history.sqlite"), "default"
    )
    assert history_outside_pytest(None, cwd=sub, environ={"ATHALIA_REPORT": "r/a.json"}).value == str(
        sub / "r" / "history.sqlite"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\nathalia_history = h.sqlite\n", encoding="utf-8")
    ini = history_outside_pytest(None, cwd=sub, environ={})
    assert ini == Sourced(str(tmp_path / "h.sqlite"), f"ini athalia_history in {tmp_path / 'pytest.ini'}")
    assert history_outside_pytest(None, cwd=sub, environ={"ATHALIA_HISTORY": "postgresql://db/h"}) == Sourced(
        "postgresql://db/h", "ATHALIA_HISTORY"
    )
    assert history_outside_pytest("x.sqlite", cwd=sub, environ={"ATHALIA_HISTORY": "off"}) == Sourced(
        str(sub / "x.sqlite"), "athalia history --history"
    )


# -- the end-of-run append -----------------------------------------------------------------------------------


def _written(tmp_path: Path, report: object) -> Path:
    path = tmp_path / "reports" / "athalia.json"
    path.parent.mkdir()
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


def test_record_run_appends_the_written_report(tmp_path: Path) -> None:
    """The report, as written, goes to the store; one line says where."""
    report = v2_report(run_id="r1")
    store = FakeHistoryStore()
    lines: list[str] = []
    assert record_run(Sourced("fake", "default"), report, _written(tmp_path, report), lines.append, lambda _: store)
    assert store.reports() == [report]
    assert store.closed
    assert lines == ["history: run recorded in fake"]


def test_record_run_off_does_nothing(tmp_path: Path) -> None:
    """History off: no store opened, nothing said."""
    lines: list[str] = []

    def opener(_: str) -> FakeHistoryStore:
        raise AssertionError("no store may be opened")

    report = v2_report()
    assert not record_run(Sourced(None, "--athalia-history"), report, _written(tmp_path, report), lines.append, opener)
    assert lines == []


def test_a_failing_store_costs_one_line_naming_the_option_and_the_fix(tmp_path: Path) -> None:
    """The store fails: one line with the store (password masked), its origin, the cause, the report kept, the fix."""
    store = FakeHistoryStore(fail="athalia: the history store is read-only")
    lines: list[str] = []
    report = v2_report()
    path = _written(tmp_path, report)
    url = Sourced("postgresql://app:s3cret@db/h", "ATHALIA_HISTORY")
    assert not record_run(url, report, path, lines.append, lambda _: store)
    assert len(lines) == 1
    assert "\n" not in lines[0]
    line = lines[0]
    assert "s3cret" not in line
    assert "postgresql://app:***@db/h (from ATHALIA_HISTORY)" in line
    assert "the history store is read-only" in line
    assert f"The JSON report {path} is kept" in line
    assert "--athalia-history=PATH|URL|off (ATHALIA_HISTORY, ini athalia_history)" in line
    assert json.loads(path.read_text(encoding="utf-8"))["run"]["status"] == "passed"


def test_a_report_that_does_not_fit_opens_no_store(tmp_path: Path) -> None:
    """A report of another schema: one line, and no store is opened (so no empty file is created)."""
    lines: list[str] = []

    def opener(_: str) -> FakeHistoryStore:
        raise AssertionError("no store may be opened")

    other = {"schema": "pytest-athalia/report/1", "run": {}}
    path = _written(tmp_path, other)
    assert not record_run(Sourced(str(tmp_path / "h.sqlite"), "default"), other, path, lines.append, opener)
    assert len(lines) == 1
    assert "expected 'pytest-athalia/report/2'" in lines[0]


def test_an_unexpected_error_does_not_fail_the_run_either(tmp_path: Path) -> None:
    """Even a bug (not a HistoryError) becomes the one line."""

    def opener(_: str) -> FakeHistoryStore:
        raise RuntimeError("boom")

    lines: list[str] = []
    report = v2_report()
    assert not record_run(Sourced("x", "default"), report, _written(tmp_path, report), lines.append, opener)
    assert "boom" in lines[0]
