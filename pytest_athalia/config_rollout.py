"""Environment-file sections for releases: ``rollout`` (router, colors, candidate, triggers) and ``slo.rollback``."""

from __future__ import annotations

from pydantic import Field

from pytest_athalia.schema import Model

__all__ = ["RollbackSLO", "RolloutSpec"]


class RollbackSLO(Model):
    """How fast and how cleanly a rollback must complete."""

    max_ms: float = Field(
        default=1000.0, strict=True, gt=0, allow_inf_nan=False, description="a number of milliseconds greater than 0"
    )


class RolloutSpec(Model):
    """How the plugin rehearses a release: router, colors and the candidate."""
