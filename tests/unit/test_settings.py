"""Effective settings: command line beats environment variable beats ini beats default."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from pytest_athalia._errors import ConfigError
from pytest_athalia.config._settings import OPTIONS, Settings, Sourced, read_settings

pytest_plugins = ["pytester"]

ROOT = Path("/project/root")


@dataclass
class FakeConfig:
    """The part of `pytest.Config` that read_settings uses; unset options and ini keys are None."""

    options: dict[str, object] = field(default_factory=dict)
    ini: dict[str, object] = field(default_factory=dict)
    rootpath: Path = ROOT
    inipath: Path | None = None

    def getoption(self, name: str, default: object = None) -> object:
        return self.options.get(name, default)

    def getini(self, name: str) -> object:
        return self.ini.get(name)


def read(
    options: dict[str, object] | None = None,
    ini: dict[str, object] | None = None,
    environ: dict[str, str] | None = None,
    inipath: Path | None = None,
) -> Settings:
    config = FakeConfig(options or {}, ini or {}, inipath=inipath)
    return read_settings(cast(pytest.Config, config), environ or {})


def test_defaults_with_nothing_set() -> None:
    """Without options, variables or ini keys every setting has its documented default."""
    s = read()
    assert s.env == Sourced("dev", "default")
    assert s.environments_dir == Sourced(ROOT / "environments", "default")
    assert s.keep == Sourced(False, "default")
    assert s.report_path == Sourced(ROOT / "reports" / "athalia.json", "default")
    assert s.log_lines == Sourced(50, "default")
    assert s.scan_cache == Sourced(ROOT / ".athalia-cache" / "security", "default")
    assert not s.env_is_explicit


# (Settings attribute, ini key, variable, flag, ini value, variable value, flag value, type read back)
CASES = [
    ("env", "athalia_env", "ATHALIA_ENV", "--athalia-env", "staging", "production", "local", str),
    ("log_lines", "athalia_log_lines", "ATHALIA_LOG_LINES", "--athalia-log-lines", "10", "20", "30", int),
]


@pytest.mark.parametrize(("attr", "ini_key", "env_var", "flag", "ini", "env", "cli", "kind"), CASES)
def test_precedence_cli_over_env_over_ini(
    attr: str, ini_key: str, env_var: str, flag: str, ini: str, env: str, cli: str, kind: type
) -> None:
    """Each source wins over the ones below it, and the origin names the winning source."""
    dest = f"athalia_{attr}"
    assert getattr(read(ini={ini_key: ini}), attr) == Sourced(kind(ini), f"ini {ini_key}")
    assert getattr(read(ini={ini_key: ini}, environ={env_var: env}), attr) == Sourced(kind(env), env_var)
    both = read(options={dest: cli}, ini={ini_key: ini}, environ={env_var: env})
    assert getattr(both, attr) == Sourced(kind(cli), flag)


def test_an_explicit_env_is_one_not_taken_from_the_default() -> None:
    """`env_is_explicit` is true for every origin but the default."""
    assert read(ini={"athalia_env": "dev"}).env_is_explicit
    assert read(environ={"ATHALIA_ENV": "dev"}).env_is_explicit
    assert read(options={"athalia_env": "dev"}).env_is_explicit


def test_empty_environment_variable_is_ignored() -> None:
    """`ATHALIA_ENV=` (exported but empty) falls through to the ini value."""
    assert read(ini={"athalia_env": "staging"}, environ={"ATHALIA_ENV": ""}).env == Sourced(
        "staging", "ini athalia_env"
    )


def test_empty_ini_value_falls_back_to_the_default() -> None:
    """An empty ini key is as good as an unset one."""
    assert read(ini={"athalia_env": ""}).env == Sourced("dev", "default")


def test_os_environ_is_used_when_no_mapping_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an explicit mapping, the process environment is read."""
    monkeypatch.setenv("ATHALIA_ENV", "from-process")
    config = cast(pytest.Config, FakeConfig())
    assert read_settings(config).env == Sourced("from-process", "ATHALIA_ENV")


# -- paths ----------------------------------------------------------------------------------------------


