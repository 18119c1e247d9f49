"""JUnit files in tests: validation against the family's schema (xunit2: pytest's junit-10.xsd), and
the measured values read back wherever the family put them."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from pytest_athalia.report._junit import read_measured
from pytest_athalia.testing import unavailable

XSD = Path(__file__).parent / "xsd"
SCHEMAS = {"xunit2": XSD / "junit-10.xsd", "xunit1": XSD / "junit-10-xunit1.xsd", "legacy": XSD / "junit-10-xunit1.xsd"}


@functools.cache
def schema(family: str) -> Any:
    """The compiled XSD of a junit_family (xmlschema; a skip without it, a failure under CI=true)."""
    try:
        import xmlschema
    except ImportError:
        unavailable("xmlschema is not installed (pip install -e '.[dev]')")
    return xmlschema.XMLSchema(SCHEMAS[family])


def schema_errors(path: Path, family: str) -> list[str]:
    """Every reason `path` is not valid for `family`, one line each; [] when it is valid."""
    return [f"{error.path}: {error.reason}" for error in schema(family).iter_errors(str(path))]


def measured(path: Path) -> dict[str, dict[str, str]]:
    """The athalia properties of each testcase of a JUnit file, by test name (any family)."""
    return {name: props for (_, name), props in read_measured(path.read_text(encoding="utf-8")).items()}
