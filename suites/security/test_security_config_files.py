"""Security suite, config files: Trivy on the stack's Dockerfiles (misconfig, secret) and compose files (secret).

Trivy has no misconfiguration checks for compose files, so they are scanned for secrets only:
a misconfig test there would pass on nothing.
"""

from __future__ import annotations

from pytest_athalia import ConfigCase, Gate, SecurityScans


def test_config_file(athalia_config_case: ConfigCase, athalia_security: SecurityScans, athalia_gate: Gate) -> None:
    """The config file has no finding of a failing severity for this scanner."""
    athalia_security.check_config(athalia_config_case, athalia_gate)
