"""Effective settings: command line beats environment variable beats ini beats default."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import pytest

from .._errors import ConfigError

__all__ = [
    "OPTIONS",
    "Settings",
    "Sourced",
    "add_options",
    "check_environments_folder",
    "environments_dir_outside_pytest",
    "history_outside_pytest",
    "read_settings",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Sourced(Generic[T]):
    """A value and where it came from (``--athalia-env``, ``ATHALIA_ENV``, ``ini athalia_env``, ``default``)."""

    value: T
    origin: str


@dataclass(frozen=True)
class _Option:
    dest: str
    flag: str
    env: str
    ini: str
    default: str
    help: str
    is_flag: bool = False


OPTIONS: tuple[_Option, ...] = (
    _Option(
        "athalia_env",
        "--athalia-env",
        "ATHALIA_ENV",
        "athalia_env",
        "dev",
        "environment to validate: a NAME from the environments folder or a PATH to a YAML file",
    ),
    _Option(
        "athalia_environments",
        "--athalia-environments",
        "ATHALIA_ENVIRONMENTS",
        "athalia_environments",
        "environments",
        "folder that holds the environment files (NAME.yml)",
    ),
    _Option(
        "athalia_keep",
        "--athalia-keep",
        "ATHALIA_KEEP",
        "athalia_keep",
        "false",
        "leave the stack running after the run, and print the command that removes it",
        is_flag=True,
    ),
    _Option(
        "athalia_report",
        "--athalia-report",
        "ATHALIA_REPORT",
        "athalia_report",
        "reports/athalia.json",
        "where to write the JSON artifact with every measured value",
    ),
    _Option(
        "athalia_log_lines",
        "--athalia-log-lines",
        "ATHALIA_LOG_LINES",
        "athalia_log_lines",
        "50",
        "how many lines of each service's log a failed test's report carries",
    ),
    _Option(
        "athalia_scan_cache",
        "--athalia-scan-cache",
        "ATHALIA_SCAN_CACHE",
        "athalia_scan_cache",
        ".athalia-cache/security",
        "folder of cached security scan results, keyed by image ID ('off' disables the cache)",
    ),
    _Option(
        "athalia_history",
        "--athalia-history",
        "ATHALIA_HISTORY",
        "athalia_history",
        "history.sqlite beside the report",
        "where each run that writes the JSON report also appends it: an SQLite PATH, sqlite:///PATH, "
        "postgresql://USER@HOST:PORT/DBNAME, or 'off'",
    ),
)


def _option(dest: str) -> _Option:
    return next(o for o in OPTIONS if o.dest == dest)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("athalia", "pytest-athalia: release rehearsal on a compose stack")
    for opt in OPTIONS:
        env_note = f" (env {opt.env}, ini {opt.ini}; default {opt.default})"
        action = "store_true" if opt.is_flag else "store"
        group.addoption(opt.flag, action=action, default=None, dest=opt.dest, help=opt.help + env_note)
        # Strings for every ini key, bools included: our parser names the key in its error.
        parser.addini(opt.ini, opt.help, type="string", default=None)


@dataclass(frozen=True)
class Settings:
    env: Sourced[str]
    environments_dir: Sourced[Path]
    keep: Sourced[bool]
    report_path: Sourced[Path]
    log_lines: Sourced[int]
    scan_cache: Sourced[Path | None]  # None: caching is off
    history: Sourced[str | None]  # an SQLite path or a postgresql:// URL; None: history is off

    @property
    def env_is_explicit(self) -> bool:
        return self.env.origin != "default"


def read_settings(config: pytest.Config, environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    raw = {opt.dest: _pick(config, opt, environ) for opt in OPTIONS}
    rootdir = config.inipath.parent if config.inipath is not None else Path(config.rootpath)

    def path(src: Sourced[str]) -> Sourced[Path]:
        # ini values are relative to the rootdir; command line and environment to the cwd.
        p = Path(src.value).expanduser()
        if not p.is_absolute() and src.origin.startswith(("ini", "default")):
            p = rootdir / p
        return Sourced(p, src.origin)

    report_path = path(raw["athalia_report"])
    return Settings(
        env=raw["athalia_env"],
        environments_dir=path(raw["athalia_environments"]),
        keep=_convert(raw["athalia_keep"], "athalia_keep", _parse_bool, "true or false"),
        report_path=report_path,
        log_lines=_convert(raw["athalia_log_lines"], "athalia_log_lines", _parse_count, "a whole number >= 0"),
        scan_cache=_off_or(path, raw["athalia_scan_cache"]),
        history=_history(raw["athalia_history"], report_path.value, path),
    )


def check_environments_folder(
    config: pytest.Config, settings: Settings, environ: Mapping[str, str] | None = None
) -> None:
    """A folder named by the option, the variable or the ini key must exist; :class:`ConfigError` if not.

    The default folder may be missing: the plugin may be installed in a project that never uses it.
    ``--help`` and ``--version`` still work with a bad folder.
    """
    folder = settings.environments_dir
    if folder.origin == "default" or folder.value.is_dir() or _asks_for_help(config):
        return
    opt = _option("athalia_environments")
    raw = _pick(config, opt, os.environ if environ is None else environ).value
    state = "is not a directory" if folder.value.exists() else "does not exist"
    if folder.origin == opt.flag:
        where, fix = f"{opt.flag}={raw}", f"pass {opt.flag} a folder that exists (relative to the current directory)"
    elif folder.origin == opt.env:
        where, fix = f"{opt.env}={raw}", f"set {opt.env} to a folder that exists, or unset it"
    else:
        inifile = config.inipath if config.inipath is not None else "the ini file"
        where = f"ini key {opt.ini} = {raw} in {inifile}"
        fix = f"set {opt.ini} in {inifile} to a folder that exists (relative to that file's folder)"
    raise ConfigError(
        f"athalia: the environments folder {os.path.abspath(folder.value)} (from {where}) {state}; "
        f"expected a folder of NAME.yml files. Create it, or {fix}; "
        f"{opt.flag} beats {opt.env}, which beats the ini key {opt.ini}."
    )


def environments_dir_outside_pytest(
    argument: str | None, *, cwd: Path | None = None, environ: Mapping[str, str] | None = None
) -> Sourced[Path]:
    """The environments folder as the plugin would choose it, for commands that run outside pytest.

    ``argument`` (the command's FOLDER, relative to ``cwd``), else ``ATHALIA_ENVIRONMENTS`` (relative
    to ``cwd``), else the ini key ``athalia_environments`` of the pytest configuration file found from
    ``cwd`` (relative to that file's folder), else ``environments`` beside that file, or in ``cwd``
    without one. The origin is ``athalia envs FOLDER``, ``ATHALIA_ENVIRONMENTS``,
    ``ini athalia_environments in PATH`` or ``default``.
    """
    cwd = Path.cwd() if cwd is None else cwd
    if argument is not None:
        return Sourced(cwd / Path(argument).expanduser(), f"athalia envs {argument}")
    pick, resolve = _outside_pytest(cwd, os.environ if environ is None else environ)
    return resolve(pick(_option("athalia_environments")))


def history_outside_pytest(
    argument: str | None, *, cwd: Path | None = None, environ: Mapping[str, str] | None = None
) -> Sourced[str | None]:
    """The history store as the plugin would choose it, for commands that run outside pytest.

    ``argument`` (the command's ``--history``), else ``ATHALIA_HISTORY``, else the ini key
    ``athalia_history``, else ``history.sqlite`` beside the report (``ATHALIA_REPORT``, else the ini key
    ``athalia_report``, else ``reports/athalia.json``). Paths from the command and the environment are
    relative to ``cwd``, from the ini file (or the default) to that file's folder, as in pytest.
    """
    pick, resolve = _outside_pytest(Path.cwd() if cwd is None else cwd, os.environ if environ is None else environ)
    chosen = Sourced(argument, "athalia history --history") if argument else pick(_option("athalia_history"))
    return _history(chosen, resolve(pick(_option("athalia_report"))).value, resolve)


def _outside_pytest(
    cwd: Path, environ: Mapping[str, str]
) -> tuple[Callable[[_Option], Sourced[str]], Callable[[Sourced[str]], Sourced[Path]]]:
    """How a command outside pytest picks an option (its environment variable, else the ini key of the pytest
    configuration file found from `cwd`, else the default) and resolves a path: from the environment or the
    command, relative to `cwd`; from the ini file or the default, relative to that file's folder, as in pytest."""
    from ._inifile import find_inifile

    inifile = find_inifile(cwd)
    rootdir = inifile.path.parent if inifile is not None else cwd

    def pick(opt: _Option) -> Sourced[str]:
        if environ.get(opt.env, "") != "":
            return Sourced(environ[opt.env], opt.env)
        value = inifile.get(opt.ini) if inifile is not None else None
        if inifile is not None and value:
            return Sourced(value, f"ini {opt.ini} in {inifile.path}")
        return Sourced(opt.default, "default")

    def resolve(src: Sourced[str]) -> Sourced[Path]:
        base = rootdir if src.origin.startswith(("ini", "default")) else cwd
        return Sourced(base / Path(src.value).expanduser(), src.origin)  # an absolute path stays as it is

    return pick, resolve


def _history(src: Sourced[str], report: Path, path: Callable[[Sourced[str]], Sourced[Path]]) -> Sourced[str | None]:
    """None when off; else beside the report by default, a URL as given, or a path resolved like the others."""
    value = src.value.strip()
    if value.lower() in {"off", "0", "false", "no", ""}:
        return Sourced(None, src.origin)
    if src.origin == "default":
        return Sourced(str(report.parent / "history.sqlite"), src.origin)
    if "://" in value and not value.startswith("sqlite:///"):
        return Sourced(value, src.origin)
    return Sourced(str(path(Sourced(value.removeprefix("sqlite:///"), src.origin)).value), src.origin)


def _asks_for_help(config: pytest.Config) -> bool:
    return bool(config.getoption("help", False) or config.getoption("version", False))


def _off_or(path: Callable[[Sourced[str]], Sourced[Path]], src: Sourced[str]) -> Sourced[Path | None]:
    if src.value.strip().lower() in {"off", "0", "false", "no", ""}:
        return Sourced(None, src.origin)
    chosen = path(src)
    return Sourced(chosen.value, chosen.origin)


def _pick(config: pytest.Config, opt: _Option, environ: Mapping[str, str]) -> Sourced[str]:
    cli = config.getoption(opt.dest, default=None)
    if cli is not None:
        return Sourced(str(cli).lower() if opt.is_flag else str(cli), opt.flag)
    if environ.get(opt.env, "") != "":
        return Sourced(environ[opt.env], opt.env)
    ini = config.getini(opt.ini)
    if ini is not None and ini != "":
        return Sourced(str(ini).lower() if opt.is_flag else str(ini), f"ini {opt.ini}")
    return Sourced(opt.default, "default")


def _convert(src: Sourced[str], dest: str, fn: Callable[[str], T], expected: str) -> Sourced[T]:
    try:
        return Sourced(fn(src.value), src.origin)
    except ValueError:
        opt = _option(dest)
        raise ConfigError(
            f"athalia: {src.origin} is {src.value!r}, expected {expected}. Fix {src.origin} "
            f"(option {opt.flag}, environment variable {opt.env}, ini key {opt.ini})."
        ) from None


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(text)


def _parse_count(text: str) -> int:
    value = int(text.strip())
    if value < 0:
        raise ValueError(text)
    return value
