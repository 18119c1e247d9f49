"""The gate summary for pipelines and metrics: Markdown and the Prometheus text format, from the JSON report.

Both renderers are pure functions over the report (schema ``pytest-athalia/report/2``, parsed JSON), so
the terminal, the JSON, the Markdown and the ``.prom`` file show the same figures. ``write_summaries``
writes them at the end of a run: ``<report>.prom`` beside the JSON report (for node_exporter's textfile
collector or a push to a Pushgateway) and, when ``$GITHUB_STEP_SUMMARY`` is set, the Markdown appended
to the job's summary page. See docs/ci.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ._artifact import SCHEMA, write_atomically
from ._identity import STATUSES
from ._slo import figure

__all__ = ["markdown_summary", "prometheus_text", "write_summaries"]

STEP_SUMMARY = "GITHUB_STEP_SUMMARY"
_VERDICT_ORDER = {"fail": 0, "inconclusive": 1, "not measured": 2, "pass": 3}
_VERDICT_MARK = {
    "pass": "✅ pass",
    "fail": "❌ **fail**",
    "inconclusive": "⚠️ inconclusive",
    "not measured": "⏸️ not measured",
}


# -- shared reading of the report ---------------------------------------------------------------------------


def _checks(report: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(nodeid, check) for every check of every test, in the report's order."""
    for test in report.get("tests") or ():
        for check in test.get("checks") or ():
            yield str(test.get("nodeid", "")), check


# -- Markdown ------------------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    # A table cell is one line; a pipe would end it.
    return " ".join(str(value).split()).replace("\\", "\\\\").replace("|", "\\|")


def _code(value: object) -> str:
    # Inside a code span only the table's pipe needs its escape (GFM reads it before the span).
    text = " ".join(str(value).split())
    return f"`{text.replace('|', chr(92) + '|')}`" if text and "`" not in text else _cell(text)


def _identity(run: Mapping[str, Any]) -> list[str]:
    parts = []
    candidate = run.get("candidate") or {}
    if candidate.get("version") or candidate.get("image"):
        what = " ".join(x for x in (candidate.get("version"), _code(candidate.get("image") or "")) if x)
        if candidate.get("previous"):
            what += f" (previous {candidate['previous']})"
        parts.append(f"candidate {what}")
    git = run.get("git") or {}
    if git.get("commit"):
        parts.append(
            f"commit {_code(str(git['commit'])[:12])}" + (f" on {_code(git['branch'])}" if git.get("branch") else "")
        )
    ci = run.get("ci") or {}
    if ci.get("job") or ci.get("url"):
        job = _cell(ci.get("job") or "job")
        parts.append(f"[{job}]({ci['url']})" if ci.get("url") else job)
    if run.get("host"):
        parts.append(f"host {_code(run['host'])}")
    if run.get("duration_s") is not None:
        parts.append(f"{figure(run['duration_s'])} s")
    if run.get("exit_status") is not None:
        parts.append(f"exit {run['exit_status']}")
    if run.get("id"):
        parts.append(f"run {_code(run['id'])}")
    return parts


def _measured(check: Mapping[str, Any]) -> str:
    if check.get("measured") is None:
        return "nothing measured"
    return f"{figure(check['measured'])} {check.get('unit') or ''}".strip()


def _threshold(check: Mapping[str, Any]) -> str:
    if check.get("threshold") is None:
        return ""
    return f"{check.get('comparison') or ''} {figure(check['threshold'])} {check.get('unit') or ''}".strip()


