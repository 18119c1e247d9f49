"""Environment-file sections for releases: ``rollout`` (router, colors, candidate, triggers) and ``slo.rollback``."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from pytest_athalia.schema import EnvName, EnvValue, Model

__all__ = ["CandidateSpec", "RollbackSLO", "RolloutSpec", "RouterSpec"]


class RouterSpec(Model):
    """The HAProxy router the plugin adds in front of the two colors."""

    image: str = Field(
        default="athalia/router:2.6",
        strict=True,
        min_length=1,
        description="an image reference, e.g. haproxy:2.6 (with a registry) or the default athalia/router:2.6",
    )
    build: bool = Field(
        default=True,
        strict=True,
        description="true (build the image from Debian's haproxy when it is missing) or false (use or pull it)",
    )


class CandidateSpec(Model):
    """The release candidate deployed to the idle color."""

    image: str | None = Field(
        default=None,
        strict=True,
        min_length=1,
        description="an image reference (default: the service's own image)",
    )
    env: Mapping[EnvName, EnvValue] = Field(
        default_factory=dict,
        description="a mapping of container environment variables to string, number or true/false values",
    )


class RollbackSLO(Model):
    """How fast and how cleanly a rollback must complete."""

    max_ms: float = Field(
        default=1000.0, strict=True, gt=0, allow_inf_nan=False, description="a number of milliseconds greater than 0"
    )


class RolloutSpec(Model):
    """How the plugin rehearses a release: router, colors and the candidate."""

    enabled: bool = Field(
        default=False,
        strict=True,
        description="true (add the router and a second color to the stack) or false",
    )
    router: RouterSpec = RouterSpec()
    candidate: CandidateSpec = CandidateSpec()
