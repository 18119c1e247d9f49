"""Trivy's JSON (captured from the real binary) becomes frozen findings; empty fields are optional."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_athalia._errors import ScanError
from pytest_athalia.report._slo import Outcome
from pytest_athalia.security._scan import findings_verdict
from pytest_athalia.security._trivy_report import parse_report

FIXTURES = Path(__file__).parent / "fixtures" / "trivy"


def _text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_secret_in_an_image_names_rule_severity_file_and_line() -> None:
    """The snakeoil key of the old postgres image is a HIGH private-key finding at its file and line."""
    results = parse_report(_text("image-postgres-snakeoil-key.json"), target="athalia-demo/postgres:15",
                           kinds=["secret", "misconfig"])  # fmt: skip
    (finding,) = results["secret"].findings
    assert (finding.id, finding.severity, finding.target) == ("private-key", "HIGH", "athalia-demo/postgres:15")
    assert (finding.file, finding.line) == ("/etc/ssl/private/ssl-cert-snakeoil.key", 2)
    assert finding.title == "Asymmetric Private Key"
    assert "private-key HIGH athalia-demo/postgres:15 /etc/ssl/private/ssl-cert-snakeoil.key:2" in finding.describe()


def test_image_config_checks_count_as_examined() -> None:
    """The image's own config was checked 27 times and passed: misconfig examined 27, no findings."""
    misconfig = parse_report(_text("image-app-clean.json"), target="athalia-demo/app:1.0.0", kinds=["misconfig"])[
        "misconfig"
    ]
    assert misconfig.findings == ()
    assert (misconfig.examined, misconfig.examined_unit, misconfig.samples) == (27, "checks", 27)


def test_a_report_without_results_means_nothing_examined() -> None:
    """Trivy omits Results when it found nothing to check: misconfig examined 0, secrets found none."""
    results = parse_report(_text("image-base-no-results.json"), target="athalia/base:bookworm",
                           kinds=["misconfig", "secret"])  # fmt: skip
    assert results["misconfig"].examined == 0
    assert results["misconfig"].must_examine
    assert results["secret"].findings == ()


def test_dockerfile_misconfigurations_keep_id_severity_and_line_when_known() -> None:
    """A root Dockerfile yields DS-0002 (no line), DS-0029 at line 4 and two CRITICAL DS-0031 at lines 2 and 3."""
    misconfig = parse_report(_text("config-dockerfile-root.json"), target="rootdf/Dockerfile",
                             kinds=["misconfig"])["misconfig"]  # fmt: skip
    found = {(f.id, f.severity, f.line) for f in misconfig.findings}
    assert found == {
        ("DS-0002", "HIGH", None),
        ("DS-0026", "LOW", None),
        ("DS-0029", "HIGH", 4),
        ("DS-0031", "CRITICAL", 2),
        ("DS-0031", "CRITICAL", 3),
    }
    assert misconfig.examined == 28
    root = next(f for f in misconfig.findings if f.id == "DS-0002")
    assert "Image user should not be 'root'" in root.title
    assert root.where == "Dockerfile"


def test_secrets_in_a_compose_file_are_found_and_never_copied() -> None:
    """Two CRITICAL tokens in a compose file are findings; no code excerpt is kept, so no secret text."""
    secret = parse_report(_text("config-compose-secrets.json"), target="docker-compose.yml", kinds=["secret"])["secret"]
    assert {(f.id, f.severity, f.line) for f in secret.findings} == {
        ("aws-secret-access-key", "CRITICAL", 5),
        ("github-pat", "CRITICAL", 6),
    }
    assert "****" not in repr(secret.findings)


