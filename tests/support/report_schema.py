"""Validate a JSON report against the schema the package ships (report/schema/report-2.schema.json).

The tests need ``jsonschema`` (the ``dev`` extra); the plugin never imports it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

__all__ = ["report_schema", "validate_report"]


@cache
def report_schema() -> dict[str, Any]:
    """The schema as the package ships it (read through importlib.resources, as a user would)."""
    text = (resources.files("pytest_athalia.report") / "schema" / "report-2.schema.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def validate_report(report: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> None:
    """Raise AssertionError listing every violation (path and message), not only the first."""
    validator = jsonschema.Draft202012Validator(
        report_schema() if schema is None else schema, format_checker=jsonschema.FormatChecker()
    )
    errors = sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors[:20]]
        raise AssertionError(f"the report breaks report-2.schema.json ({len(errors)} error(s)):\n" + "\n".join(lines))
