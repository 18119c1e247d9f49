"""Environment-file section ``security``: Trivy and Bandit gates."""

from __future__ import annotations

from pytest_athalia.schema import Model

__all__ = ["SecuritySpec"]


class SecuritySpec(Model):
    """Image, configuration and code scans, and what each environment tolerates."""
