"""The environments folder: one named by an option, variable or ini key must exist; the default may not."""

from __future__ import annotations

import shutil

import pytest

from .helpers import Project, output
from .helpers import project_fixture as project_fixture  # the `project` fixture

PLAIN_TEST = "def test_plain():\n    assert 1 + 1 == 2\n"


def _usage_error(result: pytest.RunResult) -> str:
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output(result)
    assert "test_plain" not in result.stdout.str()  # nothing ran
    return result.stderr.str()


def test_a_missing_folder_from_the_command_line_is_a_usage_error(project: Project) -> None:
    """--athalia-environments=nowhere stops pytest before any test, naming the option, the folder and the fix."""
    project.pytester.makepyfile(PLAIN_TEST)
    stderr = _usage_error(project.pytester.runpytest("--athalia-environments=nowhere"))
    assert f"environments folder {project.path / 'nowhere'} (from --athalia-environments=nowhere) does not exist" in (
        stderr
    )
    assert "pass --athalia-environments a folder that exists" in stderr
    assert "Traceback" not in stderr


def test_a_missing_folder_from_the_environment_variable_is_a_usage_error(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ATHALIA_ENVIRONMENTS naming no folder is a usage error that says to fix or unset the variable."""
    monkeypatch.setenv("ATHALIA_ENVIRONMENTS", "/nonexistent/athalia-envs")
    project.pytester.makepyfile(PLAIN_TEST)
    stderr = _usage_error(project.pytester.runpytest())
    assert "(from ATHALIA_ENVIRONMENTS=/nonexistent/athalia-envs) does not exist" in stderr
    assert "set ATHALIA_ENVIRONMENTS to a folder that exists, or unset it" in stderr


def test_a_missing_folder_from_the_ini_key_is_a_usage_error_naming_the_ini_file(project: Project) -> None:
    """ini athalia_environments naming no folder is a usage error naming the key, the ini file and the folder."""
    inifile = project.ini(environments="envs-typo")
    project.pytester.makepyfile(PLAIN_TEST)
    stderr = _usage_error(project.pytester.runpytest())
    assert f"(from ini key athalia_environments = envs-typo in {inifile}) does not exist" in stderr
    assert f"set athalia_environments in {inifile} to a folder that exists" in stderr


def test_a_file_named_as_the_folder_is_a_usage_error(project: Project) -> None:
    """A file where the folder should be is reported as not a directory."""
    (project.path / "envs.txt").write_text("dev\n", encoding="utf-8")
    project.pytester.makepyfile(PLAIN_TEST)
    stderr = _usage_error(project.pytester.runpytest("--athalia-environments", "envs.txt"))
    assert f"{project.path / 'envs.txt'} (from --athalia-environments=envs.txt) is not a directory" in stderr


def test_help_still_works_with_a_missing_folder(project: Project) -> None:
    """pytest --help prints the help (with the athalia options) even when the configured folder is missing."""
    result = project.pytester.runpytest("--athalia-environments=nowhere", "--help")
    assert result.ret == pytest.ExitCode.OK
    assert "--athalia-environments" in result.stdout.str()


def test_a_missing_default_folder_with_nothing_configured_is_silent(project: Project) -> None:
    """With no option, variable or ini key and no ./environments, unrelated tests run and athalia says nothing."""
    shutil.rmtree(project.path / "environments")
    project.ini(environments=None)
    project.pytester.makepyfile(PLAIN_TEST)
    result = project.pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "environments folder" not in output(result)


def test_a_run_without_an_environment_explains_itself_without_a_traceback(project: Project) -> None:
    """No environment anywhere: a run whose tests need one stops at collection with the one-paragraph fix, once."""
    shutil.rmtree(project.path / "environments")
    project.ini(environments=None)
    needs_one = "def test_stack(athalia_stack):\n    pass\n\n\ndef test_environment(athalia_environment):\n    pass\n"
    project.pytester.makepyfile(PLAIN_TEST + "\n\n" + needs_one)
    result = project.pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = output(result)
    message = (
        f"athalia: no environment is configured: the environments folder {project.path / 'environments'} "
        "(default) does not exist. Pass --athalia-env NAME|PATH"
    )
    assert text.count(message) == 1, text
    assert "Traceback" not in text
    assert "_runtime.py" not in text  # no frame of ours is shown


def test_under_xdist_each_test_that_needs_an_environment_fails_with_the_fix(project: Project) -> None:
    """Under -n 2 workers cannot stop the run at collection: each such test errors with the paragraph, no traceback."""
    shutil.rmtree(project.path / "environments")
    project.ini(environments=None)
    needs_one = "def test_stack(athalia_stack):\n    pass\n\n\ndef test_environment(athalia_environment):\n    pass\n"
    project.pytester.makepyfile(PLAIN_TEST + "\n\n" + needs_one)
    result = project.pytester.runpytest("-n", "2")
    result.assert_outcomes(passed=1, errors=2)
    text = output(result)
    assert "athalia: no environment is configured" in text, text
    assert "Traceback" not in text
    assert "_runtime.py" not in text  # no frame of ours is shown
