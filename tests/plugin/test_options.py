"""Options: --athalia-* beats ATHALIA_* beats ini athalia_* beats the default, parsed at start-up."""

from __future__ import annotations

import pytest

from .helpers import Project, output
from .helpers import project_fixture as project_fixture  # the `project` fixture

SHOW_ENVIRONMENT = """
def test_show(athalia_environment, athalia_settings):
    print(f"ENV={athalia_environment.name} FILE={athalia_environment.path} FROM={athalia_settings.env.origin}")
"""


def _shown(result: pytest.RunResult) -> str:
    line = next(line for line in result.outlines if "ENV=" in line)
    return line[line.index("ENV=") :]


def test_env_by_name_selects_that_file_in_the_environments_folder(project: Project) -> None:
    """--athalia-env NAME loads <environments>/NAME.yml and the environment is called NAME."""
    staging = project.environment("staging")
    project.pytester.makepyfile(SHOW_ENVIRONMENT)
    result = project.pytester.runpytest("-s", "--athalia-env", "staging")
    result.assert_outcomes(passed=1)
    assert _shown(result) == f"ENV=staging FILE={staging} FROM=--athalia-env"


def test_env_by_path_loads_a_file_outside_the_environments_folder(project: Project) -> None:
    """--athalia-env PATH (relative to the cwd) loads that file; its stem is the environment's name."""
    custom = project.environment("custom", folder="elsewhere")
    project.pytester.makepyfile(SHOW_ENVIRONMENT)
    result = project.pytester.runpytest("-s", "--athalia-env", "elsewhere/custom.yml")
    result.assert_outcomes(passed=1)
    assert _shown(result) == f"ENV=custom FILE={custom} FROM=--athalia-env"


@pytest.mark.parametrize(
    ("cli", "environ", "ini", "expected"),
    [
        pytest.param("from-cli", "from-var", "from-ini", "ENV=from-cli FROM=--athalia-env", id="cli-wins"),
        pytest.param(None, "from-var", "from-ini", "ENV=from-var FROM=ATHALIA_ENV", id="env-var-beats-ini"),
        pytest.param(None, None, "from-ini", "ENV=from-ini FROM=ini athalia_env", id="ini-beats-default"),
        pytest.param(None, None, None, "ENV=dev FROM=default", id="default-dev"),
        pytest.param(None, "", "from-ini", "ENV=from-ini FROM=ini athalia_env", id="empty-env-var-is-unset"),
    ],
)
def test_env_precedence(
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
    cli: str | None,
    environ: str | None,
    ini: str | None,
    expected: str,
) -> None:
    """The environment comes from the command line, else ATHALIA_ENV, else ini athalia_env, else dev."""
    for name in ("from-cli", "from-var", "from-ini"):
        project.environment(name)
    if ini is not None:
        project.ini(f"athalia_env = {ini}")
    if environ is not None:
        monkeypatch.setenv("ATHALIA_ENV", environ)
    project.pytester.makepyfile(
        "def test_show(athalia_environment, athalia_settings):\n"
        '    print(f"ENV={athalia_environment.name} FROM={athalia_settings.env.origin}")\n'
    )
    result = project.pytester.runpytest("-s", *(["--athalia-env", cli] if cli else []))
    result.assert_outcomes(passed=1)
    assert _shown(result) == expected


