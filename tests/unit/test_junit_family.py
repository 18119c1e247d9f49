"""place_properties: athalia's testcase properties where each junit_family allows them (pure, on XML text)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pytest_athalia.report._junit import HEADER, place_properties, read_measured, suite_property_name

# As pytest 9 writes it (xunit2 would drop file/line; they do not matter here).
PYTEST_XML = (
    '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0" '
    'failures="1" skipped="0" tests="3" time="0.1" timestamp="2026-12-05T06:20:54+00:00" hostname="vm">'
    '<testcase classname="suites.ci.test_stack" name="test_up" time="0.002"><properties>'
    '<property name="athalia.startup.measured" value="5.5" /><property name="athalia.startup.verdict" value="pass" />'
    "</properties></testcase>"
    '<testcase classname="suites.ci.test_stack" name="test_slow[a b]" time="0.002"><properties>'
    '<property name="team" value="ops" /><property name="athalia.series.load" value="{&quot;rows&quot;: [[1, 2]]}" />'
    '</properties><failure message="slow">trace</failure><system-err>err</system-err></testcase>'
    '<testcase classname="suites.ci.test_stack" name="test_plain" time="0.001" />'
    "</testsuite></testsuites>"
)


def cases(text: str) -> dict[str, ET.Element]:
    return {c.get("name", ""): c for c in ET.fromstring(text).iter("testcase")}


def test_xunit2_moves_athalia_properties_to_the_testsuite() -> None:
    """Every athalia.* testcase property becomes a testsuite property named for its test; the rest stays."""
    text = place_properties(PYTEST_XML, "xunit2")
    root = ET.fromstring(text)
    up, slow = cases(text)["test_up"], cases(text)["test_slow[a b]"]
    assert up.find("properties") is None  # emptied, so removed
    assert [(p.get("name"), p.get("value")) for p in slow.iter("property")] == [("team", "ops")]
    suite_props = [(p.get("name"), p.get("value")) for p in root.findall("testsuite/properties/property")]
    assert suite_props == [
        ("suites.ci.test_stack.test_up::athalia.startup.measured", "5.5"),
        ("suites.ci.test_stack.test_up::athalia.startup.verdict", "pass"),
        ("suites.ci.test_stack.test_slow[a b]::athalia.series.load", '{"rows": [[1, 2]]}'),
    ]
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?><testsuites')


@pytest.mark.parametrize("family", ["xunit1", "legacy"])
def test_xunit1_keeps_testcase_properties(family: str) -> None:
    """xunit1 and legacy: the testcase keeps its properties; the testsuite gets none."""
    text = place_properties(PYTEST_XML, family)
    assert [p.get("name") for p in cases(text)["test_up"].iter("property")] == [
        "athalia.startup.measured",
        "athalia.startup.verdict",
    ]
    assert ET.fromstring(text).find("testsuite/properties") is None


@pytest.mark.parametrize("family", ["xunit2", "xunit1"])
def test_system_out_lists_the_values_before_system_err(family: str) -> None:
    """Each test with values gets a <system-out> with `name = value` lines, placed before <system-err>."""
    slow = cases(place_properties(PYTEST_XML, family))["test_slow[a b]"]
    assert [child.tag for child in slow if child.tag != "properties"] == ["failure", "system-out", "system-err"]
    assert (slow.findtext("system-out") or "").splitlines() == [HEADER, 'athalia.series.load = {"rows": [[1, 2]]}']
    assert cases(place_properties(PYTEST_XML, family))["test_plain"].find("system-out") is None


def test_a_multiline_value_stays_readable() -> None:
    """A value with newlines is indented under its name."""
    xml = PYTEST_XML.replace('value="pass"', 'value="first&#10;second"')
    out = cases(place_properties(xml, "xunit2"))["test_up"].findtext("system-out") or ""
    assert "athalia.startup.verdict = first\n    second" in out


def test_suite_properties_join_record_testsuite_property_ones() -> None:
    """An existing testsuite <properties> (record_testsuite_property) gets ours after its own."""
    xml = PYTEST_XML.replace(
        'hostname="vm">', 'hostname="vm"><properties><property name="db" value="pg" /></properties>'
    )
    root = ET.fromstring(place_properties(xml, "xunit2"))
    blocks = root.findall("testsuite/properties")
    assert len(blocks) == 1
    assert [p.get("name") for p in blocks[0]][:2] == ["db", "suites.ci.test_stack.test_up::athalia.startup.measured"]


@pytest.mark.parametrize("family", ["xunit2", "xunit1"])
def test_read_measured_finds_the_values_in_either_family(family: str) -> None:
    """read_measured gives the same values per (classname, name) whatever the family."""
    assert read_measured(place_properties(PYTEST_XML, family)) == {
        ("suites.ci.test_stack", "test_up"): {"athalia.startup.measured": "5.5", "athalia.startup.verdict": "pass"},
        ("suites.ci.test_stack", "test_slow[a b]"): {"athalia.series.load": '{"rows": [[1, 2]]}'},
    }


@pytest.mark.parametrize("family", ["xunit2", "xunit1"])
def test_placing_twice_changes_nothing_more(family: str) -> None:
    """Idempotent: a second pass over a placed file adds no property and no second summary."""
    once = place_properties(PYTEST_XML, family)
    assert place_properties(once, family) == once


def test_a_file_without_athalia_properties_is_returned_as_is() -> None:
    """No athalia property: the very same text, so the caller does not rewrite pytest's file."""
    plain = PYTEST_XML.replace("athalia.", "other.")
    assert place_properties(plain, "xunit2") is plain


def test_suite_property_name_without_a_classname() -> None:
    """A testcase with no classname (a collection error) is named by its name alone."""
    assert suite_property_name("", "test_x", "athalia.a.b") == "test_x::athalia.a.b"
    assert suite_property_name("m.C", "test_x", "athalia.a.b") == "m.C.test_x::athalia.a.b"
