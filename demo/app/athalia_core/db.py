"""PostgreSQL access: a small lazy connection pool and the ``items`` table."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.pool

from athalia_core.config import PostgresConfig

CONNECT_TIMEOUT_S = 2
STATEMENT_TIMEOUT_MS = 5_000
READY_TIMEOUT_MS = 2_000
# Any fixed number works; it only has to be the same in every worker of every replica.
SCHEMA_LOCK_KEY = 0x4154484C  # "ATHL"

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id         bigserial   PRIMARY KEY,
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


class Database:
    def __init__(self, config: PostgresConfig, *, max_connections: int = 4) -> None:
        self._config = config
        self._max = max_connections
        self._lock = threading.Lock()
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._schema_ready = False

    def _connect_kwargs(self, statement_timeout_ms: int) -> dict[str, Any]:
        return {
            **self._config.connect_kwargs(),
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": "athalia_core",
            "options": f"-c statement_timeout={statement_timeout_ms}",
        }

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        # Created on first use, never at import: gunicorn may import the app in the master
        # (--preload) and sockets must not be shared across fork().
        with self._lock:
            if self._pool is None:
                # minconn = maxconn: psycopg2 closes every returned connection beyond minconn, so a
                # minconn of 0 would open a new PostgreSQL session for every request.
                self._pool = psycopg2.pool.ThreadedConnectionPool(
                    self._max, self._max, **self._connect_kwargs(STATEMENT_TIMEOUT_MS)
                )
            return self._pool

    @contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """A pooled connection; commits on success, rolls back (or discards if broken) on error."""
        pool = self._get_pool()
        conn = pool.getconn()
        try:
            yield conn
            conn.commit()
        except BaseException:
            if not conn.closed:
                with suppress(psycopg2.Error):  # an unusable connection is closed below
                    conn.rollback()
            raise
        finally:
            # A connection the server dropped (restart, failover) must not go back in the pool.
            pool.putconn(conn, close=bool(conn.closed))

    def ensure_schema(self) -> None:
        """Create the table once per process; safe when many workers start together."""
        if self._schema_ready:
            return
        with self.connection() as conn, conn.cursor() as cur:
            # CREATE TABLE IF NOT EXISTS alone can still fail with a unique violation when two
            # sessions race; the transaction-scoped advisory lock serialises them.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            cur.execute(SCHEMA)
        self._schema_ready = True

    def ping(self) -> None:
        """Open a fresh connection (not a pooled one) so readiness reflects the server now."""
        conn = psycopg2.connect(**self._connect_kwargs(READY_TIMEOUT_MS))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
        finally:
            conn.close()

    def add_item(self, name: str) -> dict[str, Any]:
        self.ensure_schema()
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO items (name) VALUES (%s) RETURNING id, name, created_at", (name,))
            row = cur.fetchone()
        if row is None:  # cannot happen with RETURNING; keeps the types honest
            raise RuntimeError("INSERT ... RETURNING returned no row")
        return _item(row)

    def get_item(self, item_id: int) -> dict[str, Any] | None:
        self.ensure_schema()
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT id, name, created_at FROM items WHERE id = %s", (item_id,))
            row = cur.fetchone()
        return None if row is None else _item(row)

    def latest_items(self, limit: int) -> list[dict[str, Any]]:
        self.ensure_schema()
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT id, name, created_at FROM items ORDER BY id DESC LIMIT %s", (limit,))
            return [_item(row) for row in cur.fetchall()]


def _item(row: tuple[Any, ...]) -> dict[str, Any]:
    item_id, name, created_at = row
    stamp: datetime = created_at
    return {"id": item_id, "name": name, "created_at": stamp.isoformat()}
