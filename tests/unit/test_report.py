"""JUnit properties and the JSON artifact: one naming scheme, atomic writes, redaction."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_athalia.config._secrets import Redactor
from pytest_athalia.report._artifact import (
    ReportBook,
    group_checks,
    info_properties,
    plain_nodeid,
    redact_property,
    split_label,
    verdict_properties,
)
from pytest_athalia.report._identity import CandidateFacts, FakeGit, run_identity
from pytest_athalia.report._series import (
    MAX_EVENTS,
    MAX_ROWS,
    Series,
    TimelineEvent,
    series_property,
    timeline_property,
)
from pytest_athalia.report._slo import Comparison, Measurement, Outcome, Threshold, Verdict, judge
from tests.support.report_schema import validate_report

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


def a_run(**overrides: object) -> dict[str, object]:
    """A complete ``run`` section, as the runtime writes it."""
    run = run_identity(
        environ={},
        git=FakeGit("08a51f1", "main"),
        environment="dev",
        environment_file="environments/dev.yml",
        candidate=CandidateFacts(env={"APP_VERSION": "1.1.0"}, live_env={"APP_VERSION": "1.0.0"}),
        host="runner-1",
        started=1_800_000_000.0,
        finished=1_800_000_012.5,
        exit_status=0,
    )
    return {**run, **overrides}


def test_book_collects_checks_per_test_and_counts_verdicts() -> None:
    """Verdicts are counted; recorded values without a verdict are not gates; skipped tests are counted."""
    book = ReportBook()
    book.add("t.py::a", "call", "passed", verdict_properties(p95_verdict(100)))
    book.add("t.py::b", "call", "failed", verdict_properties(p95_verdict(900)))
    book.add("t.py::b", "call", "failed", info_properties("build_time", 3, "s"))
    book.add("t.py::c", "call", "failed", [("athalia.x.verdict", Outcome.INCONCLUSIVE.value)])
    book.add("t.py::d", "setup", "skipped", [], reason="Skipped: no Docker")
    assert book.summary() == {
        "tests": 4,
        "skipped": 1,
        "checks": 3,
        "passed": 1,
        "failed": 1,
        "inconclusive": 1,
        "not_measured": 0,
    }
    assert book.tests["t.py::b"].checks["build_time"] == {"measured": "3", "unit": "s", "samples": "1"}


def test_checks_are_typed_numbers_integers_and_nulls() -> None:
    """Property text becomes numbers, an integer sample count, and null for every absent field."""
    book = ReportBook()
    book.add("t.py::a", "call", "passed", verdict_properties(p95_verdict(123.5)))
    book.add("t.py::a", "call", "passed", info_properties("build_time", 42, "s"))
    book.add("t.py::b", "call", "failed", verdict_properties(p95_verdict(None, samples=0, window="")))
    tests = book.as_json()["tests"]
    assert tests[0]["checks"] == [
        {
            "name": "health_p95",
            "subject": None,
            "measured": 123.5,
            "unit": "ms",
            "samples": 20,
            "threshold": 500,
            "comparison": "<=",
            "window": "20 requests",
            "verdict": "pass",
            "reason": None,
        },
        {
            "name": "build_time",
            "subject": None,
            "measured": 42,
            "unit": "s",
            "samples": 1,
            "threshold": None,
            "comparison": None,
            "window": None,
            "verdict": None,
            "reason": None,
        },
    ]
    missing = tests[1]["checks"][0]
    assert (missing["measured"], missing["samples"], missing["window"]) == (None, 0, None)
    assert (missing["verdict"], missing["reason"]) == ("fail", "no value was measured")
    assert isinstance(tests[0]["checks"][0]["samples"], int)


def test_a_value_json_cannot_hold_is_null() -> None:
    """NaN and infinity (a canary limit the judge did not set) are written as null, never as invalid JSON."""
    verdict = judge(Measurement("x", math.inf, "ms", 3), Threshold(math.nan, Comparison.AT_MOST, "ms"))
    book = ReportBook(run=a_run())
    book.add("t.py::a", "call", "failed", verdict_properties(verdict))
    (check,) = book.as_json()["tests"][0]["checks"]
    assert (check["measured"], check["threshold"]) == (None, None)
    validate_report(book.as_json())


def test_foreign_athalia_properties_never_pass_and_never_break_the_types() -> None:
    """A hand-written `athalia.*` property with a bad value is null, and an unknown verdict is inconclusive."""
    book = ReportBook(run=a_run())
    book.add(
        "t.py::a",
        "call",
        "passed",
        [
            ("athalia.x.samples", "many"),
            ("athalia.x.measured", "fast"),
            ("athalia.x.verdict", "ok"),
            ("athalia.x.comparison", "~"),
        ],
    )
    (check,) = book.as_json()["tests"][0]["checks"]
    assert (check["samples"], check["measured"], check["comparison"]) == (0, None, None)
    assert check["verdict"] == "inconclusive"
    assert check["reason"] == "unknown verdict 'ok'"
    validate_report(book.as_json())


def test_a_subject_keeps_the_name_stable_and_one_test_may_hold_two() -> None:
    """`trivy-vuln[athalia-demo/app:1.0.0]`: the name stays `trivy-vuln`, two subjects give two checks."""
    threshold = Threshold(0, Comparison.AT_MOST, "findings")
    old = judge(Measurement("trivy-vuln", 0.0, "findings", 9, "packages", "athalia-demo/app:1.0.0"), threshold)
    new = judge(Measurement("trivy-vuln", 2.0, "findings", 9, "packages", "athalia-demo/app:1.1.0"), threshold)
    props = verdict_properties(old) + verdict_properties(new)
    assert ("athalia.trivy-vuln[athalia-demo/app:1.0.0].measured", "0") in props
    assert len({name for name, _ in props}) == len(props)  # unique property names
    book = ReportBook(run=a_run())
    book.add("t.py::scan", "call", "failed", props)
    checks = book.as_json()["tests"][0]["checks"]
    assert [(c["name"], c["subject"], c["measured"]) for c in checks] == [
        ("trivy-vuln", "athalia-demo/app:1.0.0", 0),
        ("trivy-vuln", "athalia-demo/app:1.1.0", 2),
    ]
    validate_report(book.as_json())


def test_recorded_values_take_a_subject_too() -> None:
    """`Gate.record(..., subject=)` writes `athalia.<name>[<subject>].<field>`."""
    assert info_properties("build", 3, "s", subject="app") == [
        ("athalia.build[app].measured", "3"),
        ("athalia.build[app].unit", "s"),
        ("athalia.build[app].samples", "1"),
    ]


@pytest.mark.parametrize("name", ["series", "timeline"])
def test_series_and_timeline_are_not_check_names(name: str) -> None:
    """The report's own property names cannot be taken by a check."""
    with pytest.raises(ValueError, match="reserved"):
        Measurement(name, 1.0, "ms", 1)
    with pytest.raises(ValueError, match="reserved"):
        info_properties(name, 1.0, "ms")


