"""Security verdicts are pure functions: blocking findings against 0, samples, fail-closed cases."""

from __future__ import annotations

import pytest

from pytest_athalia.report._slo import Outcome
from pytest_athalia.security._scan import (
    Finding,
    ScanResult,
    artifact_name,
    blocking,
    check_name,
    describe_findings,
    findings_verdict,
    inconclusive,
    severity_rank,
    without_unfixed,
)


def _finding(severity: str, fid: str = "X-1", **kw: object) -> Finding:
    return Finding(kind="secret", id=fid, severity=severity, target="img:1", file="/etc/key", line=3, **kw)  # type: ignore[arg-type]


FOUND = (_finding("CRITICAL", "A"), _finding("HIGH", "B"), _finding("LOW", "C"))


@pytest.mark.parametrize(
    ("fail_on", "measured", "outcome"),
    [
        ((), 0, Outcome.PASS),  # dev: report only
        (("CRITICAL",), 1, Outcome.FAIL),  # staging
        (("HIGH", "CRITICAL"), 2, Outcome.FAIL),  # production
        (("MEDIUM",), 0, Outcome.PASS),
    ],
)
def test_measured_is_the_number_of_blocking_findings(fail_on: tuple[str, ...], measured: int, outcome: Outcome) -> None:
    """Each environment's fail_on decides which findings count; the threshold is always 0."""
    verdict = findings_verdict(ScanResult("img:1", "secret", FOUND), fail_on)
    assert verdict.measurement.value == measured
    assert verdict.threshold.limit == 0
    assert verdict.threshold.unit == "findings"
    assert verdict.outcome is outcome
    assert verdict.measurement.samples == 3  # findings examined


def test_a_clean_secret_scan_passes_with_zero_samples() -> None:
    """No finding is a pass for secret scans: Trivy reports no count of files, so samples are findings."""
    verdict = findings_verdict(ScanResult("img:1", "secret"), ("HIGH",))
    assert verdict.outcome is Outcome.PASS
    assert verdict.measurement.samples == 0


def test_misconfig_that_examined_no_check_is_inconclusive() -> None:
    """An image config Trivy could not read (no build history) evaluated 0 checks: never a pass."""
    result = ScanResult("img:1", "misconfig", examined=0, examined_unit="checks", must_examine=True)
    verdict = findings_verdict(result, ("HIGH",))
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.measurement.value is None
    assert "examined no checks" in verdict.reason


def test_scanner_errors_make_the_verdict_inconclusive() -> None:
    """Files Bandit could not parse were not checked: inconclusive, naming them."""
    result = ScanResult("app", "bandit", examined=10, examined_unit="lines of code", errors=("x.py: syntax error",))
    verdict = findings_verdict(result, ("HIGH",))
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "x.py: syntax error" in verdict.reason


def test_message_shows_measured_threshold_unit_samples_and_window() -> None:
    """The verdict line explains itself: 1 findings vs <= 0 findings over 27 checks, fail_on named."""
    result = ScanResult("img:1", "misconfig", (_finding("CRITICAL"),), examined=27, examined_unit="checks")
    message = findings_verdict(result, ("CRITICAL",)).message()
    assert message.startswith(
        "trivy-misconfig[img:1]: measured 1 findings, threshold <= 0 findings (27 samples over checks examined)"
    )
    assert "fail_on CRITICAL" in message
    assert message.endswith(": fail (fail_on CRITICAL)")


def test_failure_detail_names_id_severity_target_file_and_line() -> None:
    """Every blocking finding is listed worst first with ID, severity, target, file:line and title."""
    detail = describe_findings(ScanResult("img:1", "secret", FOUND, notes=("a note",)), ("HIGH", "CRITICAL"))
    lines = detail.splitlines()
    assert lines[0] == "2 blocking finding(s) (fail_on: HIGH, CRITICAL):"
    assert lines[1].strip().startswith("A CRITICAL img:1 /etc/key:3")
    assert lines[2].strip().startswith("B HIGH img:1 /etc/key:3")
    assert "1 other finding(s), not blocking in this environment" in detail
    assert lines[-1] == "a note"


