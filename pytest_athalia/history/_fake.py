"""An in-memory history store with the real one's behaviour, for tests of what uses a store."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from .._errors import HistoryError
from ._rates import Rates, compute_rates
from ._record import RunRecord, run_record
from ._store import ClosingStore

__all__ = ["FakeHistoryStore"]


class FakeHistoryStore(ClosingStore):
    """Implements :class:`~._store.HistoryStore` in memory: idempotent on run id, oldest first by start time.

    ``fail`` makes every call raise :class:`HistoryError` with that text (a store that cannot be written);
    ``appended`` lists every report given to :meth:`append`, duplicates included; ``closed`` tells
    whether :meth:`close` was called.
    """

    def __init__(self, *, fail: str | None = None, location: str = "fake://history") -> None:
        self.location = location
        self.fail = fail
        self.appended: list[dict[str, Any]] = []
        self.closed = False
        self._kept: dict[str, tuple[int, RunRecord, str]] = {}

    def append(self, report: Mapping[str, Any]) -> None:
        self._check()
        record = run_record(report)
        self.appended.append(copy.deepcopy(dict(report)))
        if record.run_id not in self._kept:
            self._kept[record.run_id] = (len(self._kept), record, json.dumps(report))

    def runs(self, environment: str | None = None, limit: int | None = None) -> list[RunRecord]:
        return [record for record, _ in self._latest(environment, limit)]

    def reports(self, environment: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        return [json.loads(text) for _, text in self._latest(environment, limit)]

    def rates(self, environment: str | None = None) -> dict[str | None, Rates]:
        self._check()
        return compute_rates((r.environment, r.status, r.rolled_back) for r, _ in self._latest(environment, None))

    def close(self) -> None:
        self.closed = True

    def _latest(self, environment: str | None, limit: int | None) -> list[tuple[RunRecord, str]]:
        self._check()
        kept = sorted(self._kept.values(), key=lambda k: (k[1].started_at, k[0]))
        chosen = [(rec, text) for _, rec, text in kept if environment is None or rec.environment == environment]
        return chosen[max(len(chosen) - limit, 0) :] if limit is not None else chosen

    def _check(self) -> None:
        if self.fail is not None:
            raise HistoryError(self.fail)
