"""JUnit properties and the JSON artifact, in one naming scheme.

Every verdict becomes properties ``athalia.<check>.<field>`` on its test. Those
properties travel with the test report (also across pytest-xdist workers, where
``record_testsuite_property`` does not), and the JSON artifact is rebuilt from
them in the controlling process, so both always agree.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._slo import Verdict

__all__ = [
    "PREFIX",
    "RecordedTest",
    "ReportBook",
    "group_checks",
    "info_properties",
    "redact_values",
    "verdict_properties",
    "write_atomically",
]

PREFIX = "athalia."
FIELDS = ("measured", "threshold", "comparison", "unit", "samples", "window", "verdict", "reason")


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
    return [(f"{PREFIX}{m.check}.{k}", v) for k, v in values.items() if v != "" or k == "measured"]


def info_properties(check: str, measured: float, unit: str, samples: int = 1) -> list[tuple[str, str]]:
    """Properties of a recorded value that is not gated (no threshold, no verdict)."""
    return [
        (f"{PREFIX}{check}.measured", _num(measured)),
        (f"{PREFIX}{check}.unit", unit),
        (f"{PREFIX}{check}.samples", str(samples)),
    ]


@dataclass
class RecordedTest:
    nodeid: str
    outcome: str
    checks: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class ReportBook:
    """Collects athalia properties per test and writes the JSON artifact."""

    run: dict[str, Any] = field(default_factory=dict)
    tests: dict[str, RecordedTest] = field(default_factory=dict)

    def add(self, nodeid: str, when: str, outcome: str, user_properties: Iterable[tuple[str, object]]) -> None:
        record = self.tests.get(nodeid)
        if record is None:
            # Fail closed: a test whose call never reported (interrupted) is not "passed".
            first = outcome if when == "call" or outcome != "passed" else "incomplete"
            record = self.tests[nodeid] = RecordedTest(nodeid, first)
        # The call phase decides a test's outcome; setup/teardown only when they did not pass.
        if when == "call" or outcome != "passed":
            record.outcome = outcome if record.outcome != "failed" else "failed"
        ours = [(n, str(v)) for n, v in user_properties if isinstance(n, str)]
        for check, fields in group_checks(ours).items():
            record.checks.setdefault(check, {}).update(fields)

    def summary(self) -> dict[str, int]:
        # Checks without a verdict are recorded values (e.g. build time), not gates.
        verdicts = [c["verdict"] for t in self.tests.values() for c in t.checks.values() if "verdict" in c]
        return {
            "tests": len(self.tests),
            "checks": len(verdicts),
            "passed": verdicts.count("pass"),
            "failed": verdicts.count("fail"),
            "inconclusive": verdicts.count("inconclusive"),
            "not_measured": verdicts.count("not measured"),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "schema": "pytest-athalia/report/1",
            "run": self.run,
            "summary": self.summary(),
            "tests": [
                {"nodeid": t.nodeid, "outcome": t.outcome, "checks": t.checks}
                for t in sorted(self.tests.values(), key=lambda t: t.nodeid)
            ],
        }

    def write(self, path: Path, redact: Callable[[str], str] | None = None) -> None:
        """Write atomically, so an interrupted run never leaves half a file.

        Secrets are masked in the string values before encoding: after it, JSON escapes
        would hide them from the redactor, and masking could break the JSON's structure.
        """
        data = self.as_json() if redact is None else redact_values(self.as_json(), redact)
        write_atomically(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


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
    """Group ``athalia.<check>.<field>`` properties by check (for tests and dashboards)."""
    out: dict[str, dict[str, str]] = {}
    for name, value in properties:
        if name.startswith(PREFIX):
            check, _, fld = name[len(PREFIX) :].rpartition(".")
            if check:
                out.setdefault(check, {})[fld] = value
    return out
