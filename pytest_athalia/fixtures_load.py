"""Fixtures for load runs (Locust, always in a subprocess; see :mod:`pytest_athalia.load`).

``athalia_load``
    Session-scoped :class:`~pytest_athalia.load_results.LoadResults`: the environment's ``load``
    section run once (per xdist worker) against ``athalia_stack``. Skips when the environment
    has no ``load.locustfile``; raises :class:`~pytest_athalia.errors.LoadError` (a test error)
    when Locust cannot run. Judge it in the test's call phase with ``athalia_load_gate``.
``athalia_load_gate``
    Function-scoped callable ``(results) -> tuple[Verdict, ...]``: writes the verdicts beside the
    artifacts, records every one as ``athalia.<check>.*`` properties and fails the test on any
    breach, listing all of them.
``athalia_load_dir``
    Session-scoped :class:`~pathlib.Path` where a run's artifacts go: ``<report folder>/load/<env>-<worker>``
    (default ``reports/load/dev-main``), next to ``reports/athalia.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .config import Environment
from .gate import Gate
from .load import gate_load, run_load, target_of
from .load_results import LoadResults
from .runtime import runtime_of
from .slo import Verdict
from .stack import Stack

__all__ = ["athalia_load", "athalia_load_dir", "athalia_load_gate"]


@pytest.fixture(scope="session")
def athalia_load_dir(pytestconfig: pytest.Config, athalia_environment: Environment) -> Path:
    """Session: the folder for the load run's artifacts, beside the JSON report."""
    runtime = runtime_of(pytestconfig)
    return runtime.settings.report_path.value.parent / "load" / f"{athalia_environment.name}-{runtime.worker}"


@pytest.fixture(scope="session")
def athalia_load(
    request: pytest.FixtureRequest,
    pytestconfig: pytest.Config,
    athalia_environment: Environment,
    athalia_load_dir: Path,
) -> LoadResults:
    """Session: the environment's load run against the stack, once; skips without load.locustfile."""
    if not athalia_environment.spec.load.enabled:
        pytest.skip(f"no load.locustfile in {athalia_environment.path}")  # before the stack: none is started for it
    stack: Stack = request.getfixturevalue("athalia_stack")
    runtime = runtime_of(pytestconfig)
    target = target_of(athalia_environment.spec.load, stack)
    return run_load(athalia_environment, target, athalia_load_dir, progress=runtime.progress, groups=runtime.watchdog)


@pytest.fixture
def athalia_load_gate(
    athalia_gate: Gate, athalia_environment: Environment
) -> Callable[[LoadResults], tuple[Verdict, ...]]:
    """Function: judges a load run against the environment's thresholds and fails on any breach."""

    def judge(results: LoadResults) -> tuple[Verdict, ...]:
        return gate_load(athalia_gate, results, athalia_environment.spec.load)

    return judge