def test_ini_paths_are_relative_to_the_ini_files_folder() -> None:
    """Relative ini paths resolve against the folder of the ini file, not the rootpath."""
    s = read(ini={"athalia_environments": "envs", "athalia_report": "out/r.json"}, inipath=Path("/cfg/pytest.ini"))
    assert s.environments_dir == Sourced(Path("/cfg/envs"), "ini athalia_environments")
    assert s.report_path == Sourced(Path("/cfg/out/r.json"), "ini athalia_report")


def test_default_paths_are_relative_to_the_rootdir() -> None:
    """Without an ini file, the default folder hangs off the rootpath."""
    assert read().environments_dir.value == ROOT / "environments"
    assert read(inipath=Path("/cfg/tox.ini")).environments_dir.value == Path("/cfg/environments")


def test_command_line_and_environment_paths_stay_relative_to_the_cwd() -> None:
    """A relative path typed by the user is not moved under the rootdir."""
    s = read(options={"athalia_report": "out/a.json"}, environ={"ATHALIA_ENVIRONMENTS": "envs"})
    assert s.report_path == Sourced(Path("out/a.json"), "--athalia-report")
    assert s.environments_dir == Sourced(Path("envs"), "ATHALIA_ENVIRONMENTS")


def test_absolute_ini_paths_are_kept() -> None:
    """An absolute ini path is not joined to the rootdir."""
    assert read(ini={"athalia_report": "/abs/r.json"}).report_path.value == Path("/abs/r.json")


def test_home_is_expanded_in_every_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`~` means the home directory, whether it comes from the command line or the ini file."""
    monkeypatch.setenv("HOME", str(tmp_path))
    assert read(options={"athalia_report": "~/r.json"}).report_path.value == tmp_path / "r.json"
    assert read(ini={"athalia_environments": "~/envs"}).environments_dir.value == tmp_path / "envs"


# -- flags and numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", True), ("true", True), ("YES", True), (" on ", True), ("0", False), ("False", False), ("no", False)],
)
def test_keep_from_the_environment_accepts_common_spellings(text: str, expected: bool) -> None:
    """ATHALIA_KEEP understands 1/0, true/false, yes/no, on/off, in any case."""
    assert read(environ={"ATHALIA_KEEP": text}).keep == Sourced(expected, "ATHALIA_KEEP")


def test_keep_flag_on_the_command_line_beats_an_environment_false() -> None:
    """`--athalia-keep` wins over ATHALIA_KEEP=false."""
    assert read(options={"athalia_keep": True}, environ={"ATHALIA_KEEP": "false"}).keep == Sourced(
        True, "--athalia-keep"
    )


@pytest.mark.parametrize("value", [True, False])
def test_keep_from_a_boolean_ini_value(value: bool) -> None:
    """pytest hands bool ini keys over as bools; both are honoured, and False is not 'unset'."""
    assert read(ini={"athalia_keep": value}).keep == Sourced(value, "ini athalia_keep")


def test_invalid_keep_names_source_value_expectation_and_every_way_to_fix_it() -> None:
    """A bad flag value says where it came from, what was expected and which knobs set it."""
    with pytest.raises(ConfigError) as info:
        read(environ={"ATHALIA_KEEP": "maybe"})
    message = str(info.value)
    assert "ATHALIA_KEEP is 'maybe', expected true or false" in message
    assert "--athalia-keep" in message
    assert "ini key athalia_keep" in message


@pytest.mark.parametrize("text", ["-1", "many", "2.5", ""])
def test_invalid_log_lines_are_a_config_error(text: str) -> None:
    """Log lines must be a whole number >= 0, whatever the source."""
    with pytest.raises(ConfigError, match="expected a whole number >= 0"):
        read(options={"athalia_log_lines": text})


def test_log_lines_tolerate_blanks_and_zero() -> None:
    """Blanks around the number are fine, and 0 (no logs) is allowed."""
    assert read(environ={"ATHALIA_LOG_LINES": " 7 "}).log_lines.value == 7
    assert read(ini={"athalia_log_lines": "0"}).log_lines == Sourced(0, "ini athalia_log_lines")


def test_every_option_is_prefixed() -> None:
    """Options, variables and ini keys all carry the athalia prefix."""
    for opt in OPTIONS:
        assert opt.flag.startswith("--athalia-")
        assert opt.env.startswith("ATHALIA_")
        assert opt.ini.startswith("athalia_")
        assert opt.dest == opt.ini


# -- with a real pytest config ------------------------------------------------------------------------


def real_settings(pytester: pytest.Pytester, *args: str, ini: str = "") -> Settings:
    pytester.makeini("[pytest]\n" + ini)
    config: Any = pytester.parseconfig(*args)
    return read_settings(config, {})


def test_real_config_defaults_and_rootdir(pytester: pytest.Pytester) -> None:
    """With the plugin's registered options, unset keys give the defaults under the ini folder."""
    s = real_settings(pytester)
    assert s.env == Sourced("dev", "default")
    assert s.keep == Sourced(False, "default")
    assert s.environments_dir.value == pytester.path / "environments"


