"""Environment-file section ``security``: Trivy on images and config files, Bandit on code.

Paths are relative to the environment file's folder, like every path in it. Each environment
says which severities fail its gates: ``fail_on: []`` reports only (dev), ``[CRITICAL]`` allows
no CRITICAL finding (staging), ``[HIGH, CRITICAL]`` nothing HIGH or above (production).
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal, get_args

from pydantic import BeforeValidator, Field, field_validator

from pytest_athalia.config._schema import Model, Number, list_only, path_text

__all__ = [
    "SEVERITIES",
    "BanditLevel",
    "BanditSpec",
    "ConfigScanner",
    "ImageScanner",
    "SecuritySpec",
    "Severity",
    "TrivySpec",
]

Severity = Literal["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
ImageScanner = Literal["vuln", "secret", "misconfig", "license"]
ConfigScanner = Literal["misconfig", "secret"]
BanditLevel = Literal["LOW", "MEDIUM", "HIGH"]

# An OCI reference as trivy's --db-repository takes it: registry/path[:tag], no scheme.
_OCI_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*(?::\d+)?(?:/[a-z0-9._-]+)+(?::[\w][\w.-]{0,127})?$")
# An image reference as `docker image inspect` takes it (name[:tag][@digest]).
_IMAGE_REFERENCE = re.compile(r"^[a-z0-9][a-z0-9._/:-]*(?:@sha256:[0-9a-f]{64})?$")

Path = Annotated[str, BeforeValidator(path_text)]


def _unique(values: tuple[str, ...], what: str) -> tuple[str, ...]:
    seen = [value for index, value in enumerate(values) if value in values[:index]]
    if seen:
        raise ValueError(f"a list of distinct {what} ({seen[0]} is listed twice)")
    return values


def _upper(value: object) -> object:
    # Trivy and Bandit print severities in capitals; accept `high` as written by hand.
    if isinstance(value, str):
        return value.upper()
    if isinstance(value, (list, tuple)):
        return [item.upper() if isinstance(item, str) else item for item in value]
    return value


class TrivySpec(Model):
    """Trivy scans of the stack's images and of its Dockerfiles and compose files."""

    enabled: bool = Field(default=True, strict=True, description="true or false")
    image_scanners: Annotated[tuple[ImageScanner, ...], BeforeValidator(list_only)] = Field(
        default=("vuln", "secret", "misconfig"),
        description="a list of image scanners out of: " + ", ".join(get_args(ImageScanner)),
    )
    config_scanners: Annotated[tuple[ConfigScanner, ...], BeforeValidator(list_only)] = Field(
        default=("misconfig", "secret"),
        description="a list of config-file scanners out of: " + ", ".join(get_args(ConfigScanner)),
    )
    fail_on: Annotated[tuple[Severity, ...], BeforeValidator(_upper), BeforeValidator(list_only)] = Field(
        default=("HIGH", "CRITICAL"),
        description="a list of severities that fail the gate, out of: " + ", ".join(SEVERITIES) + " ([] reports only)",
    )
    ignore_unfixed: bool = Field(default=False, strict=True, description="true or false")
    ignore_file: Path | None = Field(
        default=None,
        description="a path to a .trivyignore file (IDs, one a line, optionally with exp:YYYY-MM-DD)",
    )
    require_vulnerability_db: bool = Field(default=False, strict=True, description="true or false")
    db_repository: str | None = Field(
        default=None,
        strict=True,
        pattern=_OCI_REFERENCE.pattern,
        description="an OCI repository of the vulnerability DB, e.g. registry.example.com/aquasec/trivy-db:2",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="a directory for Trivy's cache and vulnerability DB (default: $TRIVY_CACHE_DIR or ~/.cache/trivy)",
    )
    timeout_seconds: Number = Field(default=300.0, ge=1, le=3600, description="a number of seconds, 1 to 3600")
    images: Annotated[tuple[str, ...], BeforeValidator(list_only)] | None = Field(
        default=None,
        description="a list of image references, e.g. [athalia-demo/app:1.0.0] (default: the stack's images)",
    )
    config_files: Annotated[tuple[Path, ...], BeforeValidator(list_only)] | None = Field(
        default=None,
        description="a list of Dockerfile and compose file paths (default: the stack's compose files and Dockerfiles)",
    )
    build_missing: bool = Field(default=True, strict=True, description="true or false")

    @field_validator("image_scanners", "config_scanners", "fail_on")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _unique(value, "values")

    @field_validator("images")
    @classmethod
    def _images(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        for image in value:
            if not isinstance(image, str) or not _IMAGE_REFERENCE.fullmatch(image):
                raise ValueError(f"a list of image references like name:tag ({image!r} is not one)")
        return _unique(value, "images")


class BanditSpec(Model):
    """Bandit on the project's own Python code."""

    enabled: bool = Field(default=True, strict=True, description="true or false")
    paths: Annotated[tuple[Path, ...], BeforeValidator(list_only)] = Field(
        default=(), description="a list of source paths to scan, e.g. [../app] ([]: no Bandit test)"
    )
    severity: Annotated[BanditLevel, BeforeValidator(_upper)] = Field(
        default="MEDIUM", description="the lowest failing severity, one of: " + ", ".join(get_args(BanditLevel))
    )
    confidence: Annotated[BanditLevel, BeforeValidator(_upper)] = Field(
        default="MEDIUM", description="the lowest failing confidence, one of: " + ", ".join(get_args(BanditLevel))
    )
    baseline: Path | None = Field(
        default=None, description="a path to a Bandit JSON report (bandit -f json -o FILE); only new findings fail"
    )
    exclude: Annotated[tuple[Path, ...], BeforeValidator(list_only)] = Field(
        default=(), description="a list of paths or globs to leave out, e.g. [../app/tests]"
    )
    timeout_seconds: Number = Field(default=300.0, ge=1, le=3600, description="a number of seconds, 1 to 3600")


class SecuritySpec(Model):
    """Image, configuration and code scans, and what each environment tolerates."""

    trivy: TrivySpec = TrivySpec()
    bandit: BanditSpec = BanditSpec()