def test_failure_detail_is_bounded() -> None:
    """A thousand findings list the first ones and say how many more the artifact holds."""
    many = tuple(_finding("HIGH", f"ID-{i:04d}") for i in range(1000))
    detail = describe_findings(ScanResult("img:1", "secret", many), ("HIGH",), limit=5)
    assert len(detail.splitlines()) == 7
    assert "... and 995 more" in detail


def test_confidence_floor_for_bandit() -> None:
    """A HIGH severity finding of LOW confidence does not block when confidence MEDIUM is required."""
    findings = (
        Finding("bandit", "B602", "HIGH", "app", "a.py", 2, confidence="LOW"),
        Finding("bandit", "B307", "HIGH", "app", "a.py", 5, confidence="HIGH"),
    )
    assert [f.id for f in blocking(findings, ("HIGH",), "MEDIUM")] == ["B307"]
    assert len(blocking(findings, ("HIGH",))) == 2


def test_ignore_unfixed_drops_vulnerabilities_without_a_fix() -> None:
    """Only vulnerabilities with a FixedVersion remain; other kinds are untouched."""
    fixed = Finding("vuln", "CVE-1", "HIGH", "img", package="p", fixed_version="2")
    unfixed = Finding("vuln", "CVE-2", "CRITICAL", "img", package="q")
    assert without_unfixed(ScanResult("img", "vuln", (fixed, unfixed))).findings == (fixed,)
    secret = ScanResult("img", "secret", (_finding("HIGH"),))
    assert without_unfixed(secret) is secret


def test_inconclusive_never_passes() -> None:
    """A scan that did not run measures nothing and is inconclusive."""
    verdict = inconclusive("trivy-vuln", "no vulnerability DB", "x:1")
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert not verdict.passed
    assert verdict.measurement.value is None


def test_check_names_are_stable_and_the_target_is_the_subject() -> None:
    """The name is the tool and scanner only, so it survives a new image tag; the target is the subject."""
    assert (check_name("secret"), check_name("bandit")) == ("trivy-secret", "bandit")
    verdict = findings_verdict(ScanResult("athalia-demo/app:1.1.0", "vuln", examined=3, examined_unit="packages"), ())
    assert (verdict.check, verdict.measurement.subject) == ("trivy-vuln", "athalia-demo/app:1.1.0")


def test_artifact_names_are_file_safe() -> None:
    """A scan's artifact file is named from tool, scanner and target: letters, digits and '-'."""
    assert artifact_name("secret", "athalia-demo/app:1.0.0") == "trivy-secret-athalia-demo-app-1-0-0"
    assert artifact_name("bandit", "../app") == "bandit-app"


def test_severity_rank_orders_and_tolerates_unknown_levels() -> None:
    """CRITICAL > HIGH > MEDIUM > LOW > UNKNOWN; a new level ranks as UNKNOWN."""
    assert [severity_rank(s) for s in ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL", "NEW")] == [0, 1, 2, 3, 4, 0]


def test_a_severity_trivy_may_add_later_counts_as_unknown() -> None:
    """Fail closed: a level we do not know blocks where UNKNOWN does, and only there."""
    found = (_finding("NEGLIGIBLE", "N"), _finding("unknown", "U"))
    assert [f.id for f in blocking(found, ("UNKNOWN", "HIGH"))] == ["N", "U"]
    assert blocking(found, ("LOW", "HIGH", "CRITICAL")) == ()


def test_findings_round_trip_through_dicts() -> None:
    """The cache and the artifact store findings as dicts; nothing is lost."""
    finding = Finding("vuln", "CVE-1", "HIGH", "img", "f", None, "t", "pkg", "1", None, "")
    assert Finding.from_dict(finding.as_dict()) == finding
