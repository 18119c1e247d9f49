"""Bandit: its command line, its JSON as findings, and the real tool on a file with a HIGH finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_athalia._errors import ScanError
from pytest_athalia.config._security import BanditSpec
from pytest_athalia.report._slo import Outcome
from pytest_athalia.security._bandit import (
    Bandit,
    Baseline,
    FakeBandit,
    bandit_command,
    fail_on,
    new_findings,
    parse_bandit,
    read_baseline,
)
from pytest_athalia.security._scan import findings_verdict

REPORT = {
    "errors": [],
    "metrics": {"_totals": {"loc": 12}},
    "results": [
        {
            "code": "2 subprocess.call(cmd, shell=True)\n",
            "filename": "../app/run.py",
            "issue_confidence": "HIGH",
            "issue_severity": "HIGH",
            "issue_text": "subprocess call with shell=True identified, security issue.",
            "line_number": 2,
            "test_id": "B602",
            "test_name": "subprocess_popen_with_shell_equals_true",
        },
        {
            "filename": "../app/run.py",
            "issue_confidence": "HIGH",
            "issue_severity": "LOW",
            "issue_text": "Consider possible security implications associated with the subprocess module.",
            "line_number": 1,
            "test_id": "B404",
            "test_name": "blacklist",
        },
    ],
}


def test_command_passes_paths_and_excludes() -> None:
    """-r PATHS -f json -o FILE --exit-zero, -x joined by commas; no -b (the baseline is applied by us)."""
    argv = bandit_command("py", ["../app"], exclude=["../app/tests", "../app/gen"], output="/o")
    assert argv[:5] == ["py", "-m", "bandit", "-r", "../app"]
    assert argv[argv.index("-x") + 1] == "../app/tests,../app/gen"
    assert "-b" not in argv
    assert "--exit-zero" in argv
    assert argv[argv.index("-o") + 1] == "/o"


def test_report_becomes_findings_with_confidence_and_lines_of_code() -> None:
    """Each result is a finding (ID, severity, confidence, file, line); loc is what was examined."""
    result = parse_bandit(json.dumps(REPORT), target="../app")
    assert result.examined == 12
    assert result.examined_unit == "lines of code"
    high = next(f for f in result.findings if f.id == "B602")
    assert (high.severity, high.confidence, high.file, high.line) == ("HIGH", "HIGH", "../app/run.py", 2)
    assert "shell=True" in high.title


@pytest.mark.parametrize(("severity", "measured"), [("HIGH", 1), ("MEDIUM", 1), ("LOW", 2)])
def test_severity_threshold(severity: str, measured: int) -> None:
    """security.bandit.severity is the lowest failing severity."""
    verdict = findings_verdict(parse_bandit(json.dumps(REPORT), target="../app"), fail_on(severity))
    assert verdict.measurement.value == measured
    assert verdict.outcome is Outcome.FAIL


def test_no_python_code_is_inconclusive() -> None:
    """A path with no Python (0 lines of code) is not a clean bill of health."""
    empty = json.dumps({"errors": [], "metrics": {"_totals": {"loc": 0}}, "results": []})
    assert findings_verdict(parse_bandit(empty, target="x"), ("HIGH",)).outcome is Outcome.INCONCLUSIVE


def test_garbage_is_a_scan_error() -> None:
    """Output that is not Bandit's JSON says what was expected."""
    with pytest.raises(ScanError, match="Expected `bandit -f json` output"):
        parse_bandit("{}", target="x")


def _shell_call(times: int) -> str:
    return "import subprocess\ncmd = input()\n" + "subprocess.call(cmd, shell=True)\n" * times


def _baseline(spec: BanditSpec, cwd: Path) -> Baseline:
    baseline = read_baseline(spec, cwd)
    assert baseline is not None
    return baseline


