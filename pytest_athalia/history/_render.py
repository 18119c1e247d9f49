"""What ``athalia history`` prints: the last runs of each environment and its rates, as text or JSON (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

from ._rates import Rates
from ._record import RunRecord

__all__ = ["history_json", "history_text", "run_json"]

_HEAD = ("started (UTC)", "run", "version", "status", "deploy", "switch", "rollback", "gates")


def run_json(run: RunRecord) -> dict[str, Any]:
    """A run's columns as JSON (times in RFC 3339 UTC), without its checks."""
    return {
        "run_id": run.run_id,
        "environment": run.environment,
        "candidate_version": run.candidate_version,
        "candidate_image": run.candidate_image,
        "git_commit": run.git_commit,
        "ci_job": run.ci_job,
        "ci_url": run.ci_url,
        "started_at": _iso(run.started_at),
        "finished_at": None if run.finished_at is None else _iso(run.finished_at),
        "duration_s": run.duration_s,
        "status": run.status,
        "exit_status": run.exit_status,
        "deploy_s": run.deploy_s,
        "deploy_check": run.deploy_check,
        "switch_ms": run.switch_ms,
        "rollback_ms": run.rollback_ms,
        "rolled_back": run.rolled_back,
        "passed": run.passed,
        "failed": run.failed,
        "inconclusive": run.inconclusive,
    }


def history_json(location: str, groups: Mapping[str | None, tuple[Rates, Sequence[RunRecord]]]) -> dict[str, Any]:
    """``{"store": ..., "environments": [{rates..., "runs": [...]}]}``, runs oldest first."""
    return {
        "store": location,
        "environments": [{**rates.as_json(), "runs": [run_json(r) for r in runs]} for rates, runs in groups.values()],
    }


def history_text(location: str, groups: Mapping[str | None, tuple[Rates, Sequence[RunRecord]]]) -> list[str]:
    """Per environment: a line of rates, then a table of its last runs, oldest first."""
    lines = [f"history {location}"]
    if not groups:
        return [*lines, "no runs recorded"]
    for rates, runs in groups.values():
        lines.append("")
        lines.append(_rates_line(rates) + (f"; the last {len(runs)}:" if len(runs) < rates.runs else ":"))
        rows = [_HEAD, *(_row(r) for r in runs)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_HEAD))]
        lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return lines


def _rates_line(rates: Rates) -> str:
    name = rates.environment if rates.environment is not None else "(no environment)"
    return (
        f"{name}: {rates.runs} run(s), success {_rate(rates.success_rate, rates.passed, rates.completed)}, "
        f"rollback {_rate(rates.rollback_rate, rates.rolled_back, rates.completed)}"
        + (f", {rates.interrupted} interrupted" if rates.interrupted else "")
    )


def _rate(rate: float | None, part: int, whole: int) -> str:
    return "n/a (no completed run)" if rate is None else f"{rate:.0%} ({part}/{whole})"


def _row(run: RunRecord) -> tuple[str, ...]:
    deploy = _figure(run.deploy_s, "s") + (" (startup)" if run.deploy_check == "startup" else "")
    rollback = _figure(run.rollback_ms, "ms") if run.rollback_ms is not None else ("yes" if run.rolled_back else "-")
    gates = f"{run.passed} passed, {run.failed} failed" + (
        f", {run.inconclusive} inconclusive" if run.inconclusive else ""
    )
    return (
        run.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        run.run_id[:8],
        run.candidate_version or "-",
        run.status,
        deploy,
        _figure(run.switch_ms, "ms"),
        rollback,
        gates,
    )


def _figure(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.3g} {unit}" if value < 1000 else f"{value:.0f} {unit}"


def _iso(value: Any) -> str:
    text: str = value.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
