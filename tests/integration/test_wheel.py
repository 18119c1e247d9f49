"""The package as a stranger gets it: the built wheel, alone in a fresh venv, runs the shipped ci suite.

The wheel is built (``pip wheel --no-deps``) from a copy of the sources, so the checkout gets no
``build/`` or ``*.egg-info``, and its contents are checked against the source tree: every suite,
every asset, ``py.typed``, the ``pytest11`` entry point, and only the core requirements outside the
extras. Then it is installed with its core dependencies (from the package index, through a pip
cache) into a new venv, and ``pytest --pyargs pytest_athalia.suites.ci`` runs from a folder outside
the repository against a one-service stack (``fixtures/single``: the local base image, no build, no
pull), with every test passing and the stack gone afterwards.

Downloads go through ``$PIP_CACHE_DIR`` when set, else ``.athalia-cache/pip`` in the checkout, so
a second run needs no network for what the first one fetched.
"""

from __future__ import annotations

import email.parser
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import venv
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from pytest_athalia.testing import unavailable
from tests.support.junit import measured
from tests.support.report_schema import validate_report

pytestmark = pytest.mark.docker

HERE = Path(__file__).parent
REPO = HERE.parents[1]
SINGLE = HERE / "fixtures" / "single"
BASE_IMAGE = "athalia/base:bookworm"
LABEL = "com.docker.compose.project"

BUILD_TIMEOUT = 300.0  # the build backend may need fetching (setuptools) the first time
INSTALL_TIMEOUT = 600.0  # the core dependencies, first time from the index
RUN_TIMEOUT = 180.0  # the ci suite on the one-service stack takes about 5 s

CORE = {"pytest", "docker", "requests", "pydantic", "pyyaml"}
CI_TESTS = {
    "test_stack_starts_within_startup_slo",
    "test_every_service_is_healthy",
    "test_health_endpoint_meets_slo",
    "test_app_is_ready_with_its_dependencies",
    "test_version_answers",
}


# What pip says when the package index cannot be reached (rather than when the package is broken).
OFFLINE = (
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "No matching distribution",
)