def test_split_label_takes_the_subject_apart() -> None:
    """The name is before the first '[', the subject up to the closing ']' (dots and colons included)."""
    assert split_label("trivy-vuln[registry:5000/app:1.0.0]") == ("trivy-vuln", "registry:5000/app:1.0.0")
    assert split_label("switch_ms") == ("switch_ms", "")


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
        ([("setup", "failed"), ("teardown", "passed")], "error"),
        ([("setup", "passed"), ("call", "passed"), ("teardown", "failed")], "error"),
        ([("setup", "passed"), ("call", "failed"), ("teardown", "skipped")], "failed"),
        ([("setup", "passed"), ("call", "failed"), ("teardown", "failed")], "failed"),
        ([("setup", "passed")], "incomplete"),
    ],
)
def test_book_outcome_follows_the_call_unless_setup_or_teardown_did_not_pass(
    phases: list[tuple[str, str]], outcome: str
) -> None:
    """A passing teardown never hides a failure, a fixture's failure is an error, and a failure is never overwritten."""
    book = ReportBook()
    for when, result in phases:
        book.add("t.py::a", when, result, [])
    assert book.tests["t.py::a"].outcome == outcome


def test_book_keeps_the_reason_of_what_did_not_pass_and_sums_the_phases_durations() -> None:
    """A skip keeps its reason; a failure its message; a pass has none; duration_s adds every phase."""
    book = ReportBook()
    book.add("t.py::skip", "setup", "skipped", [], duration=0.25, reason="no Docker daemon")
    book.add("t.py::skip", "teardown", "passed", [], duration=0.5)
    book.add("t.py::fail", "call", "failed", [], duration=1.0, reason="startup: measured 7.50 s ...: fail")
    book.add("t.py::fail", "teardown", "failed", [], reason="teardown broke")
    book.add("t.py::pass", "call", "passed", [], duration=2.0, reason="ignored")
    tests = {t["nodeid"]: t for t in book.as_json()["tests"]}
    assert (tests["t.py::skip"]["reason"], tests["t.py::skip"]["duration_s"]) == ("no Docker daemon", 0.75)
    assert tests["t.py::fail"]["reason"] == "startup: measured 7.50 s ...: fail"
    assert (tests["t.py::pass"]["reason"], tests["t.py::pass"]["duration_s"]) == (None, 2.0)


def test_book_merges_properties_from_several_phases() -> None:
    """Fields of one check recorded in setup and call end up in one record."""
    book = ReportBook()
    book.add("t.py::a", "setup", "passed", [("athalia.startup.measured", "12")])
    book.add("t.py::a", "call", "passed", [("athalia.startup.verdict", "pass")])
    assert book.tests["t.py::a"].checks == {"startup": {"measured": "12", "verdict": "pass"}}


