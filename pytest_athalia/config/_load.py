"""Environment-file section ``load``: the Locust run and its k6-style thresholds.

Threshold expressions are parsed here, when the file is loaded, into frozen
:class:`~pytest_athalia.load._thresholds.LoadThreshold` values: a typo is a configuration error
at start-up, not a surprise after a load run.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Final
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    field_validator,
)

from pytest_athalia.config._schema import Model, PositiveNumber, list_only, path_text
from pytest_athalia.load._thresholds import VALID_FORMS, LoadThreshold, parse_threshold

__all__ = ["LoadSpec", "is_loopback", "parse_seconds"]

_DURATION = re.compile(r"^\s*(?:(?P<h>\d+)h)?\s*(?:(?P<m>\d+)m)?\s*(?:(?P<s>\d+(?:\.\d+)?)s?)?\s*$")
_ENDPOINT = re.compile(r"^[A-Z]+ \S.*$")
_SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(?::\d{1,5})?$")
MAX_DURATION_SECONDS: Final = 24 * 3600.0
_DURATION_FORMS: Final = "a number of seconds greater than 0, or a duration like 30s, 2m, 1m30s"


def parse_seconds(value: object) -> float:
    """Seconds from a number or ``30s``/``2m``/``1m30s``/``1h``; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(_DURATION_FORMS)
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)) and any(match.groupdict().values()):
        seconds = int(match["h"] or 0) * 3600 + int(match["m"] or 0) * 60 + float(match["s"] or 0)
    else:
        raise ValueError(_DURATION_FORMS)
    if not 0 < seconds <= MAX_DURATION_SECONDS:
        raise ValueError(f"{_DURATION_FORMS}, at most 24h")
    return seconds


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine's loopback (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _threshold(value: object) -> LoadThreshold:
    return parse_threshold(value)


def _target(value: object) -> object:
    if value is None:
        return None
    expected = (
        "a compose service of the stack with an optional container port (e.g. app or app:8000), "
        "or a loopback URL (e.g. http://127.0.0.1:8080); load goes only to the stack's own addresses"
    )
    if not isinstance(value, str) or not value.strip():
        raise ValueError(expected)
    if "://" not in value:
        if not _SERVICE.fullmatch(value):
            raise ValueError(expected)
        return value
    split = urlsplit(value)
    if split.scheme not in {"http", "https"} or not split.hostname:
        raise ValueError(expected)
    if not is_loopback(split.hostname):
        raise ValueError(f"{expected}; {split.hostname!r} is not a loopback address")
    return value


Threshold = Annotated[
    LoadThreshold,
    PlainValidator(_threshold),
    PlainSerializer(str, return_type=str),
]


def _distinct(values: tuple[LoadThreshold, ...]) -> tuple[LoadThreshold, ...]:
    # Each threshold becomes a check named after its metric; two of one metric would share a name.
    seen: dict[str, str] = {}
    for threshold in values:
        if threshold.name in seen:
            raise ValueError(
                f"each metric at most once per list (its check is named after it): {seen[threshold.name]!r} "
                f"and {threshold.text!r} both judge {threshold.name}; keep the one you mean"
            )
        seen[threshold.name] = threshold.text
    return values


Thresholds = Annotated[tuple[Threshold, ...], BeforeValidator(list_only), AfterValidator(_distinct)]
Seconds = Annotated[float, BeforeValidator(parse_seconds)]


class LoadSpec(Model):
    """The load run against the stack and the thresholds it must meet. Off while ``locustfile`` is unset."""

    locustfile: Annotated[str, BeforeValidator(path_text)] | None = Field(
        default=None,
        description="a locustfile path relative to the environment file, e.g. ../locustfile.py",
    )
    users: int = Field(default=10, strict=True, ge=1, le=100_000, description="a whole number of users from 1")
    spawn_rate: PositiveNumber = Field(default=10.0, description="a number of users started per second, greater than 0")
    duration: Seconds = Field(default=30.0, description=_DURATION_FORMS)
    workers: int = Field(
        default=0,
        strict=True,
        ge=0,
        le=64,
        description="a whole number of local worker processes from 0 (0: one process, no master/worker mode)",
    )
    remote_workers: int = Field(
        default=0,
        strict=True,
        ge=0,
        le=1000,
        description="a whole number of workers started elsewhere that the master waits for (default 0)",
    )
    master_bind_host: str = Field(
        default="127.0.0.1",
        strict=True,
        min_length=1,
        description="the address the master listens on for workers (default 127.0.0.1; * for remote workers)",
    )
    master_port: int = Field(
        default=0,
        strict=True,
        validate_default=True,
        ge=0,
        le=65535,
        description="the master's port for workers, 0 for any free port (set it for remote workers)",
    )
    target: str | None = Field(
        default=None,
        description="a compose service of the stack with an optional container port, or a loopback URL",
    )
    thresholds: Thresholds = Field(default=(), description=f"a list of thresholds: {VALID_FORMS}")
    endpoints: Mapping[Annotated[str, Field(pattern=_ENDPOINT.pattern)], Thresholds] = Field(
        default_factory=dict,
        description=(
            "a mapping of 'METHOD NAME' keys (Locust's request method and name, e.g. 'GET /items') "
            "to lists of thresholds like 'p95 < 200ms'"
        ),
    )
    window: Seconds | None = Field(
        default=None,
        description="a window length like 5s (every such window must meet the thresholds), or null for none",
    )
    min_requests: int = Field(
        default=50,
        strict=True,
        ge=1,
        description="a whole number of requests from 1 that a threshold needs before it can pass",
    )
    max_generator_cpu: PositiveNumber = Field(
        default=90.0,
        le=100,
        description="a CPU percentage above 0 and at most 100; at or above it the generator is saturated",
    )

    @field_validator("target", mode="before")
    @classmethod
    def _check_target(cls, value: object) -> object:
        return _target(value)

    @field_validator("window")
    @classmethod
    def _window_fits(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and (value < 1 or not value.is_integer()):
            raise ValueError("a window of whole seconds, at least 1 (the series has one point per second), like 5s")
        duration = info.data.get("duration")
        if value is not None and isinstance(duration, float) and value > duration:
            raise ValueError(f"a window no longer than duration ({duration:g} s), like 5s")
        users, rate = info.data.get("users"), info.data.get("spawn_rate")
        if value is not None and isinstance(duration, float) and isinstance(users, int) and isinstance(rate, float):
            ramp = users / rate
            if ramp + value >= duration:
                # Windows are judged only once every user runs: a window that does not fit would always fail.
                raise ValueError(
                    f"a window that fits in the run after its ramp-up: users / spawn_rate = {ramp:g} s plus the "
                    f"window {value:g} s must stay below duration ({duration:g} s); shorten the window, or raise "
                    "duration or spawn_rate"
                )
        return value

    @field_validator("master_port")
    @classmethod
    def _port_for_remote(cls, value: int, info: ValidationInfo) -> int:
        if value == 0 and info.data.get("remote_workers"):
            raise ValueError("a fixed port (e.g. 5557) when remote_workers is set: remote workers must know it")
        return value

    @property
    def enabled(self) -> bool:
        return self.locustfile is not None

    @property
    def expected_workers(self) -> int:
        return self.workers + self.remote_workers
