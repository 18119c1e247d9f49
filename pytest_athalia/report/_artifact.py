"""JUnit properties and the JSON report (schema ``pytest-athalia/report/2``), in one naming scheme.

Every verdict becomes properties ``athalia.<check>.<field>`` on its test, or
``athalia.<check>[<subject>].<field>`` when it has a subject (the image, file or tag it measured), so
one test can hold one check name for two subjects. Series and timelines travel as
``athalia.series.<name>`` and ``athalia.timeline`` (compact JSON, :mod:`._series`). Those properties
travel with the test report (also across pytest-xdist workers, where ``record_testsuite_property``
does not), and the JSON report is rebuilt from them in the controlling process, so both always agree.
Property values are text; the report turns them back into numbers, integers and nulls.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._series import SERIES_PREFIX, TIMELINE_PROPERTY, decode_series, decode_timeline
from ._slo import Verdict, check_label, check_name_problem, subject_problem

__all__ = [
    "OUTCOMES",
    "PREFIX",
    "SCHEMA",
    "RecordedTest",
    "ReportBook",
    "group_checks",
    "info_properties",
    "redact_property",
    "redact_values",
    "split_label",
    "typed_check",
    "verdict_properties",
    "write_atomically",
]

SCHEMA = "pytest-athalia/report/2"
PREFIX = "athalia."
FIELDS = ("measured", "threshold", "comparison", "unit", "samples", "window", "verdict", "reason")
OUTCOMES = ("passed", "failed", "skipped", "error", "incomplete")
VERDICTS = ("pass", "fail", "inconclusive", "not measured")
COMPARISONS = ("<=", ">=", "<", ">")


def verdict_properties(verdict: Verdict) -> list[tuple[str, str]]:
    """The JUnit properties of one verdict (`measured` is empty when nothing was measured)."""
    m = verdict.measurement
    values = {
        "measured": "" if m.value is None else _num(m.value),
        "threshold": _num(verdict.threshold.limit),
        "comparison": verdict.threshold.operator,
        "unit": m.unit,
        "samples": str(m.samples),
        "window": m.window,
        "verdict": verdict.outcome.value,
        "reason": verdict.reason,
    }
    return [(f"{PREFIX}{m.label}.{k}", v) for k, v in values.items() if v != "" or k == "measured"]


def info_properties(
    check: str, measured: float, unit: str, samples: int = 1, *, subject: str = ""
) -> list[tuple[str, str]]:
    """Properties of a recorded value that is not gated (no threshold, no verdict)."""
    problem = check_name_problem(check) or subject_problem(subject)
    if problem is not None:
        raise ValueError(problem)
    key = check_label(check, subject)
    return [
        (f"{PREFIX}{key}.measured", _num(measured)),
        (f"{PREFIX}{key}.unit", unit),
        (f"{PREFIX}{key}.samples", str(samples)),
    ]


@dataclass
class RecordedTest:
    """What the controller heard of one test: its outcome, why, how long, and its athalia properties."""

    nodeid: str
    outcome: str
    reason: str | None = None
    duration_s: float = 0.0
    checks: dict[str, dict[str, str]] = field(default_factory=dict)  # by label: name or name[subject]
    series: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)


def _merge_outcome(current: str, when: str, outcome: str) -> str:
    """The call phase decides; a setup or teardown that did not pass makes it an error (or a skip)."""
    if current in ("failed", "error"):
        return current  # a failure is never overwritten
    if when == "call":
        return outcome
    if outcome == "failed":
        return "error"
    return "skipped" if outcome == "skipped" else current


@dataclass
class ReportBook:
    """Collects athalia properties per test and writes the JSON report."""

    run: dict[str, Any] = field(default_factory=dict)
    tests: dict[str, RecordedTest] = field(default_factory=dict)

    def add(
        self,
        nodeid: str,
        when: str,
        outcome: str,
        user_properties: Iterable[tuple[str, object]],
        *,
        duration: float = 0.0,
        reason: str | None = None,
    ) -> None:
        nodeid = plain_nodeid(nodeid)
        record = self.tests.get(nodeid)
        if record is None:
            # Fail closed: a test whose call never reported (interrupted) is "incomplete", not "passed".
            record = self.tests[nodeid] = RecordedTest(nodeid, "incomplete")
        before = record.outcome
        record.outcome = _merge_outcome(before, when, outcome)
        if record.outcome not in ("passed", "incomplete") and record.outcome != before and record.reason is None:
            record.reason = reason or None
        record.duration_s += max(0.0, duration) if math.isfinite(duration) else 0.0
        ours: list[tuple[str, str]] = []
        for name, value in user_properties:
            if not isinstance(name, str):
                continue
            if name.startswith(SERIES_PREFIX):
                series = decode_series(name[len(SERIES_PREFIX) :], str(value))
                if series is not None:
                    record.series[series["name"]] = series
            elif name == TIMELINE_PROPERTY:
                record.timeline = decode_timeline(str(value))
            else:
                ours.append((name, str(value)))
        for label, fields in group_checks(ours).items():
            record.checks.setdefault(label, {}).update(fields)

    def typed_tests(self) -> list[dict[str, Any]]:
        """The report's ``tests``: sorted by node id, each check typed (numbers, integers, nulls)."""
        return [
            {
                "nodeid": t.nodeid,
                "outcome": t.outcome if t.outcome in OUTCOMES else "error",
                "reason": t.reason,
                "duration_s": round(t.duration_s, 3),
                "checks": [typed_check(label, fields) for label, fields in t.checks.items()],
            }
            for t in sorted(self.tests.values(), key=lambda t: t.nodeid)
        ]

    def summary(self, tests: Sequence[Mapping[str, Any]] | None = None) -> dict[str, int]:
        tests = self.typed_tests() if tests is None else tests
        # Checks without a verdict are recorded values (e.g. build time), not gates.
        verdicts = [c["verdict"] for t in tests for c in t["checks"] if c["verdict"] is not None]
        return {
            "tests": len(tests),
            "skipped": sum(1 for t in tests if t["outcome"] == "skipped"),
            "checks": len(verdicts),
            "passed": verdicts.count("pass"),
            "failed": verdicts.count("fail"),
            "inconclusive": verdicts.count("inconclusive"),
            "not_measured": verdicts.count("not measured"),
        }

    def as_json(self) -> dict[str, Any]:
        tests = self.typed_tests()
        # In the order the tests reported (the run's order); each test's events are already in time order.
        arrived = list(self.tests.values())
        return {
            "schema": SCHEMA,
            "run": self.run,
            "summary": self.summary(tests),
            "tests": tests,
            "series": [{**s, "test": t.nodeid} for t in arrived for s in t.series.values()],
            "timeline": [{**e, "test": t.nodeid} for t in arrived for e in t.timeline],
        }

    def write(self, path: Path, redact: Callable[[str], str] | None = None) -> dict[str, Any]:
        """Write atomically, so an interrupted run never leaves half a file; return what was written.

        Secrets are masked in the string values before encoding: after it, JSON escapes
        would hide them from the redactor, and masking could break the JSON's structure.
        """
        data = self.as_json() if redact is None else redact_values(self.as_json(), redact)
        write_atomically(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")
        return data


def typed_check(label: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """One check of the report from its property fields: numbers, an integer sample count, null for absent.

    A value that is not what its field holds (a foreign ``athalia.*`` property) is null; an unknown
    verdict is inconclusive, never a pass.
    """
    name, subject = split_label(label)
    verdict = fields.get("verdict") or None
    reason = fields.get("reason") or None
    if verdict is not None and verdict not in VERDICTS:
        reason = f"unknown verdict {verdict!r}" + (f"; {reason}" if reason else "")
        verdict = "inconclusive"
    samples = _integer(fields.get("samples", ""))
    comparison = fields.get("comparison") or None
    return {
        "name": name,
        "subject": subject or None,
        "measured": _number(fields.get("measured", "")),
        "unit": fields.get("unit") or None,
        "samples": samples if samples is not None and samples >= 0 else 0,
        "threshold": _number(fields.get("threshold", "")),
        "comparison": comparison if comparison in COMPARISONS else None,
        "window": fields.get("window") or None,
        "verdict": verdict,
        "reason": reason,
    }


def split_label(label: str) -> tuple[str, str]:
    """``trivy-vuln[athalia-demo/app:1.0.0]`` -> (``trivy-vuln``, ``athalia-demo/app:1.0.0``); no subject: ""."""
    name, bracket, rest = label.partition("[")
    if bracket and rest.endswith("]"):
        return name, rest[:-1]
    return label, ""


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None  # JSON has no NaN or infinity


def _integer(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def redact_property(name: str, value: object, redact: Callable[[str], str]) -> str:
    """A property value with secrets masked; series and timelines inside their JSON, which stays valid."""
    text = str(value)
    if name.startswith(SERIES_PREFIX) or name == TIMELINE_PROPERTY:
        try:
            data = json.loads(text)
        except ValueError:
            return redact(text)
        return json.dumps(redact_values(data, redact), separators=(",", ":"))
    return redact(text)


def plain_nodeid(nodeid: str) -> str:
    """`nodeid` without the ``@<group>`` that pytest-xdist's ``--dist loadgroup`` appends (on pytest 8): a
    test keeps one name in every report, however it was distributed. A parameter id keeps its own ``@``."""
    head, at, group = nodeid.rpartition("@")
    return head if at and "::" in head and not any(c in group for c in "[]/:") else nodeid


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".athalia-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; artifacts are shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def redact_values(value: Any, redact: Callable[[str], str]) -> Any:
    """A copy of JSON-like `value` with `redact` applied to every string (before encoding: no escapes to miss)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_values(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_values(v, redact) for v in value]
    return value


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def group_checks(properties: Sequence[tuple[str, str]]) -> Mapping[str, Mapping[str, str]]:
    """Group ``athalia.<label>.<field>`` properties by label (``check`` or ``check[subject]``).

    The field is after the last dot: a subject may hold dots (``app:1.0.0``), a field never does.
    Series and timeline properties are not checks: :class:`ReportBook` takes them apart first.
    """
    out: dict[str, dict[str, str]] = {}
    for name, value in properties:
        if name.startswith(PREFIX):
            label, _, fld = name[len(PREFIX) :].rpartition(".")
            if label and fld in FIELDS:
                out.setdefault(label, {})[fld] = value
    return out
