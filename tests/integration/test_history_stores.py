"""The history stores against real SQLite files and a real PostgreSQL server (tests/support/postgres.py).

Each test runs on both: appends and reads, idempotence, the schema version, two writers at once (two
processes), an append interrupted in the middle (Ctrl-C, and SIGKILL), and stores that cannot be used.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_athalia._errors import HistoryError
from pytest_athalia.history import open_history
from pytest_athalia.history._sql import SqlHistory
from pytest_athalia.testing import unavailable
from tests.support.reports import check, v2_report

REPO = Path(__file__).resolve().parents[2]
WRITERS_N = 40  # runs each of the two writers appends
SHARED_M = 10  # runs both writers append (the same reports)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Function: an empty store, an SQLite file or a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "reports" / "history.sqlite")
    value: str = request.getfixturevalue("postgres_url")
    return value


def sql(url: str, statement: str) -> list[tuple[Any, ...]]:
    """Run one statement on the store with the bare driver (not through our code)."""
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            cur = conn.execute(statement)  # type: ignore[call-overload]  # a test's own constant SQL
            return list(cur.fetchall()) if cur.description else []
    with contextlib.closing(sqlite3.connect(url)) as conn, conn:  # closed, and committed
        return conn.execute(statement).fetchall()


def count(url: str, table: str) -> int:
    return int(sql(url, f"SELECT count(*) FROM {table}")[0][0])


def test_appended_runs_come_back_oldest_first_with_their_reports_and_checks(url: str) -> None:
    """Reports out of order come back by start time; the JSON is the same document; one checks row per check.

    r2 is a drill (its rollback is timed but not counted), r3 a release a gate rolled back."""
    reports = [
        v2_report(run_id="r2", started_at="2026-12-06T10:00:00Z", rollback="automatic"),
        v2_report(run_id="r1", started_at="2026-12-05T10:00:00Z"),
        v2_report(
            run_id="r3",
            started_at="2026-12-07T10:00:00Z",
            environment="staging",
            status="failed",
            rollback="automatic",
            rollback_ms=4.5,
        ),
    ]
    with open_history(url) as store:
        for report in reports:
            store.append(report)
        assert [r.run_id for r in store.runs()] == ["r1", "r2", "r3"]
        assert store.reports() == [reports[1], reports[0], reports[2]]
        assert [r.run_id for r in store.runs("dev")] == ["r1", "r2"]
        assert [r.run_id for r in store.runs(limit=2)] == ["r2", "r3"]
        assert [r["run"]["id"] for r in store.reports("dev", limit=1)] == ["r2"]
        r2 = store.runs("dev")[1]
        assert (r2.deploy_s, r2.switch_ms, r2.rollback_ms, r2.rolled_back) == (8.4, 1.4, 3.2, False)
        [r3] = store.runs("staging")
        assert (r3.rollback_ms, r3.rolled_back) == (4.5, True)
        rates = store.rates()
        assert (rates["dev"].success_rate, rates["dev"].rollback_rate) == (1.0, 0.0)
        assert (rates["staging"].success_rate, rates["staging"].rollback_rate) == (0.0, 1.0)
        assert list(store.rates("staging")) == ["staging"]
    checks = sum(len(t["checks"]) for r in reports for t in r["tests"])
    assert (count(url, "runs"), count(url, "checks")) == (3, checks)
    columns = sql(url, "SELECT environment, status, deploy_s, switch_ms, rollback_ms FROM runs WHERE run_id = 'r2'")
    assert columns == [("dev", "passed", 8.4, 1.4, 3.2)]


def test_the_same_report_twice_keeps_one_run(url: str) -> None:
    """Idempotent on run id: the second append changes nothing (runs and checks)."""
    report = v2_report(run_id="once")
    with open_history(url) as store:
        store.append(report)
        store.append(report)
        assert [r.run_id for r in store.runs()] == ["once"]
    assert count(url, "runs") == 1
    assert count(url, "checks") == len(run_checks(report))


def run_checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for t in report["tests"] for c in t["checks"]]


def test_a_store_written_by_a_newer_version_is_refused(url: str) -> None:
    """schema_version above ours: a clear error naming the store and both versions, nothing written."""
    with open_history(url) as store:
        store.append(v2_report(run_id="old"))
    sql(url, "UPDATE schema_version SET version = 99")
    with pytest.raises(HistoryError, match=r"has schema version 99, newer than this pytest-athalia knows \(1\)"):
        open_history(url)
    assert count(url, "runs") == 1


def test_reopening_keeps_the_schema_and_the_runs(url: str) -> None:
    """Opening an existing store creates nothing twice: one schema_version row, runs kept."""
    for run_id in ("a", "b"):
        with open_history(url) as store:
            store.append(v2_report(run_id=run_id))
    assert sql(url, "SELECT version FROM schema_version") == [(1,)]
    assert count(url, "runs") == 2


WRITER = """
import json, sys, time
from pytest_athalia.history import open_history