def test_as_json_has_schema_run_summary_tests_series_and_timeline() -> None:
    """The report's top level is stable, tests are sorted for diffable output, and it validates."""
    book = ReportBook(run=a_run())
    book.add("t.py::b", "call", "passed", [])
    book.add("t.py::a", "call", "failed", verdict_properties(p95_verdict(900)))
    data = book.as_json()
    assert list(data) == ["schema", "run", "summary", "tests", "series", "timeline"]
    assert data["schema"] == "pytest-athalia/report/2"
    assert [t["nodeid"] for t in data["tests"]] == ["t.py::a", "t.py::b"]
    assert data["tests"][0]["checks"][0]["verdict"] == "fail"
    assert (data["series"], data["timeline"]) == ([], [])
    validate_report(data)


def test_series_and_timeline_travel_as_properties_into_the_report() -> None:
    """`athalia.series.<name>` and `athalia.timeline` come out as the report's series and timeline, with the test."""
    load = Series("load", ("t_s", "users", "rps"), ((1, 10, 95.0), (2, 10, math.nan)))
    events = [TimelineEvent(8.4, "switch", "blue -> green"), TimelineEvent(0.0, "deploy", "green 1.1.0")]
    book = ReportBook(run=a_run())
    book.add("t.py::load", "call", "passed", [series_property(load)])
    book.add("t.py::release", "call", "passed", [timeline_property(events)])
    data = book.as_json()
    assert data["series"] == [
        {
            "name": "load",
            "unit_of_t": "s",
            "columns": ["t_s", "users", "rps"],
            "rows": [[1, 10, 95.0], [2, 10, None]],
            "test": "t.py::load",
        }
    ]
    assert data["timeline"] == [
        {"t_s": 0.0, "event": "deploy", "detail": "green 1.1.0", "test": "t.py::release"},
        {"t_s": 8.4, "event": "switch", "detail": "blue -> green", "test": "t.py::release"},
    ]
    assert data["tests"][0]["checks"] == []  # not checks
    validate_report(data)


def test_a_long_series_is_thinned_to_the_cap_keeping_first_and_last() -> None:
    """Two hours of seconds become at most MAX_ROWS rows, first and last kept; the property stays bounded."""
    rows = tuple((t, 10, float(t)) for t in range(1, 7201))
    name, text = series_property(Series("load", ("t_s", "users", "rps"), rows))
    decoded = json.loads(text)["rows"]
    assert name == "athalia.series.load"
    assert len(decoded) == MAX_ROWS
    assert (decoded[0][0], decoded[-1][0]) == (1, 7200)


def test_a_long_timeline_keeps_its_first_events() -> None:
    """At most MAX_EVENTS events, the earliest."""
    _, text = timeline_property([TimelineEvent(float(i), "step") for i in range(MAX_EVENTS + 50)])
    decoded = json.loads(text)
    assert len(decoded) == MAX_EVENTS
    assert decoded[-1]["t_s"] == MAX_EVENTS - 1


def test_a_series_row_must_fit_its_columns() -> None:
    """A row with another number of values than the columns is a programming error, said at once."""
    with pytest.raises(ValueError, match="a row of 2 values for 3 columns"):
        Series("load", ("t_s", "users", "rps"), ((1, 10),))


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"columns": "x"}'])
def test_a_damaged_series_property_is_dropped(text: str) -> None:
    """A series property that is not what we wrote is left out, never a crash at the end of the run."""
    book = ReportBook(run=a_run())
    book.add("t.py::a", "call", "passed", [("athalia.series.load", text), ("athalia.timeline", text)])
    data = book.as_json()
    assert (data["series"], data["timeline"]) == ([], [])
    validate_report(data)


def test_redact_property_masks_inside_series_json_and_keeps_it_valid() -> None:
    """A secret in a timeline's detail is masked and the value still parses; plain values are redacted as text."""
    redact = Redactor("1").redact
    _, text = timeline_property([TimelineEvent(1.0, "deploy", "token 1 leaked")])
    masked = redact_property("athalia.timeline", text, redact)
    assert json.loads(masked) == [{"t_s": 1.0, "event": "deploy", "detail": "token *** leaked"}]
    assert redact_property("athalia.x.reason", "code 1", redact) == "code ***"


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
    assert data["tests"][0]["checks"][0]["reason"] == "password *** rejected"


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


@pytest.mark.parametrize(
    ("nodeid", "plain"),
    [
        ("test_records.py::test_load@one", "test_records.py::test_load"),
        ("a/test_x.py::TestC::test_y[p1]@grp", "a/test_x.py::TestC::test_y[p1]"),
        ("test_x.py::test_y[user@host]", "test_x.py::test_y[user@host]"),
        ("test_x.py::test_y", "test_x.py::test_y"),
        ("dir@v2/test_x.py", "dir@v2/test_x.py"),
    ],
)
def test_xdist_loadgroup_suffix_leaves_the_nodeid(nodeid: str, plain: str) -> None:
    """`--dist loadgroup` names a test `...@group` on pytest 8; the report keeps one name per test."""
    assert plain_nodeid(nodeid) == plain
