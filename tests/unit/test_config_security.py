"""The ``security`` section: defaults, the demo environments, and errors that name the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_athalia.config import Environment, load_environment
from pytest_athalia.config_security import SecuritySpec
from pytest_athalia.errors import ConfigError

REPO = Path(__file__).parents[2]
STACK = """\
stack:
  compose_files: [../docker-compose.yml]
  service: app
  port: 8000
"""


def _load(tmp_path: Path, security: str) -> Environment:
    (tmp_path / "docker-compose.yml").write_text("services: {}\n", encoding="utf-8")
    folder = tmp_path / "environments"
    folder.mkdir(exist_ok=True)
    (folder / "t.yml").write_text(STACK + security, encoding="utf-8")
    return load_environment("t", folder)


def _error(tmp_path: Path, security: str) -> str:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, security)
    return str(info.value)


def test_defaults_scan_every_image_and_fail_on_high_and_critical() -> None:
    """Without a security section: vuln, secret and misconfig on images; HIGH and CRITICAL fail; no Bandit paths."""
    spec = SecuritySpec()
    assert spec.trivy.image_scanners == ("vuln", "secret", "misconfig")
    assert spec.trivy.config_scanners == ("misconfig", "secret")
    assert spec.trivy.fail_on == ("HIGH", "CRITICAL")
    assert spec.trivy.images is None
    assert spec.trivy.config_files is None
    assert not spec.trivy.require_vulnerability_db
    assert spec.bandit.paths == ()


@pytest.mark.parametrize(
    ("name", "fail_on", "db_required"),
    [("dev", (), False), ("staging", ("CRITICAL",), False), ("production", ("HIGH", "CRITICAL"), True)],
)
def test_demo_environments_gate_stricter_towards_production(
    name: str, fail_on: tuple[str, ...], db_required: bool
) -> None:
    """dev reports only, staging allows no CRITICAL, production nothing HIGH or above and needs the vuln DB."""
    environment = load_environment(name, REPO / "demo" / "environments")
    trivy = environment.spec.security.trivy
    assert trivy.fail_on == fail_on
    assert trivy.require_vulnerability_db is db_required
    assert environment.spec.security.bandit.paths == ("../app",)


def test_severities_are_accepted_in_lower_case(tmp_path: Path) -> None:
    """``fail_on: [high]`` and ``severity: low`` mean HIGH and LOW, as Trivy and Bandit print them."""
    environment = _load(tmp_path, "security:\n  trivy:\n    fail_on: [high]\n  bandit:\n    severity: low\n")
    assert environment.spec.security.trivy.fail_on == ("HIGH",)
    assert environment.spec.security.bandit.severity == "LOW"


def test_unknown_scanner_names_the_key_and_the_allowed_scanners(tmp_path: Path) -> None:
    """A typo in image_scanners is reported with its line, key and the scanners that exist."""
    message = _error(tmp_path, "security:\n  trivy:\n    image_scanners: [vuln, secrets]\n")
    assert "line 7" in message
    assert "security.trivy.image_scanners[1]" in message
    assert "vuln, secret, misconfig, license" in message
    assert "'secrets'" in message


def test_unknown_severity_lists_the_severities(tmp_path: Path) -> None:
    """``fail_on: [SEVERE]`` names the valid severities."""
    message = _error(tmp_path, "security:\n  trivy:\n    fail_on: [SEVERE]\n")
    assert "security.trivy.fail_on[0]" in message
    assert "UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL" in message


def test_a_scanner_listed_twice_is_an_error(tmp_path: Path) -> None:
    """Duplicates are reported rather than silently scanning twice."""
    message = _error(tmp_path, "security:\n  trivy:\n    image_scanners: [secret, secret]\n")
    assert "secret is listed twice" in message


def test_db_repository_must_be_an_oci_reference(tmp_path: Path) -> None:
    """A URL with a scheme is not what --db-repository takes."""
    message = _error(tmp_path, "security:\n  trivy:\n    db_repository: https://mirror.example/trivy-db\n")
    assert "security.trivy.db_repository" in message
    assert "an OCI repository" in message


def test_misspelt_key_suggests_the_right_one(tmp_path: Path) -> None:
    """``ignore_unfix`` is unknown; the message suggests ``ignore_unfixed``."""
    message = _error(tmp_path, "security:\n  trivy:\n    ignore_unfix: true\n")
    assert "Rename it to 'ignore_unfixed'" in message


def test_bandit_levels_are_low_medium_or_high(tmp_path: Path) -> None:
    """Bandit has no CRITICAL: the message lists LOW, MEDIUM, HIGH."""
    message = _error(tmp_path, "security:\n  bandit:\n    confidence: CRITICAL\n")
    assert "security.bandit.confidence" in message
    assert "LOW, MEDIUM, HIGH" in message


def test_image_references_are_checked(tmp_path: Path) -> None:
    """An image list entry with spaces is not an image reference."""
    message = _error(tmp_path, "security:\n  trivy:\n    images: ['my image']\n")
    assert "security.trivy.images" in message
    assert "'my image' is not one" in message


def test_timeout_must_be_positive(tmp_path: Path) -> None:
    """``timeout_seconds: 0`` is rejected with the allowed range."""
    message = _error(tmp_path, "security:\n  trivy:\n    timeout_seconds: 0\n")
    assert "a number of seconds, 1 to 3600" in message