url, reports_file, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
reports = json.loads(open(reports_file).read())
while time.time() < start:
    time.sleep(0.001)
for report in reports:
    with open_history(url) as store:  # a store per run, as pytest runs do
        store.append(report)
"""


def test_two_writers_at_once_lose_nothing(url: str, tmp_path: Path) -> None:
    """Two processes append N runs each, and the same M runs both, at the same time: 2N + M runs, every check."""
    shared = [v2_report(run_id=f"shared-{i}") for i in range(SHARED_M)]
    files = []
    for writer in ("a", "b"):
        own = [v2_report(run_id=f"{writer}-{i}", extra_checks=[check("w", i, "")]) for i in range(WRITERS_N)]
        mixed = [x for pair in zip(own, [*shared, *[None] * WRITERS_N], strict=False) for x in pair if x is not None]
        path = tmp_path / f"{writer}.json"
        path.write_text(json.dumps(mixed), encoding="utf-8")
        files.append(path)
    start = time.time() + 1.5  # both interpreters are up and waiting by then
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(f), str(start)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in files
    ]
    outputs = [proc.communicate(timeout=180) for proc in procs]  # both waited for before any assert
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out + err
    assert count(url, "runs") == 2 * WRITERS_N + SHARED_M
    per_run = len(run_checks(shared[0]))
    assert count(url, "checks") == 2 * WRITERS_N * (per_run + 1) + SHARED_M * per_run
    with open_history(url) as store:
        assert store.rates()["dev"].runs == 2 * WRITERS_N + SHARED_M


def test_ctrl_c_in_the_middle_of_an_append_leaves_nothing_of_that_run(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KeyboardInterrupt after the run row, before its checks: rolled back; the next append records it whole."""
    report = v2_report(run_id="interrupted")
    with open_history(url) as store:
        store.append(v2_report(run_id="before"))

        def interrupt(self: SqlHistory, rows: Any) -> None:
            raise KeyboardInterrupt

        with monkeypatch.context() as patch:
            patch.setattr(SqlHistory, "_insert_checks", interrupt)
            with pytest.raises(KeyboardInterrupt):
                store.append(report)
        assert [r.run_id for r in store.runs()] == ["before"]
        store.append(report)
        assert [r.run_id for r in store.runs()] == ["before", "interrupted"]
    assert count(url, "checks") == 2 * len(run_checks(report))


KILLED = """
import os, signal, sys
from pytest_athalia.history import open_history
from pytest_athalia.history._sql import SqlHistory
from pytest_athalia.testing import unavailable
from tests.support.reports import v2_report

insert = SqlHistory._insert_checks

def insert_then_die(self, rows):
    insert(self, rows[: len(rows) // 2])
    os.kill(os.getpid(), signal.SIGKILL)  # no except, no finally, no rollback: the process is gone

SqlHistory._insert_checks = insert_then_die
open_history(sys.argv[1]).append(v2_report(run_id="killed"))
"""