def test_real_bandit_finds_high_and_baseline_hides_known_ones(tmp_path: Path) -> None:
    """Bandit itself: shell=True is HIGH; against a baseline of that report only a new finding remains."""
    (tmp_path / "app").mkdir()
    source = tmp_path / "app" / "run.py"
    source.write_text(_shell_call(1), encoding="utf-8")
    bandit = Bandit()
    first = parse_bandit(bandit.scan(BanditSpec(paths=("app",)), cwd=tmp_path), target="app")
    assert ("B602", "HIGH", "app/run.py", 3) in {(f.id, f.severity, f.file, f.line) for f in first.findings}
    (tmp_path / "baseline.json").write_text(bandit.scan(BanditSpec(paths=("app",)), cwd=tmp_path), encoding="utf-8")
    spec = BanditSpec(paths=("app",), baseline="baseline.json")
    known = _baseline(spec, tmp_path)
    assert new_findings(parse_bandit(bandit.scan(spec, cwd=tmp_path), target="app"), known).findings == ()
    source.write_text(source.read_text(encoding="utf-8") + "eval(input())\n", encoding="utf-8")
    second = new_findings(parse_bandit(bandit.scan(spec, cwd=tmp_path), target="app"), known)
    assert {f.id for f in second.findings} == {"B307"}


def test_a_second_copy_of_a_baselined_finding_is_new(tmp_path: Path) -> None:
    """Bandit's own -b hides every copy of a known finding; we count them: one more shell=True call fails."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "run.py").write_text(_shell_call(1), encoding="utf-8")
    bandit = Bandit()
    (tmp_path / "baseline.json").write_text(bandit.scan(BanditSpec(paths=("app",)), cwd=tmp_path), encoding="utf-8")
    (tmp_path / "app" / "run.py").write_text(_shell_call(2), encoding="utf-8")
    spec = BanditSpec(paths=("app",), baseline="baseline.json")
    result = new_findings(parse_bandit(bandit.scan(spec, cwd=tmp_path), target="app"), _baseline(spec, tmp_path))
    assert [(f.id, f.line) for f in result.findings] == [("B602", 4)]
    assert findings_verdict(result, fail_on("HIGH")).measurement.value == 1
    assert "2 finding(s) of the baseline baseline.json are not counted" in result.notes[0]


def test_baseline_matches_by_file_test_and_text_not_by_line() -> None:
    """Moved code is not new; a finding in another file, or with another text, is."""
    known = Baseline("b.json", parse_bandit(json.dumps(REPORT), target="../app").findings)
    moved = {**REPORT, "results": [{**item, "line_number": item["line_number"] + 10} for item in REPORT["results"]]}
    assert new_findings(parse_bandit(json.dumps(moved), target="../app"), known).findings == ()
    other = {**REPORT, "results": [{**REPORT["results"][0], "filename": "../app/other.py"}]}
    assert [f.file for f in new_findings(parse_bandit(json.dumps(other), target="../app"), known).findings] == [
        "../app/other.py"
    ]


def test_missing_paths_and_baseline_are_named(tmp_path: Path) -> None:
    """A path or baseline that does not exist, or is not Bandit's JSON, is a ScanError with the fix."""
    with pytest.raises(ScanError, match=r"security\.bandit\.paths names nope"):
        Bandit().scan(BanditSpec(paths=("nope",)), cwd=tmp_path)
    (tmp_path / "a.py").write_text("x = 1\n", encoding="utf-8")
    spec = BanditSpec(paths=("a.py",), baseline="b.json")
    with pytest.raises(ScanError, match=r"bandit -r a\.py -f json -o b\.json"):
        read_baseline(spec, tmp_path)
    (tmp_path / "b.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ScanError, match=r"security\.bandit\.baseline b\.json is unusable"):
        read_baseline(spec, tmp_path)


def test_fake_bandit_returns_its_report() -> None:
    """The fake answers with its canned report and records where it ran."""
    fake = FakeBandit(json.dumps(REPORT))
    assert parse_bandit(fake.scan(BanditSpec(), cwd=Path("/x")), target="t").findings
    assert fake.calls == [Path("/x")]
