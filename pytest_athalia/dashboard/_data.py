"""From v2 report documents to the dashboard's frozen values: a pure step, no plotly, no files.

Reports are parsed JSON (``pytest-athalia/report/2``, see docs/reports.md). A field that is absent or
of the wrong type reads as unknown (``None``) rather than failing: a dashboard of a long history
should show the runs it can, and say "—" for what a run did not record.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .._errors import HistoryError
from ..history._rates import compute_rates
from ..history._record import RunRecord, rolled_back_by_gate, run_record

__all__ = [
    "TREND_METRICS",
    "DashboardData",
    "EnvRates",
    "Gate",
    "LastRun",
    "LoadSeries",
    "RunRow",
    "Summary",
    "TestResult",
    "TimelineEvent",
    "Trend",
    "TrendPoint",
    "prepare",
    "time_range",
]

NO_ENVIRONMENT = "(none)"

# The well-known checks a dashboard may rely on (docs/reports.md): name, the unit shown, what it is.
TREND_METRICS: tuple[tuple[str, str, str], ...] = (
    ("deploy", "s", "Deploy time"),
    ("switch_ms", "ms", "Switch time"),
    ("rollback_ms", "ms", "Rollback time"),
)
# Points closer than this give plotly a range of milliseconds: the x axis is padded to a day instead.
_NARROW = timedelta(minutes=1)
_PAD = timedelta(hours=12)


@dataclass(frozen=True)
class RunRow:
    """One run of the history table; its times are the history's (history/_record.py: the largest of the run)."""

    run_id: str
    started_at: datetime | None
    environment: str
    version: str | None
    commit: str | None
    ci_job: str | None
    ci_url: str | None
    status: str  # "passed" | "failed" | "interrupted" | "error" | "unknown"
    rolled_back: bool
    deploy_s: float | None
    switch_ms: float | None
    rollback_ms: float | None
    failed_checks: int


@dataclass(frozen=True)
class EnvRates:
    environment: str
    runs: int
    passed: int
    rolled_back: int

    @property
    def success_rate(self) -> float:
        return self.passed / self.runs if self.runs else 0.0

    @property
    def rollback_rate(self) -> float:
        return self.rolled_back / self.runs if self.runs else 0.0


@dataclass(frozen=True)
class TrendPoint:
    started_at: datetime
    value: float
    run_id: str
    status: str


@dataclass(frozen=True)
class Trend:
    """One metric over time, a line per environment (environments sorted, points oldest first)."""

    check: str
    unit: str
    title: str
    lines: tuple[tuple[str, tuple[TrendPoint, ...]], ...]

    @property
    def empty(self) -> bool:
        return not any(points for _, points in self.lines)


@dataclass(frozen=True)
class Gate:
    """One check of the last run, as the gates table shows it."""

    nodeid: str
    check: str
    subject: str | None
    verdict: str | None  # None: a recorded value, not gated
    measured: float | None
    unit: str
    comparison: str | None
    threshold: float | None
    samples: int | None
    window: str | None
    reason: str | None


@dataclass(frozen=True)
class TestResult:
    """One test of the last run and its checks, in the report's order."""

    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: str  # "passed" | "failed" | "skipped" | "error" | ... | "unknown"
    duration_s: float | None
    reason: str | None  # why it was skipped (or xfailed)
    gates: tuple[Gate, ...]


@dataclass(frozen=True)
class LoadSeries:
    """The last run's ``series`` named "load": one value per row, None where the column is absent or null."""

    t_s: tuple[float, ...]
    users: tuple[float | None, ...]
    rps: tuple[float | None, ...]
    p95_ms: tuple[float | None, ...]
    failures_per_s: tuple[float | None, ...]


@dataclass(frozen=True)
class TimelineEvent:
    t_s: float
    event: str
    detail: str | None
    test: str | None = None  # the nodeid of the test that recorded it


@dataclass(frozen=True)
class Summary:
    tests: int
    skipped: int
    checks: int
    passed: int
    failed: int
    inconclusive: int
    not_measured: int


@dataclass(frozen=True)
class LastRun:
    row: RunRow
    finished_at: datetime | None
    duration_s: float | None
    summary: Summary
    tests: tuple[TestResult, ...]
    load: LoadSeries | None
    timeline: tuple[TimelineEvent, ...]

    @property
    def gates(self) -> tuple[Gate, ...]:
        """Every check of every test, in the report's order."""
        return tuple(g for t in self.tests for g in t.gates)