def test_ini_environments_folder_is_relative_to_the_ini_file_not_the_cwd(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ini athalia_environments is resolved against the ini file's folder even when pytest runs in a subfolder."""
    sub = project.pytester.mkdir("sub")
    (sub / "test_show.py").write_text(SHOW_ENVIRONMENT, encoding="utf-8")
    monkeypatch.chdir(sub)
    result = project.pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    assert _shown(result) == f"ENV=dev FILE={project.path / 'environments' / 'dev.yml'} FROM=default"


def test_cli_environments_folder_is_relative_to_the_cwd(project: Project) -> None:
    """--athalia-environments DIR is resolved against the cwd and beats the ini key."""
    other = project.environment("dev", folder="other-envs")
    project.pytester.makepyfile(SHOW_ENVIRONMENT)
    result = project.pytester.runpytest("-s", "--athalia-environments", "other-envs")
    result.assert_outcomes(passed=1)
    assert _shown(result).split()[1] == f"FILE={other}"


@pytest.mark.parametrize(
    ("args", "environ", "ini", "expected"),
    [
        pytest.param(["--athalia-keep"], {}, None, (True, "--athalia-keep"), id="flag"),
        pytest.param(["--athalia-keep"], {"ATHALIA_KEEP": "0"}, "false", (True, "--athalia-keep"), id="flag-wins"),
        pytest.param([], {"ATHALIA_KEEP": "yes"}, None, (True, "ATHALIA_KEEP"), id="env-yes"),
        pytest.param([], {"ATHALIA_KEEP": "1"}, None, (True, "ATHALIA_KEEP"), id="env-1"),
        pytest.param([], {"ATHALIA_KEEP": "OFF"}, "true", (False, "ATHALIA_KEEP"), id="env-off-beats-ini"),
        pytest.param([], {}, "true", (True, "ini athalia_keep"), id="ini-true"),
        pytest.param([], {}, "no", (False, "ini athalia_keep"), id="ini-no"),
        pytest.param([], {}, None, (False, "default"), id="default-false"),
    ],
)
def test_keep_is_parsed_as_a_bool_from_each_source(
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    environ: dict[str, str],
    ini: str | None,
    expected: tuple[bool, str],
) -> None:
    """--athalia-keep, ATHALIA_KEEP (1/yes/on, 0/no/off) and ini athalia_keep become one bool with its origin."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    if ini is not None:
        project.ini(f"athalia_keep = {ini}")
    project.pytester.makepyfile(
        f"def test_keep(athalia_settings):\n"
        f"    assert (athalia_settings.keep.value, athalia_settings.keep.origin) == {expected!r}\n"
    )
    project.pytester.runpytest(*args).assert_outcomes(passed=1)


def test_bad_keep_environment_variable_is_a_usage_error(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """ATHALIA_KEEP=maybe stops pytest with a usage error naming the option, variable and ini key."""
    monkeypatch.setenv("ATHALIA_KEEP", "maybe")
    result = project.pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*ATHALIA_KEEP is 'maybe', expected true or false*--athalia-keep*ATHALIA_KEEP*ini key athalia_keep*"]
    )


def test_bad_keep_ini_value_is_a_usage_error_naming_the_ini_key(project: Project) -> None:
    """ini athalia_keep = maybe stops pytest with a usage error that names athalia_keep."""
    project.ini("athalia_keep = maybe")
    result = project.pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "athalia_keep" in result.stderr.str()


def test_bad_log_lines_environment_variable_is_a_usage_error(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """ATHALIA_LOG_LINES=abc stops pytest with a usage error naming the option, variable and ini key."""
    monkeypatch.setenv("ATHALIA_LOG_LINES", "abc")
    project.pytester.makepyfile("def test_never_runs(): pass")
    result = project.pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "ATHALIA_LOG_LINES is 'abc', expected a whole number >= 0" in err
    for name in ("--athalia-log-lines", "environment variable ATHALIA_LOG_LINES", "ini key athalia_log_lines"):
        assert name in err
    assert "Traceback" not in output(result)
    assert "test_never_runs" not in result.stdout.str()


@pytest.mark.parametrize("value", ["-1", "2.5"])
def test_bad_log_lines_option_is_a_usage_error(project: Project, value: str) -> None:
    """--athalia-log-lines accepts only whole numbers >= 0."""
    result = project.pytester.runpytest(f"--athalia-log-lines={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--athalia-log-lines is '{value}', expected a whole number >= 0*"])


def test_help_lists_every_athalia_option_and_ini_key(project: Project) -> None:
    """pytest --help shows each --athalia-* option and each athalia_* ini key."""
    result = project.pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK
    text = result.stdout.str()
    assert "pytest-athalia: release rehearsal on a compose stack" in text
    for name in ("env", "environments", "keep", "report", "log-lines"):
        assert f"--athalia-{name}" in text
        assert f"athalia_{name.replace('-', '_')} " in text
