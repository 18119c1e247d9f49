"""The pytest configuration file found from a folder, outside pytest: the same file pytest itself picks."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_athalia._errors import ConfigError
from pytest_athalia.config._inifile import find_inifile

pytest_plugins = ["pytester"]

KEY = "athalia_environments"

# (files to write, the one expected to be found, the value of athalia_environments in it)
LAYOUTS = {
    "pytest.ini": ({"pytest.ini": f"[pytest]\n{KEY} = envs\n"}, "pytest.ini", "envs"),
    "empty-pytest.ini-still-wins": (
        {"pytest.ini": "", "tox.ini": f"[pytest]\n{KEY} = tox\n"},
        "pytest.ini",
        None,
    ),
    "pytest.toml": ({"pytest.toml": f'[pytest]\n{KEY} = "toml-envs"\n'}, "pytest.toml", "toml-envs"),
    "pyproject-ini-options": (
        {"pyproject.toml": f'[tool.pytest.ini_options]\n{KEY} = "pp"\n'},
        "pyproject.toml",
        "pp",
    ),
    "pyproject-native-toml": ({"pyproject.toml": f'[tool.pytest]\n{KEY} = "native"\n'}, "pyproject.toml", "native"),
    "pyproject-without-pytest-yields-to-tox": (
        {"pyproject.toml": "[project]\nname = 'x'\n", "tox.ini": f"[pytest]\n{KEY} = tox\n"},
        "tox.ini",
        "tox",
    ),
    "tox.ini-without-pytest-yields-to-setup.cfg": (
        {"tox.ini": "[tox]\nenvlist = py\n", "setup.cfg": f"[tool:pytest]\n{KEY} = cfg\n"},
        "setup.cfg",
        "cfg",
    ),
    "pytest.ini-beats-pyproject": (
        {"pytest.ini": f"[pytest]\n{KEY} = ini\n", "pyproject.toml": f'[tool.pytest.ini_options]\n{KEY} = "pp"\n'},
        "pytest.ini",
        "ini",
    ),
    "bare-pyproject-is-the-file-without-keys": ({"pyproject.toml": "[project]\nname = 'x'\n"}, "pyproject.toml", None),
}


@pytest.mark.parametrize(("files", "expected", "value"), list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_the_file_found_is_the_one_pytest_uses(
    pytester: pytest.Pytester, files: dict[str, str], expected: str, value: str | None
) -> None:
    """For each layout, find_inifile picks the file pytest's own discovery picks, and reads the key from it."""
    for name, text in files.items():
        (pytester.path / name).write_text(text, encoding="utf-8")
    found = find_inifile(pytester.path)
    assert found is not None
    assert found.path == pytester.path / expected
    assert found.path == pytester.parseconfig().inipath  # pytest agrees
    assert found.get(KEY) == value


def test_a_file_in_a_parent_folder_is_found_from_a_subfolder(pytester: pytest.Pytester) -> None:
    """Discovery walks up from the folder, as pytest does from the current directory."""
    (pytester.path / "tox.ini").write_text(f"[pytest]\n{KEY} = up\n", encoding="utf-8")
    sub = pytester.mkdir("a") / "b"
    sub.mkdir()
    found = find_inifile(sub)
    assert found is not None
    assert (found.path, found.get(KEY)) == (pytester.path / "tox.ini", "up")


def test_a_list_value_in_native_toml_is_joined_like_an_ini_line(tmp_path: Path) -> None:
    """A TOML list reads as its items separated by blanks, as the same key in an ini file would."""
    (tmp_path / "pytest.toml").write_text('[pytest]\nmarkers = ["a", "b"]\n', encoding="utf-8")
    found = find_inifile(tmp_path)
    assert found is not None
    assert found.get("markers") == "a b"


def test_broken_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    """A pyproject.toml that is not TOML is a ConfigError naming the file, not a traceback."""
    (tmp_path / "pyproject.toml").write_text("[tool.pytest\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"pyproject.toml cannot be read as TOML"):
        find_inifile(tmp_path)
