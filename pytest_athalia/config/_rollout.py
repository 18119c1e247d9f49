"""Environment-file sections for releases: ``rollout`` (router, colors, candidate, triggers) and ``slo.rollback``.

Every rollout key has a default, so ``rollout: {enabled: true}`` is a complete section. See docs/rollout.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from pytest_athalia.config._canary import CanarySpec
from pytest_athalia.config._schema import EnvName, EnvValue, Model, Number, PositiveNumber, URLPath

__all__ = [
    "CandidateSpec",
    "ErrorRateTrigger",
    "ExternalTrigger",
    "FaultSpec",
    "HealthTrigger",
    "LatencyTrigger",
    "ProbeSpec",
    "RollbackSLO",
    "RolloutSpec",
    "RouterSpec",
    "SmokeSpec",
    "TriggersSpec",
]

DrillName = Annotated[str, Field(strict=True, pattern=r"^[a-z][a-z0-9_]*$")]
ServiceName = Annotated[str, Field(strict=True, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")]
# An expected HTTP status: a code (200) or a class (2xx).
_STATUS = re.compile(r"^[1-5](xx|[0-9]{2})$")


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


class FaultSpec(Model):
    """A fault the router injects into the candidate's answers once it is live (a drill with no help from the app)."""

    error_ratio: Number = Field(
        default=0.0,
        ge=0,
        le=1,
        description="a ratio from 0 to 1 (0.5: the router answers half of the candidate's requests with `status`)",
    )
    status: int = Field(
        default=500, strict=True, ge=100, le=599, description="an HTTP status from 100 to 599 (default 500)"
    )
    latency_ms: Number = Field(
        default=0.0,
        ge=0,
        le=60000,
        description="a number of milliseconds from 0 to 60000 added to each of the candidate's answers",
    )
    health: Literal["fail"] | None = Field(
        default=None,
        description="fail (the router's health checks of the candidate fail, so it shows DOWN)",
    )

    @model_validator(mode="after")
    def _does_something(self) -> FaultSpec:
        if self.error_ratio == 0 and self.latency_ms == 0 and self.health is None:
            raise ValueError("a fault that does something: error_ratio above 0, latency_ms above 0, or health: fail")
        return self


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
    # Injected by the router after the switch: drills work on any app (docs/rollout.md).
    fault: FaultSpec | None = Field(
        default=None,
        description="a mapping of error_ratio, status, latency_ms and health: fail (see docs/rollout.md)",
    )


class ProbeSpec(Model):
    """The background traffic sent through the router during switches and rollbacks."""

    path: URLPath | None = Field(
        default=None,
        description="a URL path starting with '/' (default: stack.version_path, else stack.health_path)",
    )
    rate: Number = Field(
        default=300.0,
        ge=200,
        le=5000,
        description="a number of requests per second from 200 to 5000",
    )
    clients: int = Field(
        default=6, strict=True, ge=1, le=64, description="a whole number of keep-alive clients from 1 to 64"
    )
    timeout_ms: PositiveNumber = Field(
        default=2000.0,
        le=60000,
        description="a number of milliseconds per request, greater than 0 and at most 60000",
    )
    max_seconds: PositiveNumber = Field(
        default=60.0,
        le=600,
        description="a number of seconds greater than 0 and at most 600 (the probe's hard time bound)",
    )
    # Where users come in: a front service of the stack (e.g. nginx calling the app by name), else the router.
    service: ServiceName | None = Field(
        default=None,
        description="a compose service whose published port the probe enters through (default: the router)",
    )
    port: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        le=65535,
        description="the container port of rollout.probe.service, 1 to 65535 (default: its only published port)",
    )

    @model_validator(mode="after")
    def _port_needs_service(self) -> ProbeSpec:
        if self.port is not None and self.service is None:
            raise ValueError("port is the container port of `service`: set service too, or remove port")
        return self


class SmokeSpec(Model):
    """Requests sent straight to the candidate (bypassing the router) before it gets traffic."""

    paths: tuple[URLPath, ...] = Field(
        default=(),
        description="a list of URL paths starting with '/' (default: [stack.health_path])",
    )
    timeout_ms: PositiveNumber = Field(default=2000.0, description="a number of milliseconds greater than 0")
    expect_status: tuple[str, ...] | Literal["live"] = Field(
        default=("2xx",),
        description=(
            "a list of statuses or classes the candidate and the live version must answer, e.g. [2xx] or [200, 204], "
            "or `live` (the same class as the live version's answer)"
        ),
    )

    @field_validator("expect_status", mode="before")
    @classmethod
    def _statuses(cls, value: object) -> object:
        if value == "live" or not isinstance(value, list | tuple):
            return value
        out = []
        for item in value:
            text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
            if not isinstance(text, str) or not _STATUS.fullmatch(text):
                raise ValueError(f"{item!r} is not a status: write a code such as 200 or a class such as 2xx")
            out.append(text)
        if not out:
            raise ValueError("an empty list accepts no answer: list at least one status, or write `live`")
        return tuple(out)