def test_vulnerabilities_carry_package_installed_and_fixed_version() -> None:
    """OS and language package vulnerabilities: FixedVersion may be absent, PkgPath is the file."""
    vuln = parse_report(_text("image-app-vulnerabilities.json"), target="athalia-demo/app:1.0.0", kinds=["vuln"])[
        "vuln"
    ]
    by_id = {f.id: f for f in vuln.findings}
    assert set(by_id) == {"CVE-2026-0001", "CVE-2026-0002", "CVE-2026-0003", "GHSA-0000-0000-0001"}
    assert by_id["CVE-2026-0001"].fixed_version == "3.0.16-1~deb12u1"
    assert by_id["CVE-2026-0002"].fixed_version is None
    assert by_id["CVE-2026-0002"].package == "libexpat1"
    assert by_id["GHSA-0000-0000-0001"].file.endswith("PKG-INFO")
    assert "no fix yet" in by_id["CVE-2026-0002"].describe()
    assert "fixed in 3.0.16-1~deb12u1" in by_id["CVE-2026-0001"].describe()
    assert (vuln.examined, vuln.examined_unit, vuln.must_examine) == (6, "packages", True)


def test_a_vulnerability_scan_that_found_no_package_examined_nothing() -> None:
    """Fail closed: an image whose OS Trivy cannot detect (or FROM scratch) has no Results; nothing was checked."""
    vuln = parse_report('{"SchemaVersion": 2}', target="app:1", kinds=["vuln"])["vuln"]
    assert (vuln.examined, vuln.must_examine) == (0, True)
    assert findings_verdict(vuln, ("HIGH",)).outcome is Outcome.INCONCLUSIVE
    assert "found no OS or language packages in app:1" in vuln.notes[0]


def test_licenses_are_findings_by_license_name() -> None:
    """Each license of a package is a finding named by the license, with Trivy's severity."""
    lic = parse_report(_text("image-redis-licenses.json"), target="athalia-demo/redis:7", kinds=["license"])["license"]
    assert ("GPL-2.0-only", "HIGH", "adduser") in {(f.id, f.severity, f.package) for f in lic.findings}
    assert ("BSD-3-Clause", "LOW", "redis-server") in {(f.id, f.severity, f.package) for f in lic.findings}
    gpl = next(f for f in lic.findings if f.package == "adduser")
    assert gpl.describe() == "GPL-2.0-only HIGH athalia-demo/redis:7 adduser - restricted license"  # no "fix"


def test_only_the_asked_kinds_are_returned() -> None:
    """Asking for secrets only returns no misconfig result even where the report has config results."""
    results = parse_report(_text("image-app-clean.json"), target="athalia-demo/app:1.0.0", kinds=["secret"])
    assert set(results) == {"secret"}


def test_minimal_report_with_omitted_fields_parses() -> None:
    """Fields Trivy may omit (Title, StartLine, Severity, CauseMetadata) have defaults."""
    report = {
        "SchemaVersion": 2,
        "Results": [
            {"Target": "etc/key", "Class": "secret", "Secrets": [{"RuleID": "r"}]},
            {"Target": "Dockerfile", "Class": "config", "Misconfigurations": [{"ID": "DS-0001"}]},
        ],
    }
    results = parse_report(json.dumps(report), target="img", kinds=["secret", "misconfig"])
    (secret,) = results["secret"].findings
    assert (secret.severity, secret.line, secret.title) == ("UNKNOWN", None, "")
    (misconfig,) = results["misconfig"].findings
    assert misconfig.id == "DS-0001"
    assert results["misconfig"].examined == 1  # no MisconfSummary: the failed check was still examined


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "not JSON"),
        ("[]", "the top level is not an object"),
        ('{"SchemaVersion": 1}', "SchemaVersion is 1, expected 2"),
        ('{"SchemaVersion": 2, "Results": {}}', "Results is not a list"),
    ],
)
def test_an_unusable_report_is_a_scan_error(text: str, problem: str) -> None:
    """Anything but Trivy's JSON v2 is a ScanError naming the problem and what was expected."""
    with pytest.raises(ScanError, match="Trivy's report for img is unusable") as info:
        parse_report(text, target="img", kinds=["secret"])
    assert problem in str(info.value)
