"""Bandit on the environment's source paths: run as ``python -m bandit -f json``, parsed into findings.

A subprocess rather than Bandit's Python API: its API has no stable surface, it configures the
root logger, and a subprocess keeps its imports and state out of the pytest process.

Bandit runs in the environment file's folder with the paths as written there, so the file
names in its report, and in a baseline made the same way, are stable across machines:

    cd demo/environments && bandit -r ../app -f json -o bandit-baseline.json

With a baseline only findings that are not in it fail (:func:`new_findings`; applied here rather
than with Bandit's ``-b``, which hides every copy of a known finding). Thresholds are applied here
too, not with ``-l``/``-i``, so the report counts every finding.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from .._errors import ScanError
from .._extras import install_command, module_missing, said_module_missing
from .._process import run_command
from ..config._security import SEVERITIES, BanditSpec
from ._scan import Finding, ScanResult

__all__ = [
    "Bandit",
    "BanditDriver",
    "Baseline",
    "FakeBandit",
    "bandit_command",
    "bandit_missing",
    "fail_on",
    "new_findings",
    "parse_bandit",
    "read_baseline",
]

_STDERR_LINES: Final = 15


def fail_on(severity: str) -> tuple[str, ...]:
    """The severities at or above ``severity``: ``MEDIUM`` -> ``(MEDIUM, HIGH, CRITICAL)``."""
    return SEVERITIES[SEVERITIES.index(severity.upper()) :]


def bandit_command(python: str, paths: Sequence[str], *, exclude: Sequence[str], output: str) -> list[str]:
    """``python -m bandit -r PATHS -f json -o OUTPUT -q --exit-zero [-x EXCLUDES]``."""
    argv = [python, "-m", "bandit", "-r", *paths, "-f", "json", "-o", output, "-q", "--exit-zero"]
    if exclude:
        argv += ["-x", ",".join(exclude)]
    return argv


class BanditDriver(Protocol):
    """Runs Bandit in ``cwd`` and returns its JSON report as text; :class:`ScanError` when it cannot."""

    def scan(self, spec: BanditSpec, *, cwd: Path) -> str: ...


class Bandit:
    """The real driver: Bandit of this Python as a subprocess, with a timeout."""

    def __init__(self, python: str | None = None, *, redact: Callable[[str], str] = lambda s: s) -> None:
        self._python = python or sys.executable
        self._redact = redact

    def scan(self, spec: BanditSpec, *, cwd: Path) -> str:
        missing = [path for path in spec.paths if not (cwd / path).exists()]
        if missing:
            raise ScanError(
                f"athalia: security.bandit.paths names {', '.join(missing)}, which does not exist "
                f"(paths are relative to {cwd}); expected source folders or files. Fix the path."
            )
        if module_missing(self._python, "bandit"):
            raise ScanError(bandit_missing(self._python))
        with tempfile.TemporaryDirectory(prefix="athalia-bandit-") as tmp:
            output = os.path.join(tmp, "bandit.json")
            argv = bandit_command(self._python, spec.paths, exclude=spec.exclude, output=output)
            proc = run_command(
                argv,
                cwd=cwd,
                timeout=spec.timeout_seconds,
                what=f"bandit on {', '.join(spec.paths)}",
                redact=self._redact,
                check=False,
                split_stderr=True,
                error=ScanError,
                timeout_error=ScanError,
                timeout_hint=(
                    "Raise security.bandit.timeout_seconds or exclude generated code (security.bandit.exclude)."
                ),
            )
            if proc.returncode != 0 and said_module_missing(proc.output, "bandit"):
                raise ScanError(bandit_missing(self._python))
            if proc.returncode != 0 or not os.path.isfile(output):
                raise ScanError(
                    f"athalia: bandit failed (exit {proc.returncode}) in {cwd}: `{self._redact(' '.join(argv))}`; "
                    f"expected its JSON report. It said:\n{proc.tail(_STDERR_LINES)}"
                )
            return Path(output).read_text(encoding="utf-8")


def bandit_missing(python: str) -> str:
    """The one paragraph for a Bandit scan without Bandit: the extra that brings it, or how to drop the scan."""
    return (
        f"athalia: the Bandit scan (security.bandit) needs Bandit, but `{python} -m bandit` finds no module named "
        "bandit; Bandit comes with the security extra, not with pytest-athalia itself. Install it into the Python "
        f"that runs pytest: `{install_command('security')}` (or `{install_command('all')}`), or set "
        "security.bandit.enabled: false in the environment file to run without the Bandit scan."
    )


@dataclass
class FakeBandit:
    """A driver for tests: one canned JSON report (or an exception to raise); records each call's cwd."""

    report: str | Exception
    calls: list[Path] = field(default_factory=list)

    def scan(self, spec: BanditSpec, *, cwd: Path) -> str:
        self.calls.append(cwd)
        if isinstance(self.report, Exception):
            raise self.report
        return self.report


