"""One run of the history, extracted from a JSON report (schema ``pytest-athalia/report/2``): a pure function.

Which report fields feed which column (the same names in :class:`RunRecord` and the ``runs`` table):

==================  ===================================================================================
column              from the report
==================  ===================================================================================
run_id              ``run.id``
environment         ``run.environment``
candidate_version   ``run.candidate.version``
candidate_image     ``run.candidate.image``
git_commit          ``run.git.commit``
ci_job, ci_url      ``run.ci.job``, ``run.ci.url``
started_at          ``run.started_at`` (required), ``finished_at`` from ``run.finished_at``
duration_s          ``run.duration_s``
status              ``run.status`` (required: passed, failed, interrupted or error)
exit_status         ``run.exit_status``
deploy_s            the largest measured check ``deploy`` (s); else the largest measured ``startup`` (s);
                    else ``run.startup.startup_s``. ``deploy_check`` says which: deploy, startup or null
switch_ms           the largest measured check ``switch_ms``
rollback_ms         the largest measured *gated* check ``rollback_ms`` (a threshold: the release's rollback);
                    else the largest measured recorded one (no threshold)
rolled_back         a failed test's timeline has an automatic ``rollback`` event (:func:`rolled_back_by_gate`)
passed, failed,     the checks whose verdict is pass, fail, inconclusive (the report's summary counts the
inconclusive        same)
checks              every check of every test, gated or recorded (the ``checks`` table)
==================  ===================================================================================

A run may hold several releases (the deployment suite rehearses one per test): a time is the worst of
them, the figure an SLO is about (the dashboard takes the same).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .._errors import HistoryError
from ..report._artifact import SCHEMA
from ..report._identity import STATUSES

__all__ = ["REPORT_SCHEMA", "STATUSES", "CheckValue", "RunRecord", "rolled_back_by_gate", "run_record"]

REPORT_SCHEMA = SCHEMA  # the report this history takes: the one the plugin writes

_FIX = f"The history takes JSON reports of schema {REPORT_SCHEMA!r} as pytest-athalia writes them"


@dataclass(frozen=True)
class CheckValue:
    """One check of a run (a row of the ``checks`` table); ``verdict`` is None for a recorded value."""

    nodeid: str
    name: str
    subject: str | None
    measured: float | None
    unit: str | None
    samples: int | None
    threshold: float | None
    comparison: str | None
    verdict: str | None


@dataclass(frozen=True)
class RunRecord:
    """One run of the history (a row of the ``runs`` table, with its checks)."""

    run_id: str
    environment: str | None
    candidate_version: str | None
    candidate_image: str | None
    git_commit: str | None
    ci_job: str | None
    ci_url: str | None
    started_at: datetime  # UTC
    finished_at: datetime | None
    duration_s: float | None
    status: str
    exit_status: int | None
    deploy_s: float | None
    deploy_check: str | None  # which check gave deploy_s: "deploy" or "startup"
    switch_ms: float | None
    rollback_ms: float | None
    rolled_back: bool
    passed: int
    failed: int
    inconclusive: int
    checks: tuple[CheckValue, ...]

    @property
    def succeeded(self) -> bool:
        return self.status == "passed"


def run_record(report: Mapping[str, Any]) -> RunRecord:
    """The history's view of one report; :class:`HistoryError` naming the field when the report does not fit."""
    if not isinstance(report, Mapping):
        raise HistoryError(f"athalia: a report must be a JSON object, got {type(report).__name__}. {_FIX}.")
    if report.get("schema") != REPORT_SCHEMA:
        raise HistoryError(
            f"athalia: the report's schema is {report.get('schema')!r}, expected {REPORT_SCHEMA!r}. {_FIX}; "
            "write the report again with this version of pytest-athalia."
        )
    run = _mapping(report, "run", "")
    run_id = _text(run, "id", "run.")
    if not run_id:
        raise HistoryError(f"athalia: the report's run.id is missing or empty. {_FIX}.")
    status = _text(run, "status", "run.")
    if status not in STATUSES:
        raise HistoryError(f"athalia: the report's run.status is {status!r}, expected one of {', '.join(STATUSES)}.")
    started = _time(run, "started_at")
    if started is None:
        raise HistoryError(f"athalia: the report's run.started_at is missing. {_FIX}.")
    candidate = _mapping(run, "candidate", "run.", optional=True)
    git = _mapping(run, "git", "run.", optional=True)
    ci = _mapping(run, "ci", "run.", optional=True)
    checks = tuple(_checks(report))
    deploy_s, deploy_check = _deploy(checks, _mapping(run, "startup", "run.", optional=True))
    rollbacks = [c for c in checks if c.name == "rollback_ms" and c.measured is not None]
    gated = [c for c in rollbacks if c.threshold is not None]
    verdicts = [c.verdict for c in checks]
    _check_timeline(report)  # rolled_back_by_gate passes over a damaged entry: here it names itself
    return RunRecord(
        run_id=run_id,
        environment=_opt_text(run, "environment", "run."),
        candidate_version=_opt_text(candidate, "version", "run.candidate."),
        candidate_image=_opt_text(candidate, "image", "run.candidate."),
        git_commit=_opt_text(git, "commit", "run.git."),
        ci_job=_opt_text(ci, "job", "run.ci."),
        ci_url=_opt_text(ci, "url", "run.ci."),
        started_at=started,
        finished_at=_time(run, "finished_at"),
        duration_s=_number(run, "duration_s", "run."),
        status=status,
        exit_status=_integer(run, "exit_status", "run."),
        deploy_s=deploy_s,
        deploy_check=deploy_check,
        switch_ms=_largest(checks, "switch_ms", "ms"),
        rollback_ms=_largest(gated or rollbacks, "rollback_ms", "ms"),
        rolled_back=rolled_back_by_gate(report),
        passed=verdicts.count("pass"),
        failed=verdicts.count("fail"),
        inconclusive=verdicts.count("inconclusive"),
        checks=checks,
    )


