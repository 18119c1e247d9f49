"""Fixtures for release rehearsals: the router, the candidate, drills and blue-green.

``athalia_router`` (session) comes from the ``pytest_athalia_make_router`` hook;
``athalia_rollout`` (function) is a :class:`~pytest_athalia.rollout.BlueGreen` that starts every
test with blue live (weight 100) and green idle (weight 0), and restores that afterwards, so
tests stay independent.

The candidate is ``rollout.candidate`` of the environment file; two environment variables
override it for one run without editing the file (e.g. to rehearse a bad build)::

    ATHALIA_CANDIDATE_ENV='FAULT_ERROR_RATE=0.5 APP_VERSION=2.0.0' pytest suites/deployment
    ATHALIA_CANDIDATE_IMAGE=athalia-demo/app:2.0.0 pytest suites/deployment
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator, Mapping

import pytest

from .config import Environment
from .errors import ConfigError
from .release import Candidate, Plan
from .rollout import BlueGreen
from .router import ColorStack, Router
from .runtime import runtime_of
from .stack import Stack

__all__ = [
    "CANDIDATE_ENV_VAR",
    "CANDIDATE_IMAGE_VAR",
    "athalia_candidate",
    "athalia_drills",
    "athalia_rollout",
    "athalia_router",
    "candidate_from",
]

CANDIDATE_ENV_VAR = "ATHALIA_CANDIDATE_ENV"
CANDIDATE_IMAGE_VAR = "ATHALIA_CANDIDATE_IMAGE"
_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.DOTALL)


def candidate_from(environment: Environment, environ: Mapping[str, str]) -> Candidate:
    """``rollout.candidate`` with ``ATHALIA_CANDIDATE_ENV`` / ``ATHALIA_CANDIDATE_IMAGE`` applied on top.

    ``ATHALIA_CANDIDATE_ENV`` holds ``NAME=VALUE`` words separated by spaces (shell quoting applies).
    """
    spec = environment.spec.rollout.candidate
    extra: dict[str, str] = {}
    text = environ.get(CANDIDATE_ENV_VAR, "")
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"athalia: {CANDIDATE_ENV_VAR}={text!r} cannot be split into words ({exc}).") from None
    for word in words:
        match = _ASSIGNMENT.fullmatch(word)
        if match is None:
            raise ConfigError(
                f"athalia: {CANDIDATE_ENV_VAR} expected NAME=VALUE words separated by spaces, found {word!r}. "
                f"Example: {CANDIDATE_ENV_VAR}='FAULT_ERROR_RATE=0.5 APP_VERSION=2.0.0'."
            )
        extra[match.group(1)] = match.group(2)
    image = environ.get(CANDIDATE_IMAGE_VAR) or None
    candidate = Candidate.from_spec("rollout.candidate", spec, extra)
    if image is not None:
        candidate = Candidate(candidate.name, image, candidate.env)
    return candidate


@pytest.fixture(scope="session")
def athalia_router(pytestconfig: pytest.Config, athalia_environment: Environment, athalia_stack: Stack) -> Router:
    """Session: the :class:`~pytest_athalia.router.Router` in front of the two colors (HAProxy by default).

    It comes from the first ``pytest_athalia_make_router`` implementation that returns one; the
    test fails when none does (for the built-in router: ``rollout.enabled: true`` is needed).
    """
    router: Router | None = pytestconfig.hook.pytest_athalia_make_router(
        config=pytestconfig, environment=athalia_environment, stack=athalia_stack
    )
    if router is None:
        enabled = athalia_environment.spec.rollout.enabled
        why = (
            f"rollout.enabled is false in {athalia_environment.path}: set `rollout: {{enabled: true}}` there so the "
            "plugin adds the router and a second color"
            if not enabled
            else "no pytest_athalia_make_router implementation returned a router for this stack; a provider other "
            "than compose must bring its own router through that hook"
        )
        pytest.fail(f"athalia: no router for the rollout: {why}.", pytrace=False)
    return router


@pytest.fixture(scope="session")
def athalia_candidate(athalia_environment: Environment) -> Candidate:
    """Session: the :class:`~pytest_athalia.release.Candidate` to release (default: ``rollout.candidate``).

    ``ATHALIA_CANDIDATE_ENV`` ('NAME=VALUE ...') and ``ATHALIA_CANDIDATE_IMAGE`` override it for a run.
    """
    try:
        return candidate_from(athalia_environment, os.environ)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture(scope="session")
def athalia_drills(athalia_environment: Environment) -> Mapping[str, Candidate]:
    """Session: the bad candidates of ``rollout.drills``, by name (default: none)."""
    return {
        name: Candidate.from_spec(f"drill {name}", spec)
        for name, spec in athalia_environment.spec.rollout.drills.items()
    }


@pytest.fixture
def athalia_rollout(
    pytestconfig: pytest.Config, athalia_environment: Environment, athalia_stack: Stack, athalia_router: Router
) -> Iterator[BlueGreen]:
    """Function: a :class:`~pytest_athalia.rollout.BlueGreen` rollout, blue live and green idle before and after.

    ``release(candidate)`` deploys, smoke-tests, switches under the background probe and watches the
    triggers; see docs/rollout.md. The router's weights are restored to blue=100, green=0 in teardown.
    """
    if not isinstance(athalia_stack, ColorStack):
        pytest.fail(
            f"athalia: the stack {athalia_stack.project} has no colors (color_url, deploy_color, color_service); "
            "set rollout.enabled: true in the environment file, or implement them in your stack provider.",
            pytrace=False,
        )
    progress = runtime_of(pytestconfig).progress
    rollout = BlueGreen(athalia_router, athalia_stack, Plan.from_environment(athalia_environment), say=progress.line)
    rollout.reset()
    yield rollout
    rollout.reset()
