"""JUnit properties and the JSON artifact: one naming scheme, atomic writes, redaction."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_athalia.config._secrets import Redactor
from pytest_athalia.report._artifact import ReportBook, group_checks, info_properties, verdict_properties
from pytest_athalia.report._slo import Comparison, Measurement, Outcome, Threshold, Verdict, judge

P95 = Threshold(500, Comparison.AT_MOST, "ms")


def p95_verdict(value: float | None, samples: int = 20, window: str = "20 requests") -> Verdict:
    return judge(Measurement("health_p95", value, "ms", samples, window), P95)


def strings_in(data: object) -> list[str]:
    """Every string (keys and values) in decoded JSON."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for k, v in data.items() for s in (k, *strings_in(v))]
    if isinstance(data, list):
        return [s for item in data for s in strings_in(item)]
    return []


# -- verdict_properties / info_properties ---------------------------------------------------------------


def test_verdict_properties_of_a_pass_name_every_field() -> None:
    """A passing verdict becomes `athalia.<check>.<field>` for each non-empty field, in a fixed order."""
    assert verdict_properties(p95_verdict(123.5)) == [
        ("athalia.health_p95.measured", "123.5"),
        ("athalia.health_p95.threshold", "500"),
        ("athalia.health_p95.comparison", "<="),
        ("athalia.health_p95.unit", "ms"),
        ("athalia.health_p95.samples", "20"),
        ("athalia.health_p95.window", "20 requests"),
        ("athalia.health_p95.verdict", "pass"),
    ]


def test_verdict_properties_of_a_missing_value_keep_an_empty_measured_and_the_reason() -> None:
    """`measured` is present but empty when nothing was measured, and the reason is recorded."""
    props = dict(verdict_properties(p95_verdict(None, samples=0, window="")))
    assert props["athalia.health_p95.measured"] == ""
    assert props["athalia.health_p95.verdict"] == "fail"
    assert props["athalia.health_p95.reason"] == "no value was measured"
    assert "athalia.health_p95.window" not in props


def test_verdict_properties_drop_empty_unit() -> None:
    """A unitless ratio records no `unit` property rather than an empty one."""
    verdict = judge(Measurement("ok_ratio", 1.0, "", 5), Threshold(0.99, Comparison.AT_LEAST, ""))
    names = [name for name, _ in verdict_properties(verdict)]
    assert "athalia.ok_ratio.unit" not in names
    assert dict(verdict_properties(verdict))["athalia.ok_ratio.comparison"] == ">="


@pytest.mark.parametrize(
    ("value", "text"), [(12.0, "12"), (0.1234567, "0.123457"), (1234567.891, "1.23457e+06"), (-3.0, "-3")]
)
def test_numbers_are_whole_when_whole_and_six_significant_digits_otherwise(value: float, text: str) -> None:
    """Measured values are written compactly and without float noise."""
    assert dict(verdict_properties(p95_verdict(value)))["athalia.health_p95.measured"] == text


def test_info_properties_record_a_value_without_threshold_or_verdict() -> None:
    """A recorded (ungated) value has measured, unit and samples only."""
    assert info_properties("build_time", 42.5, "s") == [
        ("athalia.build_time.measured", "42.5"),
        ("athalia.build_time.unit", "s"),
        ("athalia.build_time.samples", "1"),
    ]


# -- group_checks -------------------------------------------------------------------------------------


def test_group_checks_groups_by_check_and_ignores_foreign_properties() -> None:
    """Only `athalia.` properties are grouped; others and field-less names are ignored."""
    grouped = group_checks(
        [
            ("athalia.a.measured", "1"),
            ("athalia.b.verdict", "fail"),
            ("athalia.a.verdict", "pass"),
            ("other.a.measured", "9"),
            ("athalia.nofield", "x"),
        ]
    )
    assert grouped == {"a": {"measured": "1", "verdict": "pass"}, "b": {"verdict": "fail"}}


@given(
    value=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)),
    samples=st.integers(0, 10**6),
    window=st.text(max_size=20),
)
def test_group_checks_round_trips_verdict_properties(value: float | None, samples: int, window: str) -> None:
    """Grouping a verdict's properties gives back one check with the same fields."""
    props = verdict_properties(p95_verdict(value, samples, window))
    assert group_checks(props) == {"health_p95": {name.rpartition(".")[2]: v for name, v in props}}


# -- ReportBook -----------------------------------------------------------------------------------------


def test_book_collects_checks_per_test_and_counts_verdicts() -> None:
    """Verdicts are counted; recorded values without a verdict are not gates."""
    book = ReportBook()
    book.add("t.py::a", "call", "passed", verdict_properties(p95_verdict(100)))
    book.add("t.py::b", "call", "failed", verdict_properties(p95_verdict(900)))
    book.add("t.py::b", "call", "failed", info_properties("build_time", 3, "s"))
    book.add("t.py::c", "call", "failed", [("athalia.x.verdict", Outcome.INCONCLUSIVE.value)])
    assert book.summary() == {"tests": 3, "checks": 3, "passed": 1, "failed": 1, "inconclusive": 1, "not_measured": 0}
    assert book.tests["t.py::b"].checks["build_time"] == {"measured": "3", "unit": "s", "samples": "1"}


def test_book_ignores_non_string_property_names_and_stringifies_values() -> None:
    """Property values of any type are stored as text; non-string names are skipped."""
    book = ReportBook()
    book.add("t.py::a", "call", "passed", [("athalia.x.samples", 5), (("odd",), "y")])  # type: ignore[list-item]
    assert book.tests["t.py::a"].checks == {"x": {"samples": "5"}}