@dataclass(frozen=True)
class DashboardData:
    runs: tuple[RunRow, ...]  # oldest first
    rates: tuple[EnvRates, ...]  # environments sorted
    trends: tuple[Trend, ...]  # in TREND_METRICS order
    last: LastRun | None
    environment: str | None  # the filter, if any


def prepare(
    history: Sequence[Mapping[str, Any]],
    last: Mapping[str, Any] | None = None,
    *,
    environment: str | None = None,
    limit: int | None = None,
) -> DashboardData:
    """The dashboard of `history` (oldest first) and the `last` run's report.

    `last` joins the history unless a run of the same id is already there (the history store may
    hold it already). With `environment`, only that environment's runs count, and a `last` of
    another environment is replaced by the newest run of this one. `limit` keeps the newest runs.
    """
    docs = list(history)
    ids = {_run_id(d) for d in docs}
    if last is not None and _run_id(last) not in ids:
        docs.append(last)
    if environment is not None:
        docs = [d for d in docs if _environment(d) == environment]
        if last is not None and _environment(last) != environment:
            last = None
    docs.sort(key=_start_key)  # stable: documents without a start keep their place before the dated ones
    if limit is not None:
        docs = docs[-limit:] if limit > 0 else []
    if last is None and docs:
        last = docs[-1]
    runs = tuple(run_row(d) for d in docs)
    return DashboardData(
        runs=runs,
        rates=rates(runs),
        trends=tuple(trend(runs, check, unit, title) for check, unit, title in TREND_METRICS),
        last=None if last is None else last_run(last),
        environment=environment,
    )


def run_row(doc: Mapping[str, Any]) -> RunRow:
    """A run as the history sees it (its times and whether a gate rolled it back: history/_record.py), read
    tolerantly: a document the history would refuse shows what it has, and no times."""
    run = _map(doc.get("run"))
    candidate, git, ci = _map(run.get("candidate")), _map(run.get("git")), _map(run.get("ci"))
    checks = list(_checks(doc))
    status = _str(run.get("status")) or "unknown"
    try:
        record: RunRecord | None = run_record(doc)
    except HistoryError:
        record = None
    return RunRow(
        run_id=_run_id(doc),
        started_at=_time(run.get("started_at")),
        environment=_environment(doc),
        version=_str(candidate.get("version")),
        commit=_str(git.get("commit")),
        ci_job=_str(ci.get("job")),
        ci_url=_web_url(ci.get("url")),
        status=status,
        rolled_back=rolled_back_by_gate(doc),
        # The trend is of releases: a run without one (the history's fallback on its startup) draws no point.
        deploy_s=record.deploy_s if record is not None and record.deploy_check == "deploy" else None,
        switch_ms=None if record is None else record.switch_ms,
        rollback_ms=None if record is None else record.rollback_ms,
        failed_checks=sum(1 for c in checks if c.get("verdict") == "fail"),
    )


def rates(runs: Iterable[RunRow]) -> tuple[EnvRates, ...]:
    """The history's rates per environment: over completed runs (an interrupted run says nothing)."""
    computed = compute_rates((row.environment, row.status, row.rolled_back) for row in runs)
    return tuple(EnvRates(env or "", r.completed, r.passed, r.rolled_back) for env, r in computed.items())


def trend(runs: Iterable[RunRow], check: str, unit: str, title: str) -> Trend:
    field = {"deploy": "deploy_s", "switch_ms": "switch_ms", "rollback_ms": "rollback_ms"}[check]
    lines: dict[str, list[TrendPoint]] = {}
    for row in runs:
        value = getattr(row, field)
        if value is not None and row.started_at is not None:
            lines.setdefault(row.environment, []).append(TrendPoint(row.started_at, value, row.run_id, row.status))
    return Trend(check, unit, title, tuple((env, tuple(lines[env])) for env in sorted(lines)))