def _checks(report: Mapping[str, Any]) -> list[CheckValue]:
    out: list[CheckValue] = []
    for i, test in enumerate(_list(report, "tests", "")):
        where = f"tests[{i}]."
        test = _as_mapping(test, where.rstrip("."))
        nodeid = _text(test, "nodeid", where)
        for j, check in enumerate(_list(test, "checks", where)):
            at = f"{where}checks[{j}]."
            check = _as_mapping(check, at.rstrip("."))
            out.append(
                CheckValue(
                    nodeid=nodeid,
                    name=_text(check, "name", at),
                    subject=_opt_text(check, "subject", at),
                    measured=_number(check, "measured", at),
                    unit=_opt_text(check, "unit", at),
                    samples=_integer(check, "samples", at),
                    threshold=_number(check, "threshold", at),
                    comparison=_opt_text(check, "comparison", at),
                    verdict=_opt_text(check, "verdict", at),
                )
            )
    return out


def _deploy(checks: Sequence[CheckValue], startup: Mapping[str, Any]) -> tuple[float | None, str | None]:
    for name in ("deploy", "startup"):
        value = _largest(checks, name, "s")
        if value is not None:
            return value, name
    value = _number(startup, "startup_s", "run.startup.")
    return (value, "startup") if value is not None else (None, None)


def rolled_back_by_gate(report: Mapping[str, Any]) -> bool:
    """The run's candidate was rolled back automatically: a failed test's timeline has an automatic rollback.

    What the seed's rollback rate counts: a release a gate stopped. A drill's bad candidate is rolled back on
    purpose and its test passes when that happens; a rehearsed manual rollback is no gate's verdict: neither
    counts. Tolerant of a damaged report (the dashboard reads any document): what it cannot read is no rollback.
    """
    tests = report.get("tests")
    failed = {
        t.get("nodeid")
        for t in (tests if isinstance(tests, list) else [])
        if isinstance(t, Mapping) and t.get("outcome") in ("failed", "error") and t.get("nodeid")
    }
    timeline = report.get("timeline")
    for event in timeline if isinstance(timeline, list) else []:
        if not isinstance(event, Mapping) or event.get("event") != "rollback" or event.get("test") not in failed:
            continue
        if not str(event.get("detail") or "").startswith("manual"):
            return True
    return False


def _check_timeline(report: Mapping[str, Any]) -> None:
    for i, event in enumerate(_list(report, "timeline", "", optional=True)):
        _as_mapping(event, f"timeline[{i}]")


def _largest(checks: Sequence[CheckValue], name: str, unit: str) -> float | None:
    """The largest measured value of the checks called `name`, in `unit` (s, ms and min convert; others are left)."""
    return max(
        (
            c.measured * _SECONDS[c.unit or unit] / _SECONDS[unit]
            for c in checks
            if c.name == name and c.measured is not None and (c.unit or unit) in _SECONDS
        ),
        default=None,
    )


_SECONDS = {"ms": 0.001, "s": 1.0, "min": 60.0}


# -- typed access: a field of the wrong type names itself ------------------------------------------


def _wrong(where: str, value: Any, expected: str) -> HistoryError:
    return HistoryError(f"athalia: the report's {where} is {value!r}, expected {expected}. {_FIX}.")


def _as_mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _wrong(where, value, "an object")
    return value


def _mapping(obj: Mapping[str, Any], key: str, prefix: str, *, optional: bool = False) -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None and optional:
        return {}
    return _as_mapping(value, prefix + key)


def _list(obj: Mapping[str, Any], key: str, prefix: str, *, optional: bool = False) -> list[Any]:
    value = obj.get(key)
    if value is None and optional:
        return []
    if not isinstance(value, list):
        raise _wrong(prefix + key, value, "a list")
    return value


def _text(obj: Mapping[str, Any], key: str, prefix: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise _wrong(prefix + key, value, "a string")
    return value


def _opt_text(obj: Mapping[str, Any], key: str, prefix: str) -> str | None:
    return None if obj.get(key) is None else _text(obj, key, prefix)


def _number(obj: Mapping[str, Any], key: str, prefix: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong(prefix + key, value, "a number or null")
    return float(value)


def _integer(obj: Mapping[str, Any], key: str, prefix: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(prefix + key, value, "an integer or null")
    return value


def _time(run: Mapping[str, Any], key: str) -> datetime | None:
    text = _opt_text(run, key, "run.")
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _wrong("run." + key, text, "an RFC 3339 time such as 2026-12-05T06:11:12.123Z") from None
    if value.tzinfo is None:
        raise _wrong("run." + key, text, "an RFC 3339 time with its offset (Z for UTC)")
    return value.astimezone(UTC)
