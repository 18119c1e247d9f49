"""The security suite's test cases: one per image and scanner, one per config file and scanner.

Worked out at collection time from the environment; when that fails, a single case carries the
reason so that its test fails with it instead of collection breaking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .._errors import AthaliaError
from ..config._environment import Environment
from ._targets import ConfigFile, ImageTarget, SecurityTargets, discover_targets

__all__ = ["ConfigCase", "ImageCase", "config_cases", "discover", "file_scanners", "image_cases"]


@dataclass(frozen=True)
class ImageCase:
    """One test: ``scanner`` on ``image``; ``problem`` set when the cases could not be worked out."""

    image: str
    scanner: str
    target: ImageTarget | None = None
    problem: str = ""

    @property
    def id(self) -> str:
        if self.problem:
            return "no-images"
        return f"{self.target.service if self.target and self.target.service else self.image}-{self.scanner}"


@dataclass(frozen=True)
class ConfigCase:
    """One test: ``scanner`` on a config file."""

    file: ConfigFile | None
    scanner: str
    problem: str = ""

    @property
    def id(self) -> str:
        return f"{self.file.shown}-{self.scanner}" if self.file else "no-config-files"


def image_cases(targets: SecurityTargets | None, environment: Environment, problem: str = "") -> list[ImageCase]:
    spec = environment.spec.security.trivy
    if problem or targets is None:
        return [ImageCase("", "", problem=problem or "no targets")]
    return [ImageCase(t.image, scanner, t) for t in targets.images for scanner in spec.image_scanners]


def config_cases(targets: SecurityTargets | None, environment: Environment, problem: str = "") -> list[ConfigCase]:
    if problem or targets is None:
        return [ConfigCase(None, "", problem=problem or "no targets")]
    return [ConfigCase(f, scanner) for f in targets.config_files for scanner in file_scanners(f, environment)]


def file_scanners(file: ConfigFile, environment: Environment) -> tuple[str, ...]:
    scanners = environment.spec.security.trivy.config_scanners
    # Trivy has no checks for compose files: a misconfig test there would pass on nothing.
    return tuple(s for s in scanners if s == "secret") if file.kind == "compose" else tuple(scanners)


def discover(
    environment: Environment, *, add_secrets: Callable[..., None], redact: Callable[[str], str]
) -> tuple[SecurityTargets | None, str]:
    """The targets, or None and why not (reported by each test instead of breaking collection)."""
    try:
        return discover_targets(environment, add_secrets=add_secrets, redact=redact), ""
    except AthaliaError as exc:
        return None, str(exc)
