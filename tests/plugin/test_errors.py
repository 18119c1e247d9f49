"""Bad configuration stops pytest at start-up with a usage error that names the file and the key or line."""

from __future__ import annotations

import shutil

import pytest

from .helpers import Project, output
from .helpers import project_fixture as project_fixture  # the `project` fixture

# case: (file content, fragments the error message must contain)
BROKEN = {
    "unknown-key": (
        "stack:\n  compose_files: [../compose.yml]\n  service: app\n  port: 8000\nslos: {}\n",
        ["environments/dev.yml, line 5, key slos: unknown key 'slos'", "Rename it to 'slo'"],
    ),
    "wrong-type": (
        "stack:\n  compose_files: [../compose.yml]\n  service: app\n  port: eighty\n",
        ["environments/dev.yml, line 4, key stack.port: expected an integer from 1 to 65535, found 'eighty'"],
    ),
    "unparsable-yaml": (
        "stack:\n  compose_files: [../compose.yml\n  service: app\n",
        ["environments/dev.yml, line 3, column 10: expected valid YAML, found a syntax error"],
    ),
    "missing-compose-file": (
        "stack:\n  compose_files: [../no-such-compose.yml]\n  service: app\n  port: 8000\n",
        [
            "environments/dev.yml, line 2, key stack.compose_files[0]: expected an existing compose file, "
            "found '../no-such-compose.yml'",
            "does not exist",
        ],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_environment_file_is_a_usage_error_naming_file_and_place(project: Project, case: str) -> None:
    """A broken environment file exits with code 4 before any test runs, naming the file and the line or key."""
    body, fragments = BROKEN[case]
    project.environment("dev", body)
    project.pytester.makepyfile("def test_never_runs(): pass")
    result = project.pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0].startswith(f"ERROR: athalia: {fragments[0]}")
    for fragment in fragments:
        assert fragment in result.stderr.str()
    assert "Traceback" not in output(result)
    assert "test_never_runs" not in result.stdout.str()


def test_unknown_environment_name_is_a_usage_error_listing_the_known_ones(project: Project) -> None:
    """--athalia-env with an unknown NAME exits with code 4, names the origin and suggests the close name."""
    project.environment("staging")
    result = project.pytester.runpytest("--athalia-env", "stagin")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: athalia: unknown environment 'stagin' (from --athalia-env); expected one of: dev, staging*"
            "Did you mean 'staging'?*"
        ]
    )
    assert "Traceback" not in output(result)


def test_missing_environment_path_is_a_usage_error(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """ATHALIA_ENV naming a file that does not exist exits with code 4 and names the path and the variable."""
    monkeypatch.setenv("ATHALIA_ENV", "nowhere/prod.yml")
    result = project.pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: athalia: environment file nowhere/prod.yml (from ATHALIA_ENV*does not exist*"])
    assert "Traceback" not in output(result)


def test_missing_default_environments_folder_names_every_setting_that_moves_it(project: Project) -> None:
    """No folder configured and none at the default place: the error names the option, variable and ini key."""
    project.ini(environments=None)
    shutil.rmtree(project.path / "environments")
    result = project.pytester.runpytest("--athalia-env", "staging")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*environments folder * (from --athalia-environments, ATHALIA_ENVIRONMENTS or ini athalia_environments)*"]
    )
    assert "(from default)" not in output(result)


def test_disabled_plugin_ignores_athalia_configuration(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """With -p no:athalia a broken environment stops nothing: tests run and nothing athalia is printed."""
    (project.path / "conftest.py").unlink()  # its hook would be unknown without the plugin
    project.ini(environments=None)
    project.environment("dev", BROKEN["wrong-type"][0])
    monkeypatch.setenv("ATHALIA_ENV", "environments/dev.yml")
    project.pytester.makepyfile("def test_runs(): pass")

    enabled = project.pytester.runpytest()
    assert enabled.ret == pytest.ExitCode.USAGE_ERROR  # the same set-up fails when the plugin is on

    disabled = project.pytester.runpytest("-p", "no:athalia")
    disabled.assert_outcomes(passed=1)
    assert "athalia:" not in output(disabled)
    disabled.stdout.no_fnmatch_line("plugins:*athalia*")
    assert not (project.path / "reports").exists()
