"""Fixtures for the security gates: Trivy and Bandit."""

from __future__ import annotations

__all__: list[str] = []
