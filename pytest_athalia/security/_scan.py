"""Findings of security scanners as frozen values, and the pure functions that gate them.

Trivy (:mod:`pytest_athalia.security._trivy_report`) and Bandit (:mod:`pytest_athalia.security._bandit`) turn
their JSON into :class:`Finding` values at once; everything here decides over those values
without running anything, so every rule is unit-tested without Docker or a scanner.

A gate's verdict measures the number of *blocking* findings (those whose severity is in the
environment's ``fail_on``) against a threshold of 0; its samples are what the scan examined.
A scan that examined nothing where something must be examined is inconclusive, never a pass.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

from ..config._security import SEVERITIES
from ..report._slo import Comparison, Measurement, Outcome, Threshold, Verdict, judge

__all__ = [
    "Finding",
    "Kind",
    "ScanResult",
    "artifact_name",
    "blocking",
    "check_name",
    "describe_findings",
    "findings_verdict",
    "inconclusive",
    "severity_level",
    "severity_rank",
    "without_unfixed",
]

Kind = Literal["vuln", "secret", "misconfig", "license", "bandit"]
UNIT: Final = "findings"
LISTED: Final = 50  # findings named in a failure message; the artifact has them all


def severity_level(severity: str) -> str:
    """``severity`` in capitals when it is one of :data:`SEVERITIES`; anything else (a new Trivy level) is UNKNOWN."""
    level = severity.upper()
    return level if level in SEVERITIES else "UNKNOWN"


def severity_rank(severity: str) -> int:
    """UNKNOWN 0 ... CRITICAL 4; anything else ranks as UNKNOWN."""
    return SEVERITIES.index(severity_level(severity))


@dataclass(frozen=True, order=True)
class Finding:
    """One finding: what (``id``, ``title``), how bad, and where (``target``, ``file``, ``line``).

    ``target`` is what was scanned (an image reference, a config file, a source tree); ``file``
    is the path inside it (a file in the image, a package path, the Dockerfile), ``line`` the
    1-based line when the scanner knows it.
    """

    kind: Kind
    id: str
    severity: str
    target: str
    file: str = ""
    line: int | None = None
    title: str = ""
    package: str = ""
    installed_version: str = ""
    fixed_version: str | None = None
    confidence: str = ""

    @property
    def where(self) -> str:
        place = self.file or self.package or "-"
        return f"{place}:{self.line}" if self.line is not None else place

    def describe(self) -> str:
        """``ID SEVERITY target file:line title``, plus the package's version and its fix for a vulnerability."""
        parts = [self.id, self.severity]
        if self.confidence:
            parts.append(f"(confidence {self.confidence})")
        parts += [self.target, self.where]
        if self.package and self.kind == "vuln":
            fixed = f"fixed in {self.fixed_version}" if self.fixed_version else "no fix yet"
            package = f"{self.package} " if self.file else ""  # else `where` already names it
            parts.append(f"{package}{self.installed_version} ({fixed})".strip())
        if self.title:
            parts.append(f"- {self.title}")
        return " ".join(parts)

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "id": self.id,
            "severity": self.severity,
            "target": self.target,
            "file": self.file,
            "line": self.line,
            "title": self.title,
            "package": self.package,
            "installed_version": self.installed_version,
            "fixed_version": self.fixed_version,
            "confidence": self.confidence,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Finding:
        line = data.get("line")
        fixed = data.get("fixed_version")
        return cls(
            kind=str(data["kind"]),  # type: ignore[arg-type]
            id=str(data["id"]),
            severity=str(data["severity"]),
            target=str(data["target"]),
            file=str(data.get("file") or ""),
            line=int(line) if isinstance(line, int) else None,
            title=str(data.get("title") or ""),
            package=str(data.get("package") or ""),
            installed_version=str(data.get("installed_version") or ""),
            fixed_version=str(fixed) if fixed is not None else None,
            confidence=str(data.get("confidence") or ""),
        )


@dataclass(frozen=True)
class ScanResult:
    """What one scan of one target by one scanner found.

    ``examined`` counts what the scanner looked at: checks evaluated for misconfig, packages for
    vuln, lines of code for Bandit; ``None`` where the scanner does not say (secret, license), and
    then the number of findings stands in for it. ``must_examine`` makes zero examined inconclusive.
    """

    target: str
    kind: Kind
    findings: tuple[Finding, ...] = ()
    examined: int | None = None
    examined_unit: str = ""
    must_examine: bool = False
    notes: tuple[str, ...] = field(default=())
    errors: tuple[str, ...] = field(default=())

    @property
    def samples(self) -> int:
        return self.examined if self.examined is not None else len(self.findings)