def time_range(trend: Trend) -> tuple[datetime, datetime] | None:
    """The x range of `trend` when its points fall within a minute (one run, say): a day around them.

    None otherwise: plotly's own range fits many runs well, but stretches one point over milliseconds.
    """
    times = [p.started_at for _, points in trend.lines for p in points]
    if not times or max(times) - min(times) >= _NARROW:
        return None
    middle = min(times) + (max(times) - min(times)) / 2
    return middle - _PAD, middle + _PAD


def last_run(doc: Mapping[str, Any]) -> LastRun:
    run = _map(doc.get("run"))
    summary = _map(doc.get("summary"))
    counts = (_int(summary.get(k)) or 0 for k in Summary.__dataclass_fields__)
    return LastRun(
        row=run_row(doc),
        finished_at=_time(run.get("finished_at")),
        duration_s=_num(run.get("duration_s")),
        summary=Summary(*counts),
        tests=tuple(map(_test, _list(doc.get("tests")))),
        load=load_series(doc),
        timeline=tuple(
            sorted(
                (
                    TimelineEvent(t, _str(e.get("event")) or "?", _str(e.get("detail")), _str(e.get("test")))
                    for e in map(_map, _list(doc.get("timeline")))
                    if (t := _num(e.get("t_s"))) is not None
                ),
                key=lambda e: e.t_s,
            )
        ),
    )


def load_series(doc: Mapping[str, Any]) -> LoadSeries | None:
    """The series named "load", by column name (columns may come in any order); None without one."""
    for series in map(_map, _list(doc.get("series"))):
        if series.get("name") != "load":
            continue
        columns = [c if isinstance(c, str) else "" for c in _list(series.get("columns"))]
        rows = [r for r in _list(series.get("rows")) if isinstance(r, list)]

        def column(name: str, rows: list[list[Any]] = rows, columns: list[str] = columns) -> list[float | None]:
            if name not in columns:
                return [None] * len(rows)
            i = columns.index(name)
            return [_num(r[i]) if i < len(r) else None for r in rows]

        t = column("t_s")
        keep = [i for i, v in enumerate(t) if v is not None]

        def kept(values: list[float | None], keep: list[int] = keep) -> tuple[float | None, ...]:
            return tuple(values[i] for i in keep)

        return LoadSeries(
            t_s=tuple(v for v in t if v is not None),
            users=kept(column("users")),
            rps=kept(column("rps")),
            p95_ms=kept(column("p95_ms")),
            failures_per_s=kept(column("failures_per_s")),
        )
    return None


def _test(test: Any) -> TestResult:
    test = _map(test)
    return TestResult(
        nodeid=_str(test.get("nodeid")) or "?",
        outcome=_str(test.get("outcome")) or "unknown",
        duration_s=_num(test.get("duration_s")),
        reason=_str(test.get("reason")),
        gates=tuple(_gate(test, check) for check in _list(test.get("checks"))),
    )


def _gate(test: Any, check: Any) -> Gate:
    test, check = _map(test), _map(check)
    return Gate(
        nodeid=_str(test.get("nodeid")) or "?",
        check=_str(check.get("name")) or "?",
        subject=_str(check.get("subject")),
        verdict=_str(check.get("verdict")),
        measured=_num(check.get("measured")),
        unit=_str(check.get("unit")) or "",
        comparison=_str(check.get("comparison")),
        threshold=_num(check.get("threshold")),
        samples=_int(check.get("samples")),
        window=_str(check.get("window")),
        reason=_str(check.get("reason")),
    )


def _checks(doc: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for test in _list(doc.get("tests")):
        yield from map(_map, _list(_map(test).get("checks")))


def _run_id(doc: Mapping[str, Any]) -> str:
    return _str(_map(doc.get("run")).get("id")) or f"#{id(doc)}"


def _environment(doc: Mapping[str, Any]) -> str:
    return _str(_map(doc.get("run")).get("environment")) or NO_ENVIRONMENT


def _start_key(doc: Mapping[str, Any]) -> tuple[int, datetime | None]:
    started = _time(_map(doc.get("run")).get("started_at"))
    return (0, None) if started is None else (1, started)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # A naive time is taken as UTC (the contract says UTC), so that every time compares with the rest.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _web_url(value: Any) -> str | None:
    """Only http(s) links become links: a report's URL must not run script (``javascript:``)."""
    url = _str(value)
    return url if url is not None and url.lower().startswith(("https://", "http://")) else None


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
