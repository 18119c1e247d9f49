"""Environment-file section ``rollout.canary``: canary steps, the statistical judge, post-deploy monitoring.

Every key has a default, so ``rollout: {enabled: true}`` gives a canary of 5, 25, 50 and 100 % judged at
a confidence of 0.98 against the live version. See docs/canary.md.
"""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pytest_athalia.config._schema import Model, PositiveNumber

__all__ = ["CanarySpec", "JudgeSpec", "PostDeploySpec", "PrometheusSpec"]


class JudgeSpec(Model):
    """Canary against baseline (the live version, same window), per metric: a statistical test and a limit."""

    confidence: float = Field(
        default=0.98,
        gt=0.5,
        lt=1.0,
        description="a number above 0.5 and below 1 (1 - the p-value below which a difference counts)",
    )
    min_samples: int = Field(
        default=50,
        strict=True,
        ge=10,
        description="a whole number, at least 10 (requests per color before a metric can pass)",
    )
    max_error_increase: float = Field(
        default=0.10,
        ge=0,
        le=1,
        description="a ratio from 0 to 1 (the canary's error rate may exceed the baseline's by at most this much)",
    )
    max_latency_increase: float = Field(
        default=0.20,
        ge=0,
        description="a ratio of at least 0 (the canary's p95 and p99 may exceed the baseline's by at most this share)",
    )
    min_latency_increase_ms: float = Field(
        default=25.0,
        ge=0,
        description=(
            "a number of milliseconds, at least 0 (a latency regression must also exceed the baseline by this "
            "much: +20 % of a few ms is noise)"
        ),
    )


class PostDeploySpec(Model):
    """After 100 %: watch the release against the pre-deploy baseline, alert a webhook and roll back on a breach."""

    window_s: PositiveNumber = Field(
        default=10.0,
        le=86400,
        description="a number of seconds greater than 0, at most 86400 (short in dev, long in production)",
    )
    interval_s: PositiveNumber = Field(
        default=1.0, le=3600, description="a number of seconds greater than 0 (how often the window is judged)"
    )
    webhook: str | None = Field(
        default=None,
        description="an http(s) URL that receives each alert as a JSON POST, or null (alerts are only reported)",
    )
    rollback: bool = Field(default=True, strict=True, description="true (roll back on a breach) or false")

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, found {value!r}")
        return value


class PrometheusSpec(Model):
    """The Prometheus the run starts beside the router when ``metrics: prometheus`` (docs/canary.md)."""

    image: str = Field(
        default="athalia/prometheus:bookworm",
        strict=True,
        min_length=1,
        description="an image reference with prometheus and bash on its PATH (default athalia/prometheus:bookworm)",
    )
    build: bool = Field(
        default=True,
        strict=True,
        description="true (build the image from Debian's prometheus when it is missing) or false (use or pull it)",
    )


class CanarySpec(Model):
    """A canary release: traffic steps through the router, each judged before the next."""

    steps: tuple[int, ...] = Field(
        default=(5, 25, 50, 100),
        description="increasing percentages of traffic from 1 to 100, ending at 100 (e.g. [5, 25, 50, 100])",
    )
    step_s: PositiveNumber = Field(
        default=10.0,
        le=3600,
        description="a number of seconds greater than 0 (how long a step holds at least, unless samples suffice)",
    )
    max_step_s: PositiveNumber = Field(
        default=30.0,
        le=7200,
        description="a number of seconds greater than 0 (how long an inconclusive step may extend before it fails)",
    )
    metrics: Literal["haproxy", "prometheus"] = Field(
        default="haproxy",
        description="haproxy (the router's per-server stats) or prometheus (PromQL on a Prometheus the run starts)",
    )
    load: Literal["probe", "locust"] = Field(
        default="probe", description="probe (the rollout's traffic probe) or locust (the environment's load run)"
    )
    dry_run: bool = Field(
        default=False,
        strict=True,
        description="true (judge every step but move no weight after the first) or false",
    )
    prometheus: PrometheusSpec = PrometheusSpec()
    judge: JudgeSpec = JudgeSpec()
    post_deploy: PostDeploySpec = PostDeploySpec()

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps: tuple[int, ...]) -> tuple[int, ...]:
        if not steps:
            raise ValueError("expected at least one step, ending at 100")
        if any(isinstance(step, bool) or not 1 <= step <= 100 for step in steps):
            raise ValueError(f"expected percentages from 1 to 100, found {list(steps)}")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError(f"expected increasing percentages, found {list(steps)}")
        if steps[-1] != 100:
            raise ValueError(f"expected the last step to be 100, found {list(steps)}")
        return steps

    @model_validator(mode="after")
    def _max_covers_step(self) -> CanarySpec:
        if self.max_step_s < self.step_s:
            raise ValueError(f"max_step_s ({self.max_step_s:g}) must be at least step_s ({self.step_s:g})")
        return self
