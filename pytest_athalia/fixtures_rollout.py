"""Fixtures for release rehearsals: the router, blue-green and rollback."""

from __future__ import annotations

__all__: list[str] = []
