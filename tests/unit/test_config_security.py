"""The ``security`` section: defaults, the demo environments, and errors that name the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_athalia._errors import ConfigError
from pytest_athalia.config._environment import Environment, load_environment
from pytest_athalia.config._security import SecuritySpec

REPO = Path(__file__).parents[2]
STACK = """\
stack:
  compose_files: [../docker-compose.yml]
  service: app
  port: 8000
"""


def _load(envdir: Path, security: str) -> Environment:
    (envdir / "t.yml").write_text(STACK + security, encoding="utf-8")
    return load_environment("t", envdir)


def _error(envdir: Path, security: str) -> str:
    with pytest.raises(ConfigError) as info:
        _load(envdir, security)
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


def test_severities_are_accepted_in_lower_case(envdir: Path) -> None:
    """``fail_on: [high]`` and ``severity: low`` mean HIGH and LOW, as Trivy and Bandit print them."""
    environment = _load(envdir, "security:\n  trivy:\n    fail_on: [high]\n  bandit:\n    severity: low\n")
    assert environment.spec.security.trivy.fail_on == ("HIGH",)
    assert environment.spec.security.bandit.severity == "LOW"


def test_unknown_scanner_names_the_key_and_the_allowed_scanners(envdir: Path) -> None:
    """A typo in image_scanners is reported with its line, key and the scanners that exist."""
    message = _error(envdir, "security:\n  trivy:\n    image_scanners: [vuln, secrets]\n")
    assert "line 7" in message
    assert "security.trivy.image_scanners[1]" in message
    assert "vuln, secret, misconfig, license" in message
    assert "'secrets'" in message


@pytest.mark.parametrize(
    ("security", "expected"),
    [
        pytest.param("trivy:\n    fail_on: [SEVERE]",
                     ["security.trivy.fail_on[0]", "UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL"], id="unknown-severity"),
        # Duplicates are reported rather than silently scanning twice.
        pytest.param("trivy:\n    image_scanners: [secret, secret]", ["secret is listed twice"], id="scanner-twice"),
        # A URL with a scheme is not what --db-repository takes.
        pytest.param("trivy:\n    db_repository: https://mirror.example/trivy-db",
                     ["security.trivy.db_repository", "an OCI repository"], id="db-repository-url"),
        pytest.param("trivy:\n    ignore_unfix: true", ["Rename it to 'ignore_unfixed'"], id="misspelt-key"),
        # Bandit has no CRITICAL.
        pytest.param("bandit:\n    confidence: CRITICAL", ["security.bandit.confidence", "LOW, MEDIUM, HIGH"],
                     id="bandit-critical"),
        pytest.param("trivy:\n    images: ['my image']", ["security.trivy.images", "'my image' is not one"],
                     id="image-with-space"),
        pytest.param("trivy:\n    timeout_seconds: 0", ["a number of seconds, 1 to 3600"], id="timeout-zero"),
        pytest.param("bandit:\n    timeout_seconds: 0.5", ["security.bandit.timeout_seconds", "1 to 3600"],
                     id="timeout-below-one-second"),
    ],
)  # fmt: skip
def test_an_invalid_value_names_the_key_and_what_is_allowed(envdir: Path, security: str, expected: list[str]) -> None:
    """Each invalid value is a ConfigError naming its key and the allowed values, or the fix."""
    message = _error(envdir, f"security:\n  {security}\n")
    for fragment in expected:
        assert fragment in message
