"""The terminal's "athalia gates" table, drawn from the JSON report itself so both show the same figures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._slo import check_label, figure

__all__ = ["gate_lines"]


def gate_lines(report: Mapping[str, Any], report_path: str) -> list[str]:
    """One line per gated check (recorded values are not gates), then the counts and where the report is."""
    lines: list[str] = []
    for test in report["tests"]:
        for check in test["checks"]:
            verdict = check["verdict"]
            if verdict is None:
                continue
            unit = check["unit"] or ""
            threshold = f"threshold {check['comparison'] or ''} {_shown(check['threshold'])} {unit}"
            if check["measured"] is not None:
                line = f"measured {_shown(check['measured'])} {unit}, {threshold}, {check['samples']} sample(s)"
            else:  # nothing measured: say why in words, not "measured nothing s"
                line = f"nothing measured, {threshold}: {check['reason'] or 'no value was measured'}"
            lines.append(f"{verdict.upper():5} {check_label(check['name'], check['subject'] or '')}: {line}")
    summary = report["summary"]
    lines.append(
        f"{summary['checks']} checks: {summary['passed']} passed, {summary['failed']} failed, "
        f"{summary['inconclusive']} inconclusive"
        + (f", {summary['not_measured']} not measured" if summary["not_measured"] else "")
        + f"; report {report_path}"
    )
    return lines


def _shown(value: float | None) -> str:
    return "" if value is None else figure(value)
