"""``athalia report``: read the history and the last report, write the dashboard page atomically."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from .._errors import DashboardError
from .._extras import install_command
from ..report._artifact import SCHEMA, write_atomically
from ._data import prepare
from ._page import render_page

__all__ = [
    "DEFAULT_HISTORY",
    "DEFAULT_OUTPUT",
    "DEFAULT_REPORT",
    "DashboardRequest",
    "ReportSource",
    "make_dashboard",
    "read_report",
]

DEFAULT_HISTORY = "reports/history.sqlite"
DEFAULT_REPORT = Path("reports/athalia.json")
DEFAULT_OUTPUT = Path("reports/dashboard.html")


class ReportSource(Protocol):
    """What the dashboard needs of the history store (pytest_athalia.history's HistoryStore)."""

    def reports(self, environment: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The stored report documents, oldest first (the newest `limit` of them)."""
        ...

    def close(self) -> None: ...


OpenHistory = Callable[[str], ReportSource]


@dataclass(frozen=True)
class DashboardRequest:
    """The command's options; None means the default, which may be missing (an explicit path may not)."""

    history: str | None = None
    report: Path | None = None
    environment: str | None = None
    limit: int | None = None
    output: Path = DEFAULT_OUTPUT


def make_dashboard(request: DashboardRequest, *, open_history: OpenHistory | None = None) -> Path:
    """Write the dashboard of `request` and return its path. Raises DashboardError with the fix."""
    try:
        from ._charts import build_charts, plotly_script
    except ImportError as exc:
        raise DashboardError(
            f"athalia report draws its charts with plotly, which is not installed ({exc}). "
            f"Install the report extra: {install_command('report')}."
        ) from exc
    if request.limit is not None and request.limit < 1:
        raise DashboardError(f"athalia report --limit {request.limit}: give a number of runs of at least 1.")
    history = _history(request, open_history or _open_history)
    last = _last_report(request.report)
    data = prepare(history, last, environment=request.environment, limit=request.limit)
    if not data.runs:
        raise DashboardError(_no_runs(request))
    charts = build_charts(data)
    page = render_page(data, {k: c.html for k, c in charts.items()}, plotly_script(), generated_at=datetime.now(tz=UTC))
    write_atomically(request.output, page)
    return request.output


def read_report(path: Path) -> dict[str, Any]:
    """The report at `path`, checked to be a v2 report (the dashboard reads no other)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DashboardError(
            f"athalia report --report {path}: no such file. Give the JSON report of a run "
            "(pytest writes reports/athalia.json), or leave --report out to use the history's last run."
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DashboardError(
            f"athalia report --report {path}: cannot read it as JSON ({exc}). Give the JSON report pytest-athalia "
            "wrote (reports/athalia.json), or run pytest again to write a new one."
        ) from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise DashboardError(
            f"athalia report --report {path}: expected a report of schema {SCHEMA!r}, found "
            f"{found!r}. Run pytest with this version of pytest-athalia to write one."
        )
    return doc


def _history(request: DashboardRequest, open_history: OpenHistory) -> list[dict[str, Any]]:
    location = request.history or DEFAULT_HISTORY
    if "://" not in location and not Path(location).exists():
        if request.history is None:
            return []  # no history yet: the last report alone makes a dashboard
        raise DashboardError(
            f"athalia report --history {location}: no such file. Give the history store pytest-athalia "
            f"appends every run to (default {DEFAULT_HISTORY}), or a PostgreSQL URL."
        )
    store = open_history(location)
    try:
        return store.reports(environment=request.environment, limit=request.limit)
    finally:
        store.close()


def _last_report(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        if not DEFAULT_REPORT.exists():
            return None
        path = DEFAULT_REPORT
    return read_report(path)


def _no_runs(request: DashboardRequest) -> str:
    sources = f"history {request.history or DEFAULT_HISTORY}, report {request.report or DEFAULT_REPORT}"
    if request.environment is not None:
        return (
            f"athalia report --env {request.environment}: no run of that environment ({sources}). "
            "Leave --env out to show every environment, or name one that has runs."
        )
    return (
        f"athalia report: no runs to show ({sources}: both missing or empty). Run pytest with "
        "--athalia-env=NAME first, or point --history and --report at a store and a report."
    )


def _open_history(location: str) -> ReportSource:
    from ..history import open_history  # here: it loads a database driver

    return open_history(location)