def test_a_writer_killed_in_the_middle_leaves_a_consistent_store(url: str) -> None:
    """SIGKILL halfway through a run's checks: neither the run nor any of its checks is in the store."""
    with open_history(url) as store:
        store.append(v2_report(run_id="before"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", KILLED, url], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stdout + proc.stderr
    assert sql(url, "SELECT run_id FROM runs") == [("before",)]
    assert count(url, "checks") == len(run_checks(v2_report()))
    with open_history(url) as store:
        store.append(v2_report(run_id="killed"))
        assert [r.run_id for r in store.runs()] == ["before", "killed"]


def test_an_sqlite_store_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    """Its folder cannot be made: one paragraph naming the store and the fix, no traceback."""
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(HistoryError) as info:
        open_history(str(tmp_path / "file" / "history.sqlite"))
    text = str(info.value)
    assert "could not open the file" in text
    assert "Check that its folder is writable" in text


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    """Not a database: said, with the store's path."""
    path = tmp_path / "history.sqlite"
    path.write_text("this is not a database, it is a text file\n" * 100, encoding="utf-8")
    with pytest.raises(HistoryError, match=r"history\.sqlite \(SQLite\) could not .*not a database"):
        open_history(str(path))


def test_an_unreachable_postgresql_is_a_clear_error_without_the_password(postgres_server: Any) -> None:
    """Nothing listens on that port: one paragraph, the URL's password masked everywhere."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HistoryError) as info:
        open_history(f"postgresql://athalia:pw-s3cret@127.0.0.1:{port}/postgres?connect_timeout=2")
    text = str(info.value)
    assert f"postgresql://athalia:***@127.0.0.1:{port}/postgres" in text
    assert "could not connect" in text
    assert "pw-s3cret" not in text
    assert "\n" not in text


def test_a_wrong_postgresql_password_is_a_clear_error_without_it(postgres_server: Any) -> None:
    """The server refuses the password: said, and the password is not."""
    with pytest.raises(HistoryError, match="password authentication failed") as info:
        open_history(f"postgresql://athalia:wrong-pw@127.0.0.1:{postgres_server.port}/postgres")
    assert "wrong-pw" not in str(info.value)


def test_the_cli_lists_a_postgresql_history(postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """athalia history --history URL --json: the runs and rates, the password masked (p1 a drill, p2 a gate's)."""
    from pytest_athalia._cli import main

    with open_history(postgres_url) as store:
        store.append(v2_report(run_id="p1", rollback="automatic"))
        store.append(v2_report(run_id="p2", started_at="2026-12-06T00:00:00Z", status="failed", rollback="automatic"))
    assert main(["history", "--history", postgres_url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert ":***@" in data["store"]
    [dev] = data["environments"]
    assert [(r["run_id"], r["rolled_back"]) for r in dev["runs"]] == [("p1", False), ("p2", True)]
    assert (dev["success_rate"], dev["rollback_rate"]) == (0.5, 0.5)


def test_schema_ddl_is_valid_for_both_databases(url: str) -> None:
    """The tables and indexes exist with the documented names."""
    with open_history(url):
        pass
    if url.startswith("postgresql://"):
        names = {r[0] for r in sql(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    else:
        names = {r[0] for r in sql(url, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"schema_version", "runs", "checks"} <= names


def test_the_dashboard_draws_the_runs_of_a_real_store(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`athalia report --history STORE` (the dashboard) reads what the plugin appended: both versions appear."""
    from pytest_athalia.dashboard._command import DashboardRequest, make_dashboard

    if importlib.util.find_spec("plotly") is None:
        unavailable("the dashboard needs plotly: pip install 'pytest-athalia[report]'")

    monkeypatch.chdir(tmp_path)  # no reports/athalia.json here: the history alone makes the page
    with open_history(url) as store:
        store.append(v2_report(run_id="d1", version="1.4.0", started_at="2026-12-01T00:00:00Z"))
        store.append(v2_report(run_id="d2", version="1.5.0", started_at="2026-12-02T00:00:00Z", rollback="automatic"))
    page = make_dashboard(DashboardRequest(history=url, output=tmp_path / "dashboard.html"))
    html = page.read_text(encoding="utf-8")
    assert "1.4.0" in html
    assert "1.5.0" in html