def test_real_config_reads_ini_keys(pytester: pytest.Pytester) -> None:
    """ini keys are read through pytest, including the bool flag."""
    s = real_settings(pytester, ini="athalia_env = staging\nathalia_keep = true\nathalia_log_lines = 5\n")
    assert s.env == Sourced("staging", "ini athalia_env")
    assert s.keep == Sourced(True, "ini athalia_keep")
    assert s.log_lines == Sourced(5, "ini athalia_log_lines")


def test_real_config_command_line_beats_ini(pytester: pytest.Pytester) -> None:
    """Options given on the command line win over the ini file."""
    s = real_settings(
        pytester, "--athalia-env", "prod", "--athalia-keep", ini="athalia_env = staging\nathalia_keep = false\n"
    )
    assert s.env == Sourced("prod", "--athalia-env")
    assert s.keep == Sourced(True, "--athalia-keep")


@pytest.mark.parametrize("text", ["off", "OFF", "0", "false", "no"])
def test_scan_cache_off_turns_caching_off(text: str) -> None:
    """--athalia-scan-cache off (any spelling of false) means no cache folder at all."""
    assert read(environ={"ATHALIA_SCAN_CACHE": text}).scan_cache == Sourced(None, "ATHALIA_SCAN_CACHE")


def test_scan_cache_from_the_command_line_is_a_path() -> None:
    """A folder given on the command line stays relative to the cwd."""
    assert read(options={"athalia_scan_cache": "cache"}).scan_cache == Sourced(Path("cache"), "--athalia-scan-cache")


def test_history_is_beside_the_report_by_default() -> None:
    """No setting: history.sqlite in the report's folder, wherever the report goes."""
    assert read().history == Sourced(str(ROOT / "reports" / "history.sqlite"), "default")
    moved = read(options={"athalia_report": "/out/run.json"})
    assert moved.history == Sourced("/out/history.sqlite", "default")


def test_history_option_beats_variable_beats_ini() -> None:
    """--athalia-history > ATHALIA_HISTORY > ini athalia_history; ini paths are relative to the rootdir."""
    ini = {"athalia_history": "db/h.sqlite"}
    assert read(ini=ini).history == Sourced(str(ROOT / "db" / "h.sqlite"), "ini athalia_history")
    env = {"ATHALIA_HISTORY": "/var/h.sqlite"}
    assert read(ini=ini, environ=env).history == Sourced("/var/h.sqlite", "ATHALIA_HISTORY")
    cli = {"athalia_history": "/cli/h.sqlite"}
    assert read(cli, ini=ini, environ=env).history == Sourced("/cli/h.sqlite", "--athalia-history")


@pytest.mark.parametrize("off", ["off", "OFF", "false", "0", "no"])
def test_history_off_is_none(off: str) -> None:
    """'off' (and the other false words) turns history off, from any source."""
    assert read({"athalia_history": off}).history == Sourced(None, "--athalia-history")
    assert read(ini={"athalia_history": off}).history == Sourced(None, "ini athalia_history")


def test_history_urls_are_kept_and_sqlite_urls_become_paths() -> None:
    """A postgresql:// URL is passed on as given; sqlite:///PATH is a path like any other."""
    url = "postgresql://app:secret@db:5432/history"
    assert read({"athalia_history": url}).history == Sourced(url, "--athalia-history")
    ini = read(ini={"athalia_history": "sqlite:///db/h.sqlite"}).history
    assert ini == Sourced(str(ROOT / "db" / "h.sqlite"), "ini athalia_history")
    assert read({"athalia_history": "sqlite:////abs/h.sqlite"}).history.value == "/abs/h.sqlite"
