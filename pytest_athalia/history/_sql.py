"""The history in SQL, shared by SQLite and PostgreSQL: tables, one-transaction appends, queries.

Tables (``{…}`` is the type each database gets, see :class:`Dialect`):

- ``schema_version (version)``: one row; a newer version than :data:`SCHEMA_VERSION` is refused.
- ``runs``: one row per run, unique ``run_id``, the columns of :class:`~._record.RunRecord` and the
  full JSON report (``report``), with ``recorded_at`` (when it was appended).
- ``checks``: one row per check of a run (``run_id`` references ``runs``), in report order (``position``).

SQL here is written with ``?`` placeholders; a dialect with another paramstyle rewrites them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from typing import Any

from .._errors import HistoryError
from ._rates import Rates, compute_rates
from ._record import RunRecord, run_record
from ._store import ClosingStore

__all__ = ["RUN_COLUMNS", "SCHEMA_VERSION", "Dialect", "SqlHistory"]

SCHEMA_VERSION = 1

_TABLES = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id {id},
    run_id TEXT NOT NULL UNIQUE,
    environment TEXT,
    candidate_version TEXT,
    candidate_image TEXT,
    git_commit TEXT,
    ci_job TEXT,
    ci_url TEXT,
    started_at {time} NOT NULL,
    finished_at {time},
    duration_s {real},
    status TEXT NOT NULL,
    exit_status INTEGER,
    deploy_s {real},
    deploy_check TEXT,
    switch_ms {real},
    rollback_ms {real},
    rolled_back {bool} NOT NULL,
    passed INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    inconclusive INTEGER NOT NULL,
    report TEXT NOT NULL,
    recorded_at {time} NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_environment_started ON runs (environment, started_at);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);
CREATE TABLE IF NOT EXISTS checks (
    id {id},
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    nodeid TEXT NOT NULL,
    name TEXT NOT NULL,
    subject TEXT,
    measured {real},
    unit TEXT,
    samples INTEGER,
    threshold {real},
    comparison TEXT,
    verdict TEXT
);
CREATE INDEX IF NOT EXISTS checks_run ON checks (run_id);
CREATE INDEX IF NOT EXISTS checks_name ON checks (name);
"""