def check_name(kind: str) -> str:
    """The check's name, the same for every target and release: ``trivy-secret``, ``bandit``.

    What was scanned (``athalia-demo/app:1.0.0``, ``Dockerfile``) is the check's subject, so a
    dashboard's series of one check survives a new image tag.
    """
    return "bandit" if kind == "bandit" else f"trivy-{kind}"


def artifact_name(kind: str, target: str) -> str:
    """A file name for one scan's artifact, e.g. ``trivy-secret-athalia-demo-app-1-0-0``: letters, digits, '-'."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", target).strip("-") or "target"
    return f"{check_name(kind)}-{slug}"[:120]


def blocking(findings: Iterable[Finding], fail_on: Collection[str], min_confidence: str = "") -> tuple[Finding, ...]:
    """The findings whose severity is one of ``fail_on`` (and confidence at least ``min_confidence``), worst first."""
    wanted = {severity.upper() for severity in fail_on}
    floor = severity_rank(min_confidence) if min_confidence else 0
    chosen = [
        finding
        for finding in findings
        if severity_level(finding.severity) in wanted and (not floor or severity_rank(finding.confidence) >= floor)
    ]
    return tuple(sorted(chosen, key=lambda f: (-severity_rank(f.severity), f.id, f.file, f.line or 0)))


def findings_verdict(
    result: ScanResult, fail_on: Collection[str], *, check: str | None = None, min_confidence: str = ""
) -> Verdict:
    """Measured: the number of blocking findings; threshold: at most 0; samples: what the scan examined.

    ``fail_on`` empty means report only: the verdict passes whatever was found. A scan that had
    to examine something (``must_examine``) and examined nothing, or that reports errors (files
    it could not read), is inconclusive.
    """
    name = check or check_name(result.kind)
    threshold = Threshold(0, Comparison.AT_MOST, UNIT)
    window = _window(result)
    subject = result.target
    if result.errors:
        measurement = Measurement(name, None, UNIT, result.samples, window, subject)
        shown = "; ".join(result.errors[:5]) + (" ..." if len(result.errors) > 5 else "")
        reason = f"the scanner could not examine everything ({len(result.errors)} error(s): {shown})"
        return Verdict(measurement, threshold, Outcome.INCONCLUSIVE, reason)
    if result.must_examine and result.samples == 0:
        measurement = Measurement(name, None, UNIT, 0, window, subject)
        what = result.examined_unit or "items"
        return Verdict(measurement, threshold, Outcome.INCONCLUSIVE, f"the scan examined no {what}")
    count = len(blocking(result.findings, fail_on, min_confidence))
    verdict = judge(Measurement(name, float(count), UNIT, result.samples, window, subject), threshold, min_samples=0)
    if verdict.outcome is Outcome.FAIL:  # which severities count, beside the count itself
        verdict = dataclasses.replace(verdict, reason=f"fail_on {','.join(fail_on)}")
    return verdict


def without_unfixed(result: ScanResult) -> ScanResult:
    """``ignore_unfixed``: drop vulnerabilities without a fixed version (Trivy does too; this holds for any report)."""
    if result.kind != "vuln":
        return result
    fixed = tuple(finding for finding in result.findings if finding.fixed_version)
    return dataclasses.replace(result, findings=fixed)


def inconclusive(check: str, reason: str, subject: str = "") -> Verdict:
    """The verdict of a scan that could not run: nothing measured, never a pass."""
    return Verdict(
        Measurement(check, None, UNIT, 0, subject=subject),
        Threshold(0, Comparison.AT_MOST, UNIT),
        Outcome.INCONCLUSIVE,
        reason,
    )


def describe_findings(
    result: ScanResult, fail_on: Collection[str], *, min_confidence: str = "", limit: int = LISTED
) -> str:
    """The failure text: every blocking finding on its own line (at most ``limit``), then notes."""
    chosen = blocking(result.findings, fail_on, min_confidence)
    lines: list[str] = []
    if chosen:
        confidence = f", confidence >= {min_confidence}" if min_confidence else ""
        lines.append(f"{len(chosen)} blocking finding(s) (fail_on: {', '.join(fail_on)}{confidence}):")
        lines += [f"  {finding.describe()}" for finding in chosen[:limit]]
        if len(chosen) > limit:
            lines.append(f"  ... and {len(chosen) - limit} more (see the security artifact)")
    others = len(result.findings) - len(chosen)
    if others:
        lines.append(f"{others} other finding(s), not blocking in this environment")
    lines += list(result.notes)
    return "\n".join(lines)


def _window(result: ScanResult) -> str:
    # A short label of what the samples are ("N samples over packages"); which severities count is
    # in the failure's text and the scan's artifact.
    return f"{result.examined_unit if result.examined is not None else 'findings'} examined"
