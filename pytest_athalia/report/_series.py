"""Time series and timeline events of a run, as frozen values and as the properties that carry them.

A test records them on its report (``athalia.series.<name>``, ``athalia.timeline``: compact JSON),
so they reach the controller under pytest-xdist as the checks do, and the JSON report lists them.
Both are bounded: a series keeps at most :data:`MAX_ROWS` rows (evenly thinned, first and last
kept), a timeline at most :data:`MAX_EVENTS` events (the first ones), so a long run cannot grow the
JUnit file without limit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._slo import check_name_problem

__all__ = [
    "MAX_EVENTS",
    "MAX_ROWS",
    "SERIES_PREFIX",
    "TIMELINE_PROPERTY",
    "Cell",
    "Series",
    "TimelineEvent",
    "decode_series",
    "decode_timeline",
    "series_property",
    "timeline_property",
]

SERIES_PREFIX = "athalia.series."
TIMELINE_PROPERTY = "athalia.timeline"
MAX_ROWS = 3600  # an hour of per-second rows
MAX_EVENTS = 500

Cell = float | int | None


@dataclass(frozen=True)
class Series:
    """A table over time: the first column is the time (``t_s``), one row per point."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    unit_of_t: str = "s"

    def __post_init__(self) -> None:
        problem = check_name_problem(self.name)
        if problem is not None:
            raise ValueError(problem.replace("check name", "series name"))
        if not self.columns:
            raise ValueError(f"series {self.name!r} needs at least one column (the time)")
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(
                    f"series {self.name!r}: a row of {len(row)} values for {len(self.columns)} columns {self.columns}"
                )

    def bounded(self, limit: int = MAX_ROWS) -> Series:
        """At most `limit` rows: every k-th row, the first and the last kept."""
        if len(self.rows) <= limit:
            return self
        step = (len(self.rows) - 1) / (limit - 1)
        picked = tuple(self.rows[round(i * step)] for i in range(limit))
        return Series(self.name, self.columns, picked, self.unit_of_t)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit_of_t": self.unit_of_t,
            "columns": list(self.columns),
            "rows": [list(row) for row in self.rows],
        }


@dataclass(frozen=True)
class TimelineEvent:
    """Something that happened, `t_s` seconds after its release started."""

    t_s: float
    event: str
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"t_s": round(self.t_s, 3), "event": self.event, "detail": self.detail or None}


def _cell(value: Cell) -> Cell:
    # JSON has no NaN or infinity: a value that is not a finite number is absent.
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return round(value, 6) if math.isfinite(value) else None


def series_property(series: Series) -> tuple[str, str]:
    """``("athalia.series.<name>", compact JSON)``, bounded to :data:`MAX_ROWS` rows."""
    bounded = series.bounded()
    data = bounded.as_json()
    data["rows"] = [[_cell(v) for v in row] for row in bounded.rows]
    return f"{SERIES_PREFIX}{series.name}", _dumps(data)


def timeline_property(events: Sequence[TimelineEvent]) -> tuple[str, str]:
    """``("athalia.timeline", compact JSON)`` of the first :data:`MAX_EVENTS` events, in time order."""
    ordered = sorted(events, key=lambda e: e.t_s)[:MAX_EVENTS]
    return TIMELINE_PROPERTY, _dumps([e.as_json() for e in ordered])


def decode_series(name: str, text: str) -> dict[str, Any] | None:
    """The series a property holds, as JSON data; None when it is not one (a foreign or damaged value)."""
    data = _loads(text)
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("columns"), list)
        or not isinstance(data.get("rows"), list)
    ):
        return None
    columns = [str(c) for c in data["columns"]]
    rows = [
        [_cell(v) if isinstance(v, int | float) else None for v in row] for row in data["rows"] if isinstance(row, list)
    ]
    return {
        "name": name,
        "unit_of_t": str(data.get("unit_of_t") or "s"),
        "columns": columns,
        "rows": [row for row in rows if len(row) == len(columns)][:MAX_ROWS],
    }


def decode_timeline(text: str) -> list[dict[str, Any]]:
    """The events a property holds, as JSON data; damaged entries are dropped."""
    data = _loads(text)
    events = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("t_s"), int | float) or not item.get("event"):
            continue
        detail = item.get("detail")
        events.append(
            {"t_s": float(item["t_s"]), "event": str(item["event"]), "detail": None if detail is None else str(detail)}
        )
    return events[:MAX_EVENTS]


def _dumps(data: object) -> str:
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