class ErrorRateTrigger(Model):
    """Roll back when the candidate's share of failed probe requests exceeds a limit."""

    enabled: bool = Field(default=True, strict=True, description="true or false")
    max_ratio: Number = Field(
        default=0.05,
        ge=0,
        lt=1,
        description="a ratio from 0 to below 1 (0.05: roll back above 5 % failed requests)",
    )
    min_samples: int = Field(default=50, strict=True, ge=1, description="a whole number of probe requests, at least 1")


class LatencyTrigger(Model):
    """Roll back when the candidate's p95 latency through the router exceeds a limit."""

    enabled: bool = Field(default=True, strict=True, description="true or false")
    max_p95_ms: PositiveNumber = Field(default=250.0, description="a number of milliseconds greater than 0")
    min_samples: int = Field(default=10, strict=True, ge=1, description="a whole number of probe requests, at least 1")


class HealthTrigger(Model):
    """Roll back when the candidate's health check fails (polled directly) or the router marks it DOWN."""

    enabled: bool = Field(default=True, strict=True, description="true or false")
    path: URLPath | None = Field(
        default=None,
        description="a URL path starting with '/' (default: stack.ready_path, else stack.health_path)",
    )
    interval_ms: Number = Field(
        default=50.0,
        ge=10,
        description="a number of milliseconds between checks, at least 10",
    )
    max_failures: int = Field(
        default=3, strict=True, ge=1, description="a whole number of consecutive failed checks, at least 1"
    )


class ExternalTrigger(Model):
    """Roll back when an external signal (the users' complaints) says so: a URL or a command."""

    url: str | None = Field(
        default=None,
        strict=True,
        pattern=r"^https?://\S+$",
        description="an http:// or https:// URL (roll back when it answers non-2xx, or matches `match`)",
    )
    command: tuple[str, ...] | None = Field(
        default=None,
        min_length=1,
        description="a command as a list, e.g. [sh, -c, 'exit 0'] (roll back on a non-zero exit, or on `match`)",
    )
    match: str | None = Field(
        default=None,
        strict=True,
        min_length=1,
        description="a regular expression; when set, the signal says roll back when the answer body or output matches",
    )
    interval_ms: Number = Field(
        default=200.0,
        ge=10,
        description="a number of milliseconds between polls, at least 10",
    )
    timeout_ms: PositiveNumber = Field(default=1000.0, description="a number of milliseconds greater than 0")

    @model_validator(mode="after")
    def _one_source(self) -> ExternalTrigger:
        if self.url is not None and self.command is not None:
            raise ValueError("either url or command, not both")
        return self

    @property
    def configured(self) -> bool:
        return self.url is not None or self.command is not None


class TriggersSpec(Model):
    """The four automatic-rollback triggers, judged over a sliding window of samples."""

    window_ms: Number = Field(
        default=1000.0,
        ge=100,
        description="a number of milliseconds, at least 100 (the sliding window each trigger judges)",
    )
    error_rate: ErrorRateTrigger = ErrorRateTrigger()
    latency: LatencyTrigger = LatencyTrigger()
    health: HealthTrigger = HealthTrigger()
    external: ExternalTrigger = ExternalTrigger()


class RolloutSpec(Model):
    """How the plugin rehearses a release: router, colors, the candidate, the probe and the triggers."""

    enabled: bool = Field(
        default=False,
        strict=True,
        description="true (add the router and a second color to the stack) or false",
    )
    router: RouterSpec = RouterSpec()
    candidate: CandidateSpec = CandidateSpec()
    deploy_timeout_s: PositiveNumber = Field(
        default=120.0,
        description="a number of seconds greater than 0 (deploying a color and waiting until it is healthy)",
    )
    observe_s: PositiveNumber = Field(
        default=3.0,
        le=300,
        description="a number of seconds greater than 0 and at most 300 (how long a live candidate is watched)",
    )
    baseline_s: PositiveNumber = Field(
        default=2.0,
        ge=0.5,
        le=30,
        description=(
            "a number of seconds from 0.5 to 30 (how long the live version is watched by the probe and the "
            "triggers before the candidate is deployed)"
        ),
    )
    probe: ProbeSpec = ProbeSpec()
    smoke: SmokeSpec = SmokeSpec()
    triggers: TriggersSpec = TriggersSpec()
    canary: CanarySpec = CanarySpec()  # docs/canary.md
    drills: Mapping[DrillName, CandidateSpec] = Field(
        default_factory=dict,
        description=(
            "a mapping of drill names (lower case, e.g. error_rate) to bad candidates "
            "({fault: {error_ratio: 0.5}}, or {image: ..., env: {FAULT_ERROR_RATE: '0.5'}} for an app's own faults)"
        ),
    )


class RollbackSLO(Model):
    """How fast and how cleanly a switch or a rollback must complete."""

    max_ms: PositiveNumber = Field(default=1000.0, description="a number of milliseconds greater than 0")
    max_switch_ms: PositiveNumber = Field(default=1000.0, description="a number of milliseconds greater than 0")
    max_failed_requests: int = Field(
        default=0, strict=True, ge=0, description="a whole number of failed requests, at least 0"
    )
