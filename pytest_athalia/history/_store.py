"""The history store's interface, and how a path or URL chooses SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._errors import HistoryError
from ._rates import Rates
from ._record import RunRecord

__all__ = ["ClosingStore", "HistoryStore", "open_history", "public_location"]

_POSTGRES = ("postgresql://", "postgres://")
_SQLITE = "sqlite:///"


class HistoryStore(Protocol):
    """Where runs are kept. Every method raises :class:`HistoryError` (one paragraph) when the store fails."""

    location: str  # the path or URL, password masked: safe to print

    def append(self, report: Mapping[str, Any]) -> None:
        """Add one run (a ``pytest-athalia/report/2`` document) in one transaction; again is a no-op (by run id)."""

    def runs(self, environment: str | None = None, limit: int | None = None) -> list[RunRecord]:
        """The runs of `environment` (every one when None): the last `limit` (all when None), oldest first."""

    def reports(self, environment: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The stored JSON documents of the same runs as :meth:`runs`, oldest first."""

    def rates(self, environment: str | None = None) -> dict[str | None, Rates]:
        """Success and rollback rates per environment (only `environment` when given), by environment name."""

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class ClosingStore:
    """``with store:`` closes it: the context-manager half of :class:`HistoryStore`, for implementations."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_history(url_or_path: str, *, must_exist: bool = False) -> HistoryStore:
    """Open (and create, schema included, unless `must_exist`) the store that `url_or_path` names.

    ``postgresql://user:password@host:port/dbname`` (or ``postgres://``) is PostgreSQL, through psycopg 3
    (the ``history`` extra); ``sqlite:///relative/path`` or ``sqlite:////absolute/path`` (as SQLAlchemy
    spells them), or a plain path, is an SQLite file. With `must_exist`, a missing SQLite file is an
    error rather than a new empty store (for commands that only read).
    """
    text = url_or_path.strip()
    if text.startswith(_POSTGRES):
        from ._postgres import PostgresHistory

        return PostgresHistory.connect(text)
    if text.startswith(_SQLITE):
        text = text[len(_SQLITE) :]
    elif "://" in text or text.startswith("sqlite:"):
        raise HistoryError(
            f"athalia: the history store {public_location(text)!r} is neither a path nor a URL pytest-athalia "
            "knows; give a file path, sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME."
        )
    if not text:
        raise HistoryError("athalia: the history store is an empty path; give a file path or a postgresql:// URL.")
    from ._sqlite import SqliteHistory

    return SqliteHistory.connect(Path(text).expanduser(), must_exist=must_exist)


def public_location(url_or_path: str) -> str:
    """`url_or_path` with any password masked (``postgresql://app:***@db/history``), for messages."""
    if "://" not in url_or_path:
        return url_or_path
    parts = urlsplit(url_or_path)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    masked = [(k, "***" if k.lower() == "password" else v) for k, v in query]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(masked, safe="*"), parts.fragment))
