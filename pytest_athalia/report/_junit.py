"""pytest's JUnit XML made valid for its ``junit_family``, with athalia's measured values kept readable.

pytest writes every user property of a test as ``<properties>`` inside its ``<testcase>``. The xunit2
family (pytest's default; its schema is pytest's junit-10.xsd, the Jenkins xUnit one) allows
``<properties>`` only on the ``<testsuite>``; xunit1 (and ``legacy``, its alias) keeps them on the
testcase, where Jenkins' JUnit plugin reads them (``keepProperties``). So, once pytest has written
the file, the controller rewrites it (see docs/junit.md):

- xunit2: each ``athalia.*`` testcase property moves to the testsuite's ``<properties>``, named
  ``<classname>.<name>::<property>`` so that it stays unique per test;
- every family: a testcase with ``athalia.*`` properties also lists them, one ``name = value`` a
  line, in its ``<system-out>`` (GitLab shows a failed test's system output, Jenkins every test's).

Property names are opaque here: anything that starts with ``athalia.`` moves, the rest stays.
The file is pytest's own output, written a moment earlier by this same run.
"""

from __future__ import annotations

# Parses only JUnit files that pytest wrote (see above), not documents from elsewhere.
import xml.etree.ElementTree as ET  # nosec B405
from collections.abc import Iterator

__all__ = ["HEADER", "SUITE_SEPARATOR", "place_properties", "read_measured", "suite_property_name"]

PREFIX = "athalia."
SUITE_SEPARATOR = "::"
HEADER = " athalia: measured values ".center(80, "-")
_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'  # what pytest's junitxml writes
_TESTCASE_PROPERTIES = ("xunit1", "legacy")

TestKey = tuple[str, str]  # (classname, name) of a testcase


def suite_property_name(classname: str, name: str, prop: str) -> str:
    """The testsuite-level name of testcase property `prop` (xunit2): ``<classname>.<name>::<prop>``."""
    return f"{classname}.{name}{SUITE_SEPARATOR}{prop}" if classname else f"{name}{SUITE_SEPARATOR}{prop}"


def place_properties(text: str, family: str) -> str:
    """`text` (a JUnit file from pytest) with athalia properties where `family` allows them.

    Returns `text` itself when it holds no athalia testcase property, so a file is rewritten only when
    something moves.
    """
    if PREFIX not in text:
        return text
    root = ET.fromstring(text)  # noqa: S314  # nosec B314
    changed = False
    for suite in _suites(root):
        moved: list[tuple[str, str]] = []
        for case in suite.findall("testcase"):
            ours = _take_properties(case, remove=family not in _TESTCASE_PROPERTIES)
            if not ours:
                continue
            changed = True
            _append_system_out(case, ours)
            if family not in _TESTCASE_PROPERTIES:
                classname, name = case.get("classname", ""), case.get("name", "")
                moved += [(suite_property_name(classname, name, n), v) for n, v in ours]
        if moved:
            _add_suite_properties(suite, moved)
    if not changed:
        return text
    return _DECLARATION + ET.tostring(root, encoding="unicode")


def read_measured(text: str) -> dict[TestKey, dict[str, str]]:
    """The athalia properties of each testcase, by (classname, name), wherever the family put them."""
    root = ET.fromstring(text)  # noqa: S314  # nosec B314
    out: dict[TestKey, dict[str, str]] = {}
    for suite in _suites(root):
        keys: dict[str, TestKey] = {}
        for case in suite.findall("testcase"):
            key = (case.get("classname", ""), case.get("name", ""))
            keys[suite_property_name(*key, "")] = key
            found = {n: v for n, v in _properties(case) if n.startswith(PREFIX)}
            if found:
                out.setdefault(key, {}).update(found)
        for name, value in _properties(suite):
            owner, sep, prop = name.rpartition(SUITE_SEPARATOR + PREFIX)
            if sep and (test := keys.get(owner + SUITE_SEPARATOR)) is not None:
                out.setdefault(test, {})[PREFIX + prop] = value
    return out


def _suites(root: ET.Element) -> Iterator[ET.Element]:
    # pytest writes <testsuites><testsuite>; other writers nest suites or write one <testsuite> alone.
    return root.iter("testsuite")


def _properties(element: ET.Element) -> Iterator[tuple[str, str]]:
    for block in element.findall("properties"):
        for prop in block.findall("property"):
            yield prop.get("name", ""), prop.get("value", "")


def _take_properties(case: ET.Element, *, remove: bool) -> list[tuple[str, str]]:
    """The testcase's athalia properties, in order; with `remove`, taken out (and an emptied block too)."""
    ours: list[tuple[str, str]] = []
    for block in case.findall("properties"):
        for prop in block.findall("property"):
            name = prop.get("name", "")
            if name.startswith(PREFIX):
                ours.append((name, prop.get("value", "")))
                if remove:
                    block.remove(prop)
        if remove and len(block) == 0:
            case.remove(block)
    return ours


def _summary(properties: list[tuple[str, str]]) -> str:
    lines = [f"{name} = {value}".replace("\n", "\n    ") for name, value in properties]
    return "\n".join([HEADER, *lines, ""])


def _append_system_out(case: ET.Element, properties: list[tuple[str, str]]) -> None:
    # Jenkins reads the first <system-out> of a testcase only: join pytest's captured output if any.
    out = case.find("system-out")
    if out is not None:
        if HEADER in (out.text or ""):
            return
        out.text = (out.text or "") + ("\n" if out.text and not out.text.endswith("\n") else "") + _summary(properties)
        return
    out = ET.Element("system-out")
    out.text = _summary(properties)
    children = list(case)
    err = next((i for i, child in enumerate(children) if child.tag == "system-err"), len(children))
    case.insert(err, out)


def _add_suite_properties(suite: ET.Element, properties: list[tuple[str, str]]) -> None:
    block = suite.find("properties")  # record_testsuite_property's, when a test used it
    if block is None:
        block = ET.Element("properties")
        suite.insert(0, block)
    for name, value in properties:
        block.append(ET.Element("property", name=name, value=value))
