"""Fixtures for load runs (Locust, always in a subprocess)."""

from __future__ import annotations

__all__: list[str] = []
