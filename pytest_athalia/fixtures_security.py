"""Fixtures for the security gates (Trivy and Bandit), and the hook that makes one test per case.

A test that takes ``athalia_image_case`` runs once per image of the stack and image scanner;
one that takes ``athalia_config_case`` once per config file and config scanner. The cases are
worked out at collection time from the environment loaded when pytest started. If they cannot be
(no Docker, a compose error), a single case carries the reason and its test fails with it.

Each driver is a small session fixture a conftest.py can override (e.g. with
:class:`~pytest_athalia.trivy.FakeTrivy`): ``athalia_trivy``, ``athalia_bandit``,
``athalia_docker_images``, ``athalia_scan_cache``.

The scan cache lives in ``.athalia-cache/security`` under the rootdir; ``--athalia-scan-cache``
(``ATHALIA_SCAN_CACHE``, ini ``athalia_scan_cache``) names another folder, or turns it off with ``off``.
"""

from __future__ import annotations

import contextlib
import os

import pytest

from .bandit_scan import Bandit, BanditDriver
from .config import Environment
from .errors import AthaliaError
from .runtime import runtime_of
from .scan_cache import ScanCache
from .security import SecurityScans
from .security_cases import ConfigCase, ImageCase, config_cases, discover, image_cases
from .security_targets import DockerImages, LocalDockerImages, SecurityTargets
from .settings import Settings
from .trivy import Trivy, TrivyDriver

__all__ = [
    "athalia_bandit",
    "athalia_docker_images",
    "athalia_scan_cache",
    "athalia_security",
    "athalia_trivy",
    "pytest_generate_tests",
]

IMAGE_CASE = "athalia_image_case"
CONFIG_CASE = "athalia_config_case"
_TARGETS = pytest.StashKey[tuple[SecurityTargets | None, str]]()


def _targets(config: pytest.Config, environment: Environment) -> tuple[SecurityTargets | None, str]:
    """Discovered once per process (compose config takes a moment); later tests reuse it."""
    if _TARGETS not in config.stash:
        runtime = runtime_of(config)
        config.stash[_TARGETS] = discover(environment, add_secrets=runtime.redactor.add, redact=runtime.redactor.redact)
    return config.stash[_TARGETS]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wanted = [name for name in (IMAGE_CASE, CONFIG_CASE) if name in metafunc.fixturenames]
    if not wanted:
        return
    runtime = runtime_of(metafunc.config)
    environment = runtime.environment
    for name in wanted:
        if environment is None:
            problem = str(runtime.environment_error or "no environment is configured")
            cases: list[ImageCase] | list[ConfigCase] = (
                [ImageCase("", "", problem=problem)] if name == IMAGE_CASE else [ConfigCase(None, "", problem=problem)]
            )
        elif not environment.spec.security.trivy.enabled:
            metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(reason=_disabled(environment)))])
            continue
        else:
            targets, problem = _targets(metafunc.config, environment)
            make = image_cases if name == IMAGE_CASE else config_cases
            cases = make(targets, environment, problem)
        metafunc.parametrize(name, cases, ids=[case.id for case in cases])


def _disabled(environment: Environment) -> str:
    return f"security.trivy.enabled is false in {environment.path}"


@pytest.fixture(scope="session")
def athalia_trivy(pytestconfig: pytest.Config) -> TrivyDriver:
    """Session: the Trivy driver (:class:`~pytest_athalia.trivy.Trivy`); the binary is looked up on first scan."""
    return Trivy(redact=runtime_of(pytestconfig).redactor.redact)


@pytest.fixture(scope="session")
def athalia_bandit(pytestconfig: pytest.Config) -> BanditDriver:
    """Session: the Bandit driver (:class:`~pytest_athalia.bandit_scan.Bandit`, this Python's bandit)."""
    return Bandit(redact=runtime_of(pytestconfig).redactor.redact)


@pytest.fixture(scope="session")
def athalia_docker_images(pytestconfig: pytest.Config) -> DockerImages:
    """Session: local images (IDs through ``docker image inspect``, builds through ``docker compose build``)."""
    runtime = runtime_of(pytestconfig)
    return LocalDockerImages(
        progress=runtime.progress,
        add_secrets=runtime.redactor.add,
        redact=runtime.redactor.redact,
        groups=runtime,  # starts the watchdog only if an image must be built
    )


@pytest.fixture(scope="session")
def athalia_scan_cache(athalia_settings: Settings) -> ScanCache:
    """Session: scan results by image ID (``--athalia-scan-cache``, default ``.athalia-cache/security``; ``off``)."""
    return ScanCache(athalia_settings.scan_cache.value)


@pytest.fixture(scope="session")
def athalia_security(
    pytestconfig: pytest.Config,
    athalia_environment: Environment,
    athalia_trivy: TrivyDriver,
    athalia_bandit: BanditDriver,
    athalia_docker_images: DockerImages,
    athalia_scan_cache: ScanCache,
) -> SecurityScans:
    """Session: runs each scan once and judges it: ``check_image(case, gate)``, ``check_config``, ``check_bandit``.

    Findings of every check are also written to ``<report folder>/security/<check>.json`` (redacted).
    """
    runtime = runtime_of(pytestconfig)
    # Secrets of stack.env are known to the redactor before any finding is printed, even when
    # nothing else resolves them (no stack runs in a security-only session).
    with contextlib.suppress(AthaliaError):  # an unresolvable secret has no value to mask
        runtime.redactor.add(*athalia_environment.resolved_env(os.environ)[1])
    targets, _ = _targets(pytestconfig, athalia_environment)
    scans = SecurityScans(
        athalia_environment,
        trivy=athalia_trivy,
        bandit=athalia_bandit,
        images=athalia_docker_images,
        cache=athalia_scan_cache,
        progress=runtime.progress,
        redact=runtime.redactor.redact,
        artifact_dir=runtime.settings.report_path.value.parent / "security",
        project=targets.project if targets else "",
    )
    if targets is not None:
        scans.know_targets(targets.images)
    return scans
