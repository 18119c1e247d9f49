"""The `athalia` command: environment checks, help, and errors without tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

import pytest_athalia
import pytest_athalia.config._environment
from pytest_athalia._cli import main
from pytest_athalia._errors import ConfigError

GOOD = """\
stack:
  compose_files: [../docker-compose.yml]
  service: app
  port: 8000
slo:
  startup:
    max_seconds: 90
"""

BAD = """\
stack:
  compose_files: [../docker-compose.yml]
  service: app
  port: eighty
"""

REPO = Path(__file__).resolve().parents[2]
DETAILS = "provider compose, service app:8000, startup SLO 90s"  # of GOOD


@pytest.fixture(autouse=True)
def _no_environments_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller's ATHALIA_ENVIRONMENTS would change which folder `envs` checks."""
    monkeypatch.delenv("ATHALIA_ENVIRONMENTS", raising=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A project with a compose file and an empty `environments` folder beside it."""
    (tmp_path / "docker-compose.yml").write_text("services: {}\n", encoding="utf-8")
    envs = tmp_path / "environments"
    envs.mkdir()
    return envs


def test_envs_lists_each_valid_environment_and_exits_0(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every valid file gets one `ok` line with its path, provider, service and startup SLO."""
    (folder / "dev.yml").write_text(GOOD, encoding="utf-8")
    (folder / "staging.yaml").write_text(GOOD.replace("8000", "9000"), encoding="utf-8")
    assert main(["envs", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"athalia: environments folder {folder} (from athalia envs {folder})",
        f"athalia: dev: ok ({folder / 'dev.yml'}; provider compose, service app:8000, startup SLO 90s)",
        f"athalia: staging: ok ({folder / 'staging.yaml'}; provider compose, service app:9000, startup SLO 90s)",
    ]
    assert err == ""


def test_envs_reports_invalid_files_on_stderr_and_exits_1(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad file is explained on stderr; good files are still listed; the exit status is 1."""
    (folder / "broken.yml").write_text(BAD, encoding="utf-8")
    (folder / "dev.yml").write_text(GOOD, encoding="utf-8")
    assert main(["envs", str(folder)]) == 1
    out, err = capsys.readouterr()
    assert "athalia: dev: ok (" in out
    assert "broken" not in out
    assert "broken.yml" in err
    assert "stack.port" in err
    assert "eighty" in err
    assert "Traceback" not in err


def test_envs_counts_every_bad_file(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each invalid file is reported, not just the first."""
    (folder / "a.yml").write_text(BAD, encoding="utf-8")
    (folder / "b.yml").write_text("stack: [\n", encoding="utf-8")
    assert main(["envs", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "a.yml" in err
    assert "b.yml" in err


def test_envs_uses_the_environments_folder_of_the_cwd_by_default(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an argument, variable or ini key, `./environments` is checked, and the output says it is the default."""
    (folder / "dev.yml").write_text(GOOD, encoding="utf-8")
    monkeypatch.chdir(folder.parent)
    assert main(["envs"]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        f"athalia: environments folder {folder} (default: none of athalia envs FOLDER, ATHALIA_ENVIRONMENTS "
        "or ini athalia_environments is set)",
        f"athalia: dev: ok ({folder / 'dev.yml'}; provider compose, service app:8000, startup SLO 90s)",
    ]


def test_envs_accepts_the_shipped_demo_environments(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's environment files are valid (they are what the README tells users to run)."""
    assert main(["envs", str(REPO / "demo" / "environments")]) == 0
    assert "athalia: dev: ok (" in capsys.readouterr().out


def test_missing_folder_is_one_paragraph_on_stderr_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An AthaliaError becomes its message on stderr and exit status 2, never a traceback."""
    missing = tmp_path / "nope"
    assert main(["envs", str(missing)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("athalia: environments folder ")
    assert str(missing) in err
    assert "does not exist" in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_missing_folder_error_points_at_the_folder_argument(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The fix offered names where the folder came from (the FOLDER argument), not an unrelated ini key."""
    assert main(["envs", str(tmp_path / "nope")]) == 2
    assert "ini athalia_environments" not in capsys.readouterr().err


def test_a_file_where_the_folder_should_be_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Pointing `envs` at a file says it is not a directory."""
    plain = tmp_path / "dev.yml"
    plain.write_text(GOOD, encoding="utf-8")
    assert main(["envs", str(plain)]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_any_athalia_error_from_a_command_is_caught(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever command raises an AthaliaError, its text goes to stderr as is and the status is 2."""

    def fail(folder: Path, **_: object) -> tuple[str, ...]:
        raise ConfigError("athalia: expected X, found Y. Fix Z.")

    monkeypatch.setattr(pytest_athalia.config._environment, "list_environments", fail)
    assert main(["envs", "anywhere"]) == 2
    assert capsys.readouterr().err == "athalia: expected X, found Y. Fix Z.\n"


def test_interrupt_exits_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C is a short note on stderr and the conventional status 130."""

    def interrupted(folder: Path, **_: object) -> tuple[str, ...]:
        raise KeyboardInterrupt

    monkeypatch.setattr(pytest_athalia.config._environment, "list_environments", interrupted)
    assert main(["envs", "anywhere"]) == 130
    assert capsys.readouterr().err == "athalia: interrupted\n"


def test_other_exceptions_are_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug (not an AthaliaError) propagates, so it is not mistaken for a user error."""

    def broken(folder: Path, **_: object) -> tuple[str, ...]:
        raise RuntimeError("internal")

    monkeypatch.setattr(pytest_athalia.config._environment, "list_environments", broken)
    with pytest.raises(RuntimeError, match="internal"):
        main(["envs", "anywhere"])


@pytest.mark.parametrize("argv", [[], ["images"]], ids=["no-command", "images-without-subcommand"])
def test_without_a_command_help_is_printed_with_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """No command to run prints the top-level help, listing the commands, and exits 2."""
    assert main(argv) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: athalia")
    for command in ("images", "cleanup", "envs"):
        assert command in out


def test_unknown_command_is_an_argparse_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown command exits 2 with argparse's usage message on stderr."""
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def _project_with_folders(root: Path, *names: str) -> None:
    """A compose file in `root` and one folder per name, each holding `<name>.yml`."""
    (root / "docker-compose.yml").write_text("services: {}\n", encoding="utf-8")
    for name in names:
        (root / name).mkdir()
        (root / name / f"{name}.yml").write_text(GOOD, encoding="utf-8")


@pytest.mark.parametrize(
    ("argument", "variable", "ini", "expected", "origin"),
    [
        pytest.param("from-arg", "from-var", "from-ini", "from-arg", "athalia envs from-arg", id="argument-wins"),
        pytest.param(None, "from-var", "from-ini", "from-var", "ATHALIA_ENVIRONMENTS", id="variable-beats-ini"),
        pytest.param(None, None, "from-ini", "from-ini", "ini athalia_environments in {ini}", id="ini-beats-default"),
        pytest.param(None, "", "from-ini", "from-ini", "ini athalia_environments in {ini}", id="empty-var-is-unset"),
    ],
)
def test_envs_follows_the_plugins_precedence_and_says_where_the_folder_came_from(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argument: str | None,
    variable: str | None,
    ini: str | None,
    expected: str,
    origin: str,
) -> None:
    """FOLDER beats ATHALIA_ENVIRONMENTS beats ini athalia_environments beats ./environments, as in the plugin."""
    _project_with_folders(tmp_path, "from-arg", "from-var", "from-ini", "environments")
    inifile = tmp_path / "pytest.ini"
    inifile.write_text(f"[pytest]\nathalia_environments = {ini}\n" if ini else "[pytest]\n", encoding="utf-8")
    if variable is not None:
        monkeypatch.setenv("ATHALIA_ENVIRONMENTS", variable)
    monkeypatch.chdir(tmp_path)
    assert main(["envs", *([argument] if argument else [])]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"athalia: environments folder {tmp_path / expected} (from {origin.format(ini=inifile)})"
    assert out[1:] == [f"athalia: {expected}: ok ({tmp_path / expected / f'{expected}.yml'}; {DETAILS})"]


def test_envs_reads_the_ini_key_relative_to_the_ini_file_from_a_subfolder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run from a subfolder, `envs` finds pyproject.toml above it and resolves the key against its folder."""
    _project_with_folders(tmp_path, "envs")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.pytest.ini_options]\nathalia_environments = "envs"\n', encoding="utf-8")
    (tmp_path / "tests").mkdir()
    monkeypatch.chdir(tmp_path / "tests")
    assert main(["envs"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"athalia: environments folder {tmp_path / 'envs'} (from ini athalia_environments in {pyproject})"


def test_envs_with_a_missing_folder_from_the_variable_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ATHALIA_ENVIRONMENTS naming no folder: exit 2 and one paragraph that names ATHALIA_ENVIRONMENTS."""
    monkeypatch.setenv("ATHALIA_ENVIRONMENTS", str(tmp_path / "nope"))
    monkeypatch.chdir(tmp_path)
    assert main(["envs"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "(from ATHALIA_ENVIRONMENTS) does not exist" in err
    assert err.count("\n") == 1


def test_envs_with_an_empty_folder_exits_1(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder without any NAME.yml is reported on stderr with exit status 1, as the docstring says."""
    assert main(["envs", str(folder)]) == 1
    assert f"no environment files (NAME.yml or NAME.yaml) in {folder}" in capsys.readouterr().err


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`athalia --version` prints the package's version and exits 0."""
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"athalia (pytest-athalia) {pytest_athalia.__version__}\n"