def parse_bandit(text: str, *, target: str) -> ScanResult:
    """Bandit's JSON report as a result: findings, lines of code examined, and files it could not parse."""
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(target, f"not JSON ({exc.msg})") from None
    if not isinstance(report, Mapping) or not isinstance(report.get("results"), list):
        raise _bad(target, "no `results` list")
    totals = (report.get("metrics") or {}).get("_totals") or {}
    loc = totals.get("loc") if isinstance(totals, Mapping) else None
    findings = tuple(sorted({_finding(item, target) for item in report["results"] if isinstance(item, Mapping)}))
    errors = tuple(
        f"{error.get('filename', '?')}: {error.get('reason', 'error')}"
        for error in report.get("errors") or []
        if isinstance(error, Mapping)
    )
    return ScanResult(
        target,
        "bandit",
        findings,
        examined=loc if isinstance(loc, int) else 0,
        examined_unit="lines of code",
        must_examine=True,
        errors=errors,
    )


def _finding(item: Mapping[str, Any], target: str) -> Finding:
    line = item.get("line_number")
    name = str(item.get("test_name") or "")
    text = str(item.get("issue_text") or "")
    return Finding(
        kind="bandit",
        id=str(item.get("test_id") or "?"),
        severity=str(item.get("issue_severity") or "UNDEFINED").upper(),
        confidence=str(item.get("issue_confidence") or "UNDEFINED").upper(),
        target=target,
        file=str(item.get("filename") or ""),
        line=line if isinstance(line, int) and line > 0 else None,
        title=f"{name}: {text}" if name else text,
    )


@dataclass(frozen=True)
class Baseline:
    """The findings of ``security.bandit.baseline`` (``name`` as the environment file writes it)."""

    name: str
    findings: tuple[Finding, ...]


def read_baseline(spec: BanditSpec, cwd: Path) -> Baseline | None:
    """``security.bandit.baseline`` (relative to ``cwd``), or None without one; :class:`ScanError` when unusable."""
    if not spec.baseline:
        return None
    make = f"`cd {cwd} && bandit -r {' '.join(spec.paths)} -f json -o {spec.baseline}`"
    try:
        text = (cwd / spec.baseline).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScanError(
            f"athalia: security.bandit.baseline names {spec.baseline}, which cannot be read ({exc.strerror}; "
            f"relative to {cwd}). Create it with {make}."
        ) from None
    try:
        return Baseline(spec.baseline, parse_bandit(text, target=spec.baseline).findings)
    except ScanError:
        raise ScanError(
            f"athalia: security.bandit.baseline {spec.baseline} is unusable: expected a `bandit -f json` report "
            f"(relative to {cwd}). Make it again with {make}."
        ) from None


def _identity(finding: Finding) -> tuple[str, str, str, str, str]:
    return (finding.file, finding.id, finding.severity, finding.confidence, finding.title)


def new_findings(result: ScanResult, baseline: Baseline) -> ScanResult:
    """Only the findings that are not in ``baseline``: only new findings fail.

    Matched the way Bandit's ``-b`` matches (file, test, severity, confidence and text, not the line, so
    moved code is not new) but counted: Bandit hides every copy of a known finding, so a second
    ``shell=True`` call in a file would pass. Which copy is new cannot be told; the later lines are kept.
    """
    known = Counter(_identity(finding) for finding in baseline.findings)
    new = []
    for finding in sorted(result.findings, key=lambda f: (f.file, f.line or 0, f.id)):
        if known[_identity(finding)] > 0:
            known[_identity(finding)] -= 1
        else:
            new.append(finding)
    note = f"{len(result.findings) - len(new)} finding(s) of the baseline {baseline.name} are not counted"
    return dataclasses.replace(result, findings=tuple(sorted(new)), notes=(*result.notes, note))


def _bad(target: str, problem: str) -> ScanError:
    return ScanError(
        f"athalia: Bandit's report for {target} is unusable: {problem}. Expected `bandit -f json` output; "
        "check the installed bandit (`python -m bandit --version`)."
    )
