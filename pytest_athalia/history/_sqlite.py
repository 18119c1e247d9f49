"""The history in an SQLite file (the standard library's sqlite3): WAL, a busy timeout, BEGIN IMMEDIATE.

WAL lets readers (``athalia history``, the dashboard) read while a run appends. Every write transaction
starts with ``BEGIN IMMEDIATE``: it takes the write lock at once, so two runs appending together queue
on the busy timeout instead of failing on a lock upgrade. Times are stored as fixed-width UTC text
(``2026-12-05T06:11:12.123000Z``), so they sort as text.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from .._errors import HistoryError
from ._sql import Dialect, SqlHistory

__all__ = ["BUSY_TIMEOUT_S", "SqliteHistory"]

BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another one (an append takes milliseconds)


def _utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


SQLITE = Dialect(
    name="SQLite",
    id="INTEGER PRIMARY KEY",
    real="REAL",
    time="TEXT",
    bool="INTEGER",
    store_time=_utc_text,
)


def _wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (it stays so), retrying while another process opens it at the same moment.

    The switch needs the file to itself, and SQLite answers "database is locked" at once, without
    the busy timeout, when two first openers race for it.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005 + random.random() * 0.02)  # noqa: S311  # jitter, not a secret


class SqliteHistory(SqlHistory):
    dialect = SQLITE
    _driver_errors = (sqlite3.Error,)

    @classmethod
    def connect(cls, path: Path, *, must_exist: bool = False) -> SqliteHistory:
        if must_exist and not path.is_file():
            raise HistoryError(
                f"athalia: there is no history at {path}: no run has recorded one there yet. Run pytest with "
                "pytest-athalia first, or name the store (a path or a postgresql:// URL)."
            )
        store = cls(None, str(path))
        with store._guard("open the file"):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise sqlite3.OperationalError(f"cannot create its folder {path.parent}: {exc.strerror}") from None
            # Autocommit mode: transactions are our explicit BEGIN IMMEDIATE ... COMMIT.
            store._conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            with store._guard("open the file"):
                _wal(store._conn)
                store._conn.execute("PRAGMA foreign_keys=ON")
            store._ensure_schema()
        except BaseException:
            store.close()
            raise
        return store

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # keep the first error, not the rollback's
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _fix(self) -> str:
        return (
            "Check that its folder is writable and the file is an SQLite database (not another file), "
            "or name another store."
        )