def _run(
    argv: Sequence[str | Path], *, timeout: float, what: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> str:
    """Run a command; on failure or timeout, fail the test with its output (skip it when pip has no index)."""
    try:
        proc = subprocess.run(
            [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, check=False, env=env, cwd=cwd
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{what} did not finish within {timeout:g} s: {argv}\n{exc.stdout or ''}\n{exc.stderr or ''}")
    if proc.returncode != 0 and "pip" in what and any(sign in proc.stderr for sign in OFFLINE):
        unavailable(f"{what} needs the package index (or a pip cache holding what it needs), which pip cannot reach")
    if proc.returncode != 0:
        pytest.fail(f"{what} failed (exit {proc.returncode}): {argv}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout


def _pip_cache() -> list[str]:
    return [] if os.environ.get("PIP_CACHE_DIR") else ["--cache-dir", str(REPO / ".athalia-cache" / "pip")]


def _clean_environ() -> dict[str, str]:
    """This process's environment minus what would make the venv see the checkout or our settings."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("ATHALIA_")}


def _projects(prefix: str) -> list[tuple[str, str, str]]:
    """(kind, name, project) of every container, network and volume whose compose project starts with `prefix`."""
    found = []
    for kind, command in (("container", ["ps", "--all"]), ("network", ["network", "ls"]), ("volume", ["volume", "ls"])):
        name = "{{.Names}}" if kind == "container" else "{{.Name}}"
        out = _run(
            ["docker", *command, "--filter", f"label={LABEL}", "--format", f'{name}\t{{{{.Label "{LABEL}"}}}}'],
            timeout=60,
            what="docker list",
        )
        for line in out.splitlines():
            item, _, project = line.partition("\t")
            if project.startswith(prefix):
                found.append((kind, item, project))
    return found


# -- the wheel ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Module: the wheel, built with pip from a copy of what the build reads (pyproject, README, the packages)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for folder in ("pytest_athalia", "suites"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", *_pip_cache(), "--wheel-dir", out, source],
        timeout=BUILD_TIMEOUT,
        what="pip wheel",
        env=_clean_environ(),
    )
    (built,) = out.glob("pytest_athalia-*.whl")
    return built


def test_the_wheel_ships_the_package_the_suites_the_assets_and_py_typed(wheel: Path) -> None:
    """Every module, suite and asset of the source tree is in the wheel, and nothing else at its top level."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        metadata = email.parser.Parser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    package = {
        f"pytest_athalia/{p.relative_to(REPO / 'pytest_athalia').as_posix()}"
        for p in (REPO / "pytest_athalia").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    suites = {
        f"pytest_athalia/suites/{p.relative_to(REPO / 'suites').as_posix()}"
        for p in (REPO / "suites").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert "pytest_athalia/py.typed" in package
    assert "pytest_athalia/report/schema/report-2.schema.json" in names  # the JSON report's schema ships
    assert any(name.startswith("pytest_athalia/assets/") for name in package)
    assert {f"pytest_athalia/suites/{s}/__init__.py" for s in ("ci", "deployment", "security")} <= suites
    assert not (package | suites) - names, f"missing from {wheel.name}: {sorted((package | suites) - names)}"
    assert {n.split("/")[0] for n in names} == {"pytest_athalia", dist_info}, sorted(names)

    assert "[pytest11]\nathalia = pytest_athalia.plugin" in entry_points
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]
    core = {r.name.lower() for r in requires if r.marker is None}
    assert core == CORE, f"core requirements: {sorted(core)}; Locust, Bandit and Trivy belong to extras"
    assert {"load", "security", "all"} <= set(metadata.get_all("Provides-Extra") or [])


# -- the installed wheel --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_image() -> None:
    """Module: the stack runs the local base image (`athalia images bootstrap`); nothing is pulled."""
    proc = subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True, timeout=60, check=False)
    if proc.returncode != 0:
        unavailable(f"the base image {BASE_IMAGE} is missing; run `athalia images bootstrap`")


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Module: a fresh venv (no system site-packages) holding the wheel and its core dependencies; its bin/."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bin_dir = env_dir / "bin"
    _run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet", *_pip_cache(), wheel],
        timeout=INSTALL_TIMEOUT,
        what="pip install of the wheel",
        env=_clean_environ(),
    )
    return bin_dir


@pytest.fixture
def stranger(tmp_path: Path) -> Iterator[Path]:
    """Function: a folder outside the repository with the one-service stack under a unique environment name."""
    name = f"wheel{secrets.token_hex(3)}"
    project = tmp_path / "project"
    shutil.copytree(SINGLE, project)
    (project / "single.yml").rename(project / f"{name}.yml")
    yield project / f"{name}.yml"
    for kind, item, _ in _projects(f"athalia-{name}-"):  # only after a failure: the run removes its stack
        command = {"container": ["rm", "-f", "-v"], "network": ["network", "rm"], "volume": ["volume", "rm"]}[kind]
        subprocess.run(["docker", *command, item], capture_output=True, timeout=60, check=False)


def test_the_installed_wheel_runs_the_ci_suite(installed: Path, stranger: Path, base_image: None) -> None:
    """`pytest --pyargs pytest_athalia.suites.ci` from the wheel's venv passes all five tests and leaves nothing."""
    env = _clean_environ()
    show = "import pytest_athalia as p, pytest_athalia.suites.ci as s; print(p.__file__); print(s.__file__)"
    where = _run(
        [installed / "python", "-c", show],
        timeout=60,
        what="import of the installed package",
        env=env,
        cwd=stranger.parent,
    ).split()
    site = installed.parent / "lib"
    assert all(Path(p).is_relative_to(site) for p in where), f"not imported from the venv: {where}"

    cwd = stranger.parent / "run"
    cwd.mkdir()
    junit = cwd / "junit.xml"
    argv = [installed / "pytest", "--pyargs", "pytest_athalia.suites.ci", f"--athalia-env={stranger}",
            f"--junitxml={junit}", "-p", "no:cacheprovider", "-rA"]  # fmt: skip
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [str(a) for a in argv], capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False, cwd=cwd, env=env
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the ci suite did not finish within {RUN_TIMEOUT:g} s:\n{exc.stdout!r}\n{exc.stderr!r}")
    seconds = time.monotonic() - start
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"exit {proc.returncode} after {seconds:.1f} s:\n{text[-6000:]}"
    assert f"athalia: environment {stranger.stem} (from --athalia-env)" in text

    cases = {case.get("name", ""): case for case in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == CI_TESTS, sorted(cases)
    not_passed = [name for name, case in cases.items() if any(c.tag in ("failure", "error", "skipped") for c in case)]
    assert not not_passed, f"not passed (failed, errored or skipped): {not_passed}\n{text[-4000:]}"
    startup = measured(junit)["test_stack_starts_within_startup_slo"]
    assert startup.get("athalia.startup.verdict") == "pass", startup
    report = json.loads((cwd / "reports" / "athalia.json").read_text(encoding="utf-8"))
    (shipped,) = site.glob("python*/site-packages/pytest_athalia/report/schema/report-2.schema.json")
    validate_report(report, json.loads(shipped.read_text(encoding="utf-8")))  # against the installed schema
    assert report["run"]["status"] == "passed", report["run"]
    assert report["summary"]["failed"] == 0, report["summary"]
    assert not _projects(f"athalia-{stranger.stem}-"), "the run left resources of its stack"


def test_the_installed_wheel_collects_all_three_suites(installed: Path, stranger: Path) -> None:
    """`--pyargs pytest_athalia.suites` collects the ci, deployment and security suites from the venv."""
    argv = [installed / "pytest", "--pyargs", "pytest_athalia.suites", f"--athalia-env={stranger}", "--collect-only"]
    listed = _run(
        [*argv, "-q", "-p", "no:cacheprovider"],
        timeout=60,
        what="collection of pytest_athalia.suites",
        env=_clean_environ(),
        cwd=stranger.parent,
    )
    files = {line.split("::")[0] for line in listed.splitlines() if "::" in line}
    expected = {
        f"{suite}/{path.name}"
        for suite in ("ci", "deployment", "security")
        for path in (REPO / "suites" / suite).glob("test_*.py")
    }
    assert files == expected, listed
