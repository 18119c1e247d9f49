"""The one exception tree of pytest-athalia.

Every message says what was expected, what was found, and how to fix it
(the file, key, option or command to change)::

    AthaliaError
    ├── ConfigError        a bad environment file, option or value
    │   └── SecretError    a ${env:NAME} / ${file:PATH} reference that cannot be resolved
    ├── DockerUnavailable  no Docker daemon, or no compose v2
    ├── ImageError         the base image cannot be found, pulled or built
    ├── StackError         compose failed to build, start or remove the stack
    │   └── StackTimeout   not healthy within the startup SLO, or a command (exec) past its timeout
    ├── CleanupError       resources of a run survived its cleanup
    ├── RouterError        the router cannot be reached or refused a command
    ├── RolloutError       a deploy, switch or rollback could not be carried out
    ├── LoadError          the load generator could not run or its output is unusable
    ├── ScanError          a scanner (Trivy, Bandit) could not run or its output is unusable
    ├── DashboardError     ``athalia report`` cannot read its history or report, or draw the page
    └── HistoryError       the history store cannot be opened, read or written, or a report cannot go in it
"""

from __future__ import annotations

__all__ = [
    "AthaliaError",
    "CleanupError",
    "ConfigError",
    "DashboardError",
    "DockerUnavailable",
    "HistoryError",
    "ImageError",
    "LoadError",
    "RolloutError",
    "RouterError",
    "ScanError",
    "SecretError",
    "StackError",
    "StackTimeout",
]


class AthaliaError(Exception):
    """Base of every error raised by pytest-athalia."""


class ConfigError(AthaliaError):
    """An environment file, option or value is invalid."""


class SecretError(ConfigError):
    """A secret reference cannot be resolved."""


class DockerUnavailable(AthaliaError):
    """The Docker daemon or compose v2 is missing."""


class ImageError(AthaliaError):
    """The base image cannot be provided."""


class StackError(AthaliaError):
    """Compose failed to build, start, inspect or remove the stack."""


class StackTimeout(StackError):
    """The stack was not healthy within its startup SLO, or one of its commands (``exec``) ran past its timeout."""


class CleanupError(AthaliaError):
    """Resources of a run are still present after cleanup."""


class RouterError(AthaliaError):
    """The router cannot be reached, or it refused a command."""


class RolloutError(AthaliaError):
    """A deploy, switch or rollback could not be carried out."""


class LoadError(AthaliaError):
    """The load generator could not run, or its output cannot be used."""


class ScanError(AthaliaError):
    """A scanner could not run, or its output cannot be used."""


class DashboardError(AthaliaError):
    """``athalia report`` cannot read its inputs (history, report) or draw the dashboard."""


class HistoryError(AthaliaError):
    """The history store cannot be opened, read or written, or a report does not fit it."""