@pytest.mark.parametrize(
    ("phases", "outcome"),
    [
        ([("setup", "passed"), ("call", "passed"), ("teardown", "passed")], "passed"),
        ([("setup", "passed"), ("call", "failed"), ("teardown", "passed")], "failed"),
        ([("setup", "passed"), ("call", "skipped"), ("teardown", "passed")], "skipped"),
        ([("setup", "skipped"), ("teardown", "passed")], "skipped"),
        ([("setup", "failed"), ("teardown", "passed")], "failed"),
        ([("setup", "passed"), ("call", "passed"), ("teardown", "failed")], "failed"),
        ([("setup", "passed"), ("call", "failed"), ("teardown", "skipped")], "failed"),
    ],
)
def test_book_outcome_follows_the_call_unless_setup_or_teardown_did_not_pass(
    phases: list[tuple[str, str]], outcome: str
) -> None:
    """A passing teardown never hides a failure, and a failure is never overwritten."""
    book = ReportBook()
    for when, result in phases:
        book.add("t.py::a", when, result, [])
    assert book.tests["t.py::a"].outcome == outcome


def test_book_merges_properties_from_several_phases() -> None:
    """Fields of one check recorded in setup and call end up in one record."""
    book = ReportBook()
    book.add("t.py::a", "setup", "passed", [("athalia.startup.measured", "12")])
    book.add("t.py::a", "call", "passed", [("athalia.startup.verdict", "pass")])
    assert book.tests["t.py::a"].checks == {"startup": {"measured": "12", "verdict": "pass"}}


def test_as_json_has_schema_run_summary_and_tests_sorted_by_nodeid() -> None:
    """The artifact's top level is stable and tests are sorted for diffable output."""
    book = ReportBook(run={"environment": "dev"})
    book.add("t.py::b", "call", "passed", [])
    book.add("t.py::a", "call", "failed", verdict_properties(p95_verdict(900)))
    data = book.as_json()
    assert list(data) == ["schema", "run", "summary", "tests"]
    assert data["schema"] == "pytest-athalia/report/1"
    assert data["run"] == {"environment": "dev"}
    assert [t["nodeid"] for t in data["tests"]] == ["t.py::a", "t.py::b"]
    assert data["tests"][0]["checks"]["health_p95"]["verdict"] == "fail"


def test_write_creates_parent_folders_and_valid_json(tmp_path: Path) -> None:
    """The artifact lands at the path, folders included, and parses back to as_json()."""
    book = ReportBook(run={"environment": "dev"})
    book.add("t.py::a", "call", "passed", verdict_properties(p95_verdict(100)))
    target = tmp_path / "reports" / "deep" / "athalia.json"
    book.write(target)
    text = target.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert json.loads(text) == book.as_json()


def test_write_replaces_an_existing_file_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    """A second write replaces the first completely; no `.athalia-*` temp file stays behind."""
    target = tmp_path / "athalia.json"
    target.write_text("old content that is longer than nothing" * 100, encoding="utf-8")
    ReportBook(run={"n": 1}).write(target)
    assert json.loads(target.read_text(encoding="utf-8"))["run"] == {"n": 1}
    assert os.listdir(tmp_path) == ["athalia.json"]


def test_write_keeps_the_old_file_when_the_report_cannot_be_encoded(tmp_path: Path) -> None:
    """A run value JSON cannot encode leaves the previous artifact intact, not half a file."""
    target = tmp_path / "athalia.json"
    target.write_text('{"old": true}\n', encoding="utf-8")
    with pytest.raises(TypeError):
        ReportBook(run={"bad": object()}).write(target)
    assert target.read_text(encoding="utf-8") == '{"old": true}\n'
    assert os.listdir(tmp_path) == ["athalia.json"]


def test_write_removes_its_temporary_file_when_the_final_rename_fails(tmp_path: Path) -> None:
    """When the report path cannot be replaced, no stray temporary file is left in its folder."""
    target = tmp_path / "athalia.json"
    target.mkdir()
    with pytest.raises(OSError):
        ReportBook().write(target)
    assert sorted(os.listdir(tmp_path)) == ["athalia.json"]


def test_write_redacts_secrets_in_the_written_text(tmp_path: Path) -> None:
    """The redact callable is applied to everything written, run info included."""
    book = ReportBook(run={"error": "login as admin:hunter2 failed"})
    book.add("t.py::a", "call", "failed", [("athalia.db.reason", "password hunter2 rejected")])
    target = tmp_path / "athalia.json"
    book.write(target, redact=Redactor("hunter2").redact)
    text = target.read_text(encoding="utf-8")
    assert "hunter2" not in text
    data = json.loads(text)
    assert data["run"]["error"] == "login as admin:*** failed"
    assert data["tests"][0]["checks"]["db"]["reason"] == "password *** rejected"


@pytest.mark.parametrize("secret", ["pässwörd", 'pa"ss', "pa\\ss", "tab\tbed"])
def test_write_redacts_secrets_that_json_escapes(tmp_path: Path, secret: str) -> None:
    """A secret with characters JSON escapes is still masked in the decoded artifact."""
    book = ReportBook(run={"error": f"postgres://app:{secret}@db failed"})
    target = tmp_path / "athalia.json"
    book.write(target, redact=Redactor(secret).redact)
    data = json.loads(target.read_text(encoding="utf-8"))
    assert not [text for text in strings_in(data) if secret in text]


def test_write_stays_valid_json_when_a_secret_is_a_short_string(tmp_path: Path) -> None:
    """Redaction masks values, never the JSON structure or the summary counts."""
    book = ReportBook()
    book.add("t.py::a", "call", "passed", verdict_properties(p95_verdict(100)))
    target = tmp_path / "athalia.json"
    book.write(target, redact=Redactor("1").redact)
    assert json.loads(target.read_text(encoding="utf-8"))["summary"]["tests"] == 1