def markdown_summary(report: Mapping[str, Any]) -> str:
    """A Markdown summary of a run: its identity, the totals, and a table of its gates (the failures first).

    Recorded values (no threshold, no verdict) follow in a table of their own.
    """
    run = report.get("run") or {}
    summary = report.get("summary") or {}
    environment = run.get("environment") or "no environment"
    status = run.get("status") or "unknown"
    lines = [f"## athalia: {_cell(environment)}, {_cell(status)}", ""]
    identity = _identity(run)
    if identity:
        lines += [" · ".join(identity), ""]
    lines += [
        f"**{summary.get('tests', 0)} tests** ({summary.get('skipped', 0)} skipped) · "
        f"**{summary.get('checks', 0)} checks**: {summary.get('passed', 0)} passed, {summary.get('failed', 0)} failed, "
        f"{summary.get('inconclusive', 0)} inconclusive, {summary.get('not_measured', 0)} not measured",
        "",
    ]
    gates = [(nodeid, c) for nodeid, c in _checks(report) if c.get("verdict") is not None]
    recorded = [(nodeid, c) for nodeid, c in _checks(report) if c.get("verdict") is None]
    if gates:
        gates.sort(key=lambda item: _VERDICT_ORDER.get(str(item[1]["verdict"]), -1))  # stable: report order within
        lines += [
            "| verdict | check | subject | measured | threshold | samples | test |",
            "|---|---|---|---|---|---:|---|",
        ]
        for nodeid, check in gates:
            verdict = str(check["verdict"])
            reason = f" ({_cell(check['reason'])})" if check.get("reason") and verdict != "pass" else ""
            lines.append(
                f"| {_VERDICT_MARK.get(verdict, _cell(verdict))} | {_code(check.get('name', ''))} "
                f"| {_cell(check.get('subject') or '')} | {_cell(_measured(check))}{reason} "
                f"| {_cell(_threshold(check))} | {check.get('samples', 0)} | {_code(nodeid)} |"
            )
        lines.append("")
    else:
        lines += ["No gate was judged in this run.", ""]
    if recorded:
        lines += [
            "Recorded values (not gated):",
            "",
            "| check | subject | measured | samples | test |",
            "|---|---|---|---:|---|",
        ]
        for nodeid, check in recorded:
            lines.append(
                f"| {_code(check.get('name', ''))} | {_cell(check.get('subject') or '')} | {_cell(_measured(check))} "
                f"| {check.get('samples', 0)} | {_code(nodeid)} |"
            )
        lines.append("")
    return "\n".join(lines)


# -- Prometheus text exposition format 0.0.4 -----------------------------------------------------------------

_CHECK_LABELS = ("environment", "test", "check", "subject", "unit")


def _label_value(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Sequence[tuple[str, object]]) -> str:
    return "{" + ",".join(f'{name}="{_label_value(value)}"' for name, value in pairs) + "}"


def _value(value: float | int) -> str:
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


