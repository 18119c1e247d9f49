"""Environment-file section ``load``: the Locust run and its k6-style thresholds."""

from __future__ import annotations

from pytest_athalia.schema import Model

__all__ = ["LoadSpec"]


class LoadSpec(Model):
    """The load run against the stack and the thresholds it must meet."""
