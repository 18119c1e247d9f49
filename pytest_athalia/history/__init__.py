"""The deployment history: every run's JSON report appended to a store, SQLite by default, or PostgreSQL.

- :func:`run_record` turns a report (schema ``pytest-athalia/report/2``) into a :class:`RunRecord`;
- :func:`open_history` opens a :class:`HistoryStore` from a path or a URL;
- :func:`compute_rates` gives the success and rollback rates (:class:`Rates`) per environment.

See docs/history.md for the tables, the rates' definitions and the guarantees.
"""

from __future__ import annotations

from ._rates import Rates, compute_rates
from ._record import REPORT_SCHEMA, CheckValue, RunRecord, rolled_back_by_gate, run_record
from ._store import HistoryStore, open_history, public_location

__all__ = [
    "REPORT_SCHEMA",
    "CheckValue",
    "HistoryStore",
    "Rates",
    "RunRecord",
    "compute_rates",
    "open_history",
    "public_location",
    "rolled_back_by_gate",
    "run_record",
]
