"""The pytest configuration file a run from a folder would use, and one ``athalia_*`` key in it.

For the ``athalia`` command, which runs outside pytest. pytest exposes its own discovery only through
private modules (``_pytest.config.findpaths``), and building a ``pytest.Config`` loads every plugin,
so this follows pytest's documented rules instead: from the folder upwards, the first of
``pytest.toml``, ``.pytest.toml``, ``pytest.ini``, ``.pytest.ini`` (always, even empty),
``pyproject.toml`` (with ``[tool.pytest]`` or ``[tool.pytest.ini_options]``), ``tox.ini`` (with
``[pytest]``) or ``setup.cfg`` (with ``[tool:pytest]``); without one, the nearest ``pyproject.toml``.
INI files are read with ``iniconfig``, the
parser pytest uses.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import iniconfig

from .._errors import ConfigError

__all__ = ["IniFile", "find_inifile"]


@dataclass(frozen=True)
class IniFile:
    """A pytest configuration file and its pytest keys (values as written, lists joined by blanks)."""

    path: Path
    keys: Mapping[str, str]

    def get(self, key: str) -> str | None:
        return self.keys.get(key)


def find_inifile(start: Path) -> IniFile | None:
    """The configuration file pytest would find from ``start`` (a folder), or None if there is none.

    As in pytest, when no file holds pytest settings the nearest ``pyproject.toml`` is the file (with no keys).
    """
    bare_pyproject: Path | None = None
    for folder in (start, *start.parents):
        for name, load in _LOADERS:
            path = folder / name
            if path.is_file():
                keys = load(path)
                if keys is not None:
                    return IniFile(path, keys)
                if name == "pyproject.toml" and bare_pyproject is None:
                    bare_pyproject = path
    return IniFile(bare_pyproject, {}) if bare_pyproject is not None else None


def _ini_section(path: Path, section: str) -> dict[str, str] | None:
    try:
        parsed = iniconfig.IniConfig(str(path))
    except (iniconfig.ParseError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"athalia: {path} cannot be read as an ini file ({exc}); fix the file.") from None
    return dict(parsed[section].items()) if section in parsed else None


def _toml(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"athalia: {path} cannot be read as TOML ({exc}); fix the file.") from None


def _strings(table: object) -> dict[str, str] | None:
    if not isinstance(table, dict):
        return None
    return {str(k): " ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in table.items()}


def _pytest_ini(path: Path) -> dict[str, str]:
    return _ini_section(path, "pytest") or {}


def _pytest_toml(path: Path) -> dict[str, str]:
    return _strings(_toml(path).get("pytest")) or {}


def _pyproject(path: Path) -> dict[str, str] | None:
    tool = _toml(path).get("tool")
    table = tool.get("pytest") if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        return None
    native = {k: v for k, v in table.items() if k != "ini_options"}
    return _strings(native) if native else _strings(table.get("ini_options", {}))


_LOADERS: tuple[tuple[str, Callable[[Path], dict[str, str] | None]], ...] = (
    ("pytest.toml", _pytest_toml),
    (".pytest.toml", _pytest_toml),
    ("pytest.ini", _pytest_ini),
    (".pytest.ini", _pytest_ini),
    ("pyproject.toml", _pyproject),
    ("tox.ini", lambda path: _ini_section(path, "pytest")),
    ("setup.cfg", lambda path: _ini_section(path, "tool:pytest")),
)