def _timestamp(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class _Metrics:
    """Metric families in the order they are declared; samples in the order they are added."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[str, dict[str, str]]] = {}

    def family(self, name: str, text: str) -> None:
        self._families[name] = (text, {})

    def add(self, name: str, labels: Sequence[tuple[str, object]], value: float | int) -> None:
        # One sample per label set: a repeated (test, check, subject) keeps its last value.
        self._families[name][1][_labels(labels)] = _value(value)

    def render(self) -> str:
        out = []
        for name, (text, samples) in self._families.items():
            if not samples:
                continue
            help_text = text.replace("\\", "\\\\").replace("\n", "\\n")
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            out += [f"{name}{labels} {value}" for labels, value in samples.items()]
        return "\n".join(out) + "\n" if out else ""


def prometheus_text(report: Mapping[str, Any]) -> str:
    """The run's figures in the Prometheus text format (0.0.4), every metric a gauge, in a stable order.

    Checks are labelled by environment, test (nodeid), check, subject and unit; a value that is null in
    the report (nothing measured, no threshold, a recorded value's verdict) has no sample.
    """
    run = report.get("run") or {}
    environment = run.get("environment") or ""
    metrics = _Metrics()
    metrics.family("athalia_run_info", "Identity of the last athalia run (always 1).")
    metrics.family(
        "athalia_run_status", "1 for the run's status (passed, failed, interrupted, error), 0 for the others."
    )
    metrics.family("athalia_run_exit_status", "pytest's exit status of the run.")
    metrics.family("athalia_run_duration_seconds", "Duration of the run in seconds.")
    metrics.family("athalia_run_timestamp_seconds", "End of the run, in seconds since the Unix epoch.")
    metrics.family("athalia_run_tests", "Tests of the run, by outcome (all, skipped).")
    metrics.family(
        "athalia_run_checks", "Gated checks of the run, by verdict (all, passed, failed, inconclusive, not_measured)."
    )
    metrics.family("athalia_check_measured", "Value a check measured, in its unit.")
    metrics.family("athalia_check_threshold", "Threshold of a gated check, in its unit.")
    metrics.family(
        "athalia_check_passed", "1 when a gated check passed, 0 when it failed, was inconclusive or measured nothing."
    )
    metrics.family("athalia_check_samples", "Samples a check's value is computed from.")

    candidate = run.get("candidate") or {}
    git = run.get("git") or {}
    ci = run.get("ci") or {}
    info = {
        "environment": environment,
        "run_id": run.get("id"),
        "version": candidate.get("version"),
        "image": candidate.get("image"),
        "previous": candidate.get("previous"),
        "commit": git.get("commit"),
        "branch": git.get("branch"),
        "ci_provider": ci.get("provider"),
        "ci_job": ci.get("job"),
        "host": run.get("host"),
    }
    metrics.add("athalia_run_info", [(k, "" if v is None else v) for k, v in info.items()], 1)
    env = [("environment", environment)]
    status = run.get("status")
    if status is not None:
        for state in STATUSES:
            metrics.add("athalia_run_status", [*env, ("status", state)], int(state == status))
    if isinstance(run.get("exit_status"), int | float):
        metrics.add("athalia_run_exit_status", env, run["exit_status"])
    if isinstance(run.get("duration_s"), int | float):
        metrics.add("athalia_run_duration_seconds", env, run["duration_s"])
    if (finished := _timestamp(run.get("finished_at"))) is not None:
        metrics.add("athalia_run_timestamp_seconds", env, finished)
    summary = report.get("summary") or {}
    for outcome, key in (("all", "tests"), ("skipped", "skipped")):
        if isinstance(summary.get(key), int):
            metrics.add("athalia_run_tests", [*env, ("outcome", outcome)], summary[key])
    for verdict, key in (("all", "checks"), *((k, k) for k in ("passed", "failed", "inconclusive", "not_measured"))):
        if isinstance(summary.get(key), int):
            metrics.add("athalia_run_checks", [*env, ("verdict", verdict)], summary[key])

    rows = sorted(
        _checks(report), key=lambda item: (item[0], str(item[1].get("name")), str(item[1].get("subject") or ""))
    )
    for nodeid, check in rows:
        labels = [
            ("environment", environment),
            ("test", nodeid),
            ("check", check.get("name") or ""),
            ("subject", check.get("subject") or ""),
            ("unit", check.get("unit") or ""),
        ]
        if check.get("measured") is not None:
            metrics.add("athalia_check_measured", labels, check["measured"])
        if check.get("threshold") is not None:
            metrics.add(
                "athalia_check_threshold", [*labels, ("comparison", check.get("comparison") or "")], check["threshold"]
            )
        if check.get("verdict") is not None:
            metrics.add("athalia_check_passed", labels, int(check["verdict"] == "pass"))
        if check.get("samples") is not None:
            metrics.add("athalia_check_samples", labels, check["samples"])
    return metrics.render()


# -- writing -------------------------------------------------------------------------------------------------


def prometheus_path(report_path: Path) -> Path:
    """Where the ``.prom`` file goes: beside the JSON report, with its name (reports/athalia.prom)."""
    return report_path.with_suffix(".prom")


def write_summaries(report: Mapping[str, Any], report_path: Path, environ: Mapping[str, str]) -> list[str]:
    """Write the ``.prom`` file (atomically) and append the Markdown to ``$GITHUB_STEP_SUMMARY`` when set.

    Returns one line per file that could not be written; a report of another schema writes nothing.
    """
    if report.get("schema") != SCHEMA:
        return []
    problems = []
    try:
        write_atomically(prometheus_path(report_path), prometheus_text(report))
    except OSError as exc:
        problems.append(f"could not write {prometheus_path(report_path)}: {exc}")
    step_summary = environ.get(STEP_SUMMARY, "")
    if step_summary:
        try:
            # GitHub gives each step its own file and renders what the step appended to it.
            with open(step_summary, "a", encoding="utf-8") as fh:
                fh.write(markdown_summary(report) + "\n")
        except OSError as exc:
            problems.append(f"could not append the gate summary to ${STEP_SUMMARY} ({step_summary}): {exc}")
    return problems
