"""The `athalia` command: environment checks, help, and errors without tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    assert out.startswith("athalia: dev: ok (")
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
    """Without an argument, `./environments` is checked."""
    (folder / "dev.yml").write_text(GOOD, encoding="utf-8")
    monkeypatch.chdir(folder.parent)
    assert main(["envs"]) == 0
    assert capsys.readouterr().out.startswith("athalia: dev: ok (")


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
