"""A quiet guest: in a run that uses no athalia fixture the plugin writes nothing, runs no docker and imports little."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import Project
from .helpers import project_fixture as project_fixture  # the `project` fixture

UNRELATED = """
def test_add():
    assert 1 + 1 == 2
"""

HEAVY = ("docker", "testcontainers", "pydantic", "yaml", "requests", "plotly")


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if "__pycache__" not in p.parts}


def _spy_docker(folder: Path) -> Path:
    """A `docker` on PATH that only records that it was called."""
    marker = folder / "docker-was-called"
    spy = folder / "bin" / "docker"
    spy.parent.mkdir()
    spy.write_text(f'#!/bin/sh\necho "$@" >> {marker}\nexit 1\n', encoding="utf-8")
    spy.chmod(spy.stat().st_mode | stat.S_IXUSR)
    return marker


def _run(folder: Path, *args: str, spy_bin: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATHALIA_", "PYTEST_"))}
    if spy_bin is not None:
        env["PATH"] = f"{spy_bin}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_stranger_run_writes_nothing_runs_no_docker_and_imports_no_driver(tmp_path: Path) -> None:
    """A plain project with the plugin installed: no file appears, no docker runs, no driver is imported."""
    check = (
        f"def test_no_driver_imported():\n    import sys\n    assert not [m for m in {HEAVY!r} if m in sys.modules]\n"
    )
    (tmp_path / "test_math.py").write_text(UNRELATED + "\n" + check, encoding="utf-8")
    marker = _spy_docker(tmp_path)
    before = _files(tmp_path)
    result = _run(tmp_path, spy_bin=tmp_path / "bin")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert not marker.exists(), marker.read_text(encoding="utf-8")
    assert _files(tmp_path) == before


def test_a_configured_project_run_without_athalia_fixtures_writes_nothing(project: Project) -> None:
    """Even with an environment configured, a run that uses no athalia fixture writes no report and runs no docker."""
    project.pytester.makepyfile(test_math=UNRELATED)
    marker = _spy_docker(project.path)
    before = _files(project.path)
    result = _run(project.path, spy_bin=project.path / "bin")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists(), marker.read_text(encoding="utf-8")
    assert _files(project.path) == before


def test_collect_only_leaves_an_existing_report_alone(project: Project) -> None:
    """`--collect-only` neither writes nor replaces reports/athalia.json."""
    project.pytester.makepyfile(test_math=UNRELATED)
    report = project.path / "reports" / "athalia.json"
    report.parent.mkdir()
    report.write_text('{"kept": true}', encoding="utf-8")
    result = project.pytester.runpytest("--collect-only")
    assert result.ret == pytest.ExitCode.OK
    assert report.read_text(encoding="utf-8") == '{"kept": true}'


def test_an_explicit_report_option_writes_the_report(project: Project) -> None:
    """`--athalia-report PATH` asks for the artifact: it is written even when no athalia check ran."""
    project.pytester.makepyfile(test_math=UNRELATED)
    result = project.pytester.runpytest("--athalia-report", "out/run.json")
    assert result.ret == pytest.ExitCode.OK
    assert project.report("out/run.json")["tests"]


def test_no_environment_gives_one_usage_error_not_a_traceback_per_test(project: Project) -> None:
    """Tests that need an environment, with none configured: one clear message and a usage error, no traceback."""
    shutil.rmtree(project.path / "environments")
    project.ini(environments=None)
    project.pytester.makepyfile(
        test_stack="def test_a(athalia_stack):\n    pass\n\ndef test_b(athalia_environment):\n    pass\n"
    )
    result = project.pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert err.count("no environment is configured") == 1, err
    assert "Traceback" not in err + result.stdout.str()