# Written out, not built: the SQL is constant text and every value goes through a placeholder.
# The runs columns follow RunRecord's fields in order (checks aside); a unit test keeps them in step.
RUN_COLUMNS = (
    "run_id",
    "environment",
    "candidate_version",
    "candidate_image",
    "git_commit",
    "ci_job",
    "ci_url",
    "started_at",
    "finished_at",
    "duration_s",
    "status",
    "exit_status",
    "deploy_s",
    "deploy_check",
    "switch_ms",
    "rollback_ms",
    "rolled_back",
    "passed",
    "failed",
    "inconclusive",
)
_INSERT_RUN = """
INSERT INTO runs (
    run_id, environment, candidate_version, candidate_image, git_commit, ci_job, ci_url, started_at, finished_at,
    duration_s, status, exit_status, deploy_s, deploy_check, switch_ms, rollback_ms, rolled_back,
    passed, failed, inconclusive, report, recorded_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id) DO NOTHING
"""
# The checks columns: run_id, position, then CheckValue's fields in order.
_INSERT_CHECK = """
INSERT INTO checks (run_id, position, nodeid, name, subject, measured, unit, samples, threshold, comparison, verdict)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_REPORTS = "SELECT report FROM runs ORDER BY started_at DESC, id DESC"
_REPORTS_OF = "SELECT report FROM runs WHERE environment = ? ORDER BY started_at DESC, id DESC"
_STATUSES = "SELECT environment, status, rolled_back FROM runs"
_STATUSES_OF = "SELECT environment, status, rolled_back FROM runs WHERE environment = ?"


@dataclass(frozen=True)
class Dialect:
    """What differs between databases: column types, how a time is stored, the placeholder."""

    name: str
    id: str
    real: str
    time: str
    bool: str
    store_time: Callable[[datetime], Any]
    placeholder: str = "?"

    def tables(self) -> list[str]:
        ddl = _TABLES.format(id=self.id, real=self.real, time=self.time, bool=self.bool)
        return [s.strip() for s in ddl.split(";") if s.strip()]

    def sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)


class SqlHistory(ClosingStore):
    """A :class:`~._store.HistoryStore` over a DB-API connection; subclasses connect and run transactions."""

    dialect: Dialect
    location: str
    _driver_errors: tuple[type[Exception], ...] = ()

    def __init__(self, connection: Any, location: str) -> None:
        self._conn = connection
        self.location = location

    # -- what a subclass provides ------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction, rolled back on any exception (Ctrl-C included)."""
        raise NotImplementedError
        yield  # pragma: no cover

    def _lock_schema(self) -> None:
        """Serialize schema creation between processes, inside the transaction (SQLite's BEGIN IMMEDIATE does)."""

    def _fix(self) -> str:
        """How to fix a store that fails (for the error's last sentence)."""
        raise NotImplementedError

    def _scrub(self, text: str) -> str:
        """`text` without secrets (a driver's message may quote the connection string)."""
        return text

    # -- schema ------------------------------------------------------------------------------------
    def _ensure_schema(self) -> None:
        with self._guard("create its tables"), self._transaction():
            self._lock_schema()
            for statement in self.dialect.tables():
                self._execute(statement)
            found = self._query("SELECT max(version) FROM schema_version")[0][0]
            if found is None:
                self._execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif found > SCHEMA_VERSION:
                raise HistoryError(
                    f"athalia: the history store {self.location} has schema version {found}, newer than this "
                    f"pytest-athalia knows ({SCHEMA_VERSION}): a newer pytest-athalia wrote it. Upgrade "
                    "pytest-athalia, or use another store."
                )

    # -- HistoryStore ------------------------------------------------------------------------------
    def append(self, report: Mapping[str, Any]) -> None:
        record = run_record(report)  # a report that does not fit never opens a transaction
        document = json.dumps(report, ensure_ascii=False)
        row = tuple(self._value(getattr(record, name)) for name in RUN_COLUMNS)
        stamp = self.dialect.store_time(datetime.now(UTC))
        with self._guard(f"record run {record.run_id}"), self._transaction():
            if self._execute(_INSERT_RUN, (*row, document, stamp)) == 0:
                return  # already there: appending a report twice keeps one run
            self._insert_checks([(record.run_id, i, *astuple(c)) for i, c in enumerate(record.checks)])

    def reports(self, environment: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        sql, params = (_REPORTS, ()) if environment is None else (_REPORTS_OF, (environment,))
        if limit is not None:
            sql, params = sql + " LIMIT ?", (*params, max(limit, 0))
        with self._guard("read its runs"):
            rows = self._query(sql, params)
        return [json.loads(text) for (text,) in reversed(rows)]  # newest first above: the last `limit` runs

    def runs(self, environment: str | None = None, limit: int | None = None) -> list[RunRecord]:
        return [run_record(report) for report in self.reports(environment, limit)]

    def rates(self, environment: str | None = None) -> dict[str | None, Rates]:
        sql, params = (_STATUSES, ()) if environment is None else (_STATUSES_OF, (environment,))
        with self._guard("read its runs"):
            rows = self._query(sql, params)
        return compute_rates((env, status, bool(rolled)) for env, status, rolled in rows)

    def close(self) -> None:
        with contextlib.suppress(*self._driver_errors):
            self._conn.close()

    # -- helpers -----------------------------------------------------------------------------------
    def _insert_checks(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            self._conn.cursor().executemany(self.dialect.sql(_INSERT_CHECK), rows)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = self._conn.cursor()
        cursor.execute(self.dialect.sql(sql), tuple(params))
        return int(cursor.rowcount)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._conn.cursor()
        cursor.execute(self.dialect.sql(sql), tuple(params))
        return [tuple(row) for row in cursor.fetchall()]

    def _value(self, value: Any) -> Any:
        return self.dialect.store_time(value) if isinstance(value, datetime) else value

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """A driver's error becomes one paragraph naming the store, what failed, and the fix."""
        try:
            yield
        except self._driver_errors as exc:
            detail = " ".join(self._scrub(str(exc)).split()) or type(exc).__name__
            raise HistoryError(
                f"athalia: the history store {self.location} ({self.dialect.name}) could not {action}: {detail}. "
                f"{self._fix()}"
            ) from None
