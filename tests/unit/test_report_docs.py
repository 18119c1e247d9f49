"""docs/reports.md stays true: it documents every field of the shipped schema, and the schema is valid."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema

from tests.support.report_schema import report_schema

DOCS = Path(__file__).parents[2] / "docs" / "reports.md"


def _fields(node: dict[str, Any], defs: dict[str, Any], prefix: str = "") -> set[str]:
    """Every property name of an object schema, nested ones as `parent.child`, following $ref."""
    if "$ref" in node:
        node = defs[node["$ref"].rpartition("/")[2]]
    out: set[str] = set()
    for variant in node.get("oneOf", []):
        out |= _fields(variant, defs, prefix)
    for name, sub in node.get("properties", {}).items():
        out.add(prefix + name)
        target = defs[sub["$ref"].rpartition("/")[2]] if "$ref" in sub else sub
        if target.get("type") == "object" or "oneOf" in target:
            out |= _fields(target, defs, f"{prefix}{name}.")
    return out


def test_the_shipped_schema_is_a_valid_draft_2020_12_schema() -> None:
    """The schema file itself passes the metaschema."""
    jsonschema.Draft202012Validator.check_schema(report_schema())


def test_docs_name_every_field_of_the_schema() -> None:
    """Each field of run, summary, tests, checks, series and timeline appears in docs/reports.md in backticks."""
    schema = report_schema()
    defs = schema["$defs"]
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z_.]+)`", text))
    fields = _fields(schema, defs)
    for part in ("test", "check", "series", "event"):
        fields |= _fields(defs[part], defs)

    def told(field: str) -> bool:
        path = field.removeprefix("run.")
        leaf = path.rpartition(".")[2]
        # `startup.build_s`, a table row `build_s`, or an object told through its members (`git.commit`).
        return path in documented or leaf in documented or any(d.startswith(path + ".") for d in documented)

    missing = sorted(f for f in fields if not told(f))
    assert not missing, f"docs/reports.md does not document: {missing}"
