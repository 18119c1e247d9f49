"""Trivy's JSON report (``SchemaVersion: 2``) turned into :class:`~pytest_athalia.security._scan.Finding` values.

A vulnerability scan's samples are the packages Trivy checked (``--list-all-pkgs``): an image in
which it found none (an OS it does not detect, ``FROM scratch``) was not checked, and is never a pass.

Trivy omits empty fields: ``Results`` is absent when nothing was detected, ``FixedVersion``
when there is no fix, ``CauseMetadata.StartLine`` when a check has no line (a missing
``USER``). Every field is read with a default, and a report that is not Trivy's JSON at all
is a :class:`~pytest_athalia._errors.ScanError`.

Only what a gate needs is kept: no code excerpts, no descriptions. Trivy masks the secrets it
finds in its own output, and the excerpts are dropped anyway.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from .._errors import ScanError
from ._scan import Finding, Kind, ScanResult

__all__ = ["parse_report"]

_SCHEMA: Final = 2
_VULN_CLASSES: Final = frozenset({"os-pkgs", "lang-pkgs"})
_LICENSE_CLASSES: Final = frozenset({"license", "license-file"})
_NO_PACKAGES: Final = (
    "Trivy found no OS or language packages in {target} (its OS was not detected, or the image has none), so "
    "nothing was checked for vulnerabilities. Scan the images that have packages (security.trivy.images), or "
    "drop vuln from security.trivy.image_scanners."
)


def parse_report(text: str, *, target: str, kinds: Iterable[Kind]) -> dict[Kind, ScanResult]:
    """One :class:`ScanResult` per asked-for kind (``vuln``, ``secret``, ``misconfig``, ``license``).

    ``target`` names what was scanned in every finding (the image reference or the config file as
    the environment wrote it). A kind Trivy found nothing for still gets an empty result.
    """
    report = _load(text, target)
    results = report.get("Results")
    if results is None:  # omitted: nothing was detected
        results = []
    if not isinstance(results, list):
        raise _bad(target, "Results is not a list")
    wanted = tuple(dict.fromkeys(kinds))
    found: dict[Kind, list[Finding]] = {kind: [] for kind in wanted}
    checks = packages = 0
    for result in results:
        if not isinstance(result, Mapping):
            continue
        cls = str(result.get("Class", ""))
        file = str(result.get("Target", ""))
        if "vuln" in found and cls in _VULN_CLASSES:
            packages += len(_items(result, "Packages"))
            found["vuln"] += [_vulnerability(v, target, cls, file) for v in _items(result, "Vulnerabilities")]
        if "secret" in found:
            found["secret"] += [_secret(s, target, file) for s in _items(result, "Secrets")]
        if "misconfig" in found and cls == "config":
            summary = result.get("MisconfSummary") or {}
            counted = (
                _int(summary.get("Successes")) + _int(summary.get("Failures")) if isinstance(summary, Mapping) else 0
            )
            misconfigurations = [m for m in _items(result, "Misconfigurations") if m.get("Status", "FAIL") == "FAIL"]
            # A failed check was examined even where the summary is omitted.
            checks += max(counted, len(misconfigurations))
            found["misconfig"] += [_misconfiguration(m, target, file) for m in misconfigurations]
        if "license" in found and cls in _LICENSE_CLASSES:
            found["license"] += [_license(lic, target) for lic in _items(result, "Licenses")]
    out: dict[Kind, ScanResult] = {}
    for kind in wanted:
        findings = tuple(sorted(set(found[kind])))
        if kind == "misconfig":
            out[kind] = ScanResult(target, kind, findings, examined=checks, examined_unit="checks", must_examine=True)
        elif kind == "vuln":
            notes = () if packages else (_NO_PACKAGES.format(target=target),)
            out[kind] = ScanResult(
                target, kind, findings, examined=packages, examined_unit="packages", must_examine=True, notes=notes
            )
        else:
            out[kind] = ScanResult(target, kind, findings)
    return out


def _load(text: str, what: str) -> Mapping[str, Any]:
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(what, f"not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(report, Mapping):
        raise _bad(what, "the top level is not an object")
    if report.get("SchemaVersion") != _SCHEMA:
        raise _bad(what, f"SchemaVersion is {report.get('SchemaVersion')!r}, expected {_SCHEMA}")
    return report


def _bad(what: str, problem: str) -> ScanError:
    return ScanError(
        f"athalia: Trivy's report for {what} is unusable: {problem}. Expected `trivy --format json` output "
        f"(SchemaVersion {_SCHEMA}); check the trivy binary's version (`trivy --version`)."
    )


def _items(result: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = result.get(key) or []
    return [item for item in items if isinstance(item, Mapping)] if isinstance(items, list) else []


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _line(value: object) -> int | None:
    line = _int(value)
    return line if line > 0 else None


def _text(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    return str(value) if value is not None else ""


def _vulnerability(item: Mapping[str, Any], target: str, cls: str, result_target: str) -> Finding:
    # OS packages have no file; a language package's lock file or jar is its PkgPath, else the Result's Target.
    file = _text(item, "PkgPath") or (result_target if cls == "lang-pkgs" else "")
    fixed = item.get("FixedVersion")
    return Finding(
        kind="vuln",
        id=_text(item, "VulnerabilityID") or "?",
        severity=_text(item, "Severity").upper() or "UNKNOWN",
        target=target,
        file=file,
        title=_text(item, "Title"),
        package=_text(item, "PkgName"),
        installed_version=_text(item, "InstalledVersion"),
        fixed_version=str(fixed) if fixed else None,
    )


def _secret(item: Mapping[str, Any], target: str, file: str) -> Finding:
    return Finding(
        kind="secret",
        id=_text(item, "RuleID") or "?",
        severity=_text(item, "Severity").upper() or "UNKNOWN",
        target=target,
        file="image config" if file == target else file,  # a secret in the image's ENV or history
        line=_line(item.get("StartLine")),
        title=_text(item, "Title"),
    )


def _misconfiguration(item: Mapping[str, Any], target: str, file: str) -> Finding:
    cause = item.get("CauseMetadata") or {}
    line = _line(cause.get("StartLine")) if isinstance(cause, Mapping) else None
    # In an image scan the image's own config is the Result whose Target is the image itself.
    where = "image config" if file == target else file
    message = _text(item, "Message")
    return Finding(
        kind="misconfig",
        id=_text(item, "ID") or _text(item, "AVDID") or "?",
        severity=_text(item, "Severity").upper() or "UNKNOWN",
        target=target,
        file=where,
        line=line,
        title=_text(item, "Title") + (f": {message}" if message else ""),
    )


def _license(item: Mapping[str, Any], target: str) -> Finding:
    return Finding(
        kind="license",
        id=_text(item, "Name") or "?",
        severity=_text(item, "Severity").upper() or "UNKNOWN",
        target=target,
        file=_text(item, "FilePath"),
        title=f"{_text(item, 'Category')} license".strip(),
        package=_text(item, "PkgName"),
    )
