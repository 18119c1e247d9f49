"""The gate: judge, record the verdict on the test, then fail in the call phase."""

from __future__ import annotations

import pytest

from pytest_athalia.report._gate import Gate
from pytest_athalia.report._slo import Comparison, Measurement, Outcome, Threshold, Verdict

Failed = pytest.fail.Exception


class Recorder:
    """Stands in for pytest's `record_property`, remembering what was recorded and in which order."""

    def __init__(self) -> None:
        self.properties: list[tuple[str, object]] = []

    def __call__(self, name: str, value: object) -> None:
        self.properties.append((name, value))

    def of(self, check: str) -> dict[str, object]:
        prefix = f"athalia.{check}."
        return {n.removeprefix(prefix): v for n, v in self.properties if n.startswith(prefix)}


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def gate(recorder: Recorder) -> Gate:
    return Gate(recorder)


def test_check_within_limit_passes_records_and_returns_the_verdict(gate: Gate, recorder: Recorder) -> None:
    """A passing check does not fail the test, records its properties and keeps the verdict."""
    verdict = gate.check("health_p95", 120, limit=500, unit="ms", samples=20, window="20 requests")
    assert verdict.outcome is Outcome.PASS
    assert gate.verdicts == [verdict]
    assert recorder.of("health_p95") == {
        "measured": "120",
        "threshold": "500",
        "comparison": "<=",
        "unit": "ms",
        "samples": "20",
        "window": "20 requests",
        "verdict": "pass",
    }


def test_check_beyond_limit_records_the_verdict_before_failing(gate: Gate, recorder: Recorder) -> None:
    """The failing verdict is already recorded (and kept) when the test fails."""
    with pytest.raises(Failed):
        gate.check("health_p95", 612, limit=500, unit="ms", samples=50)
    assert recorder.of("health_p95")["verdict"] == "fail"
    assert recorder.of("health_p95")["measured"] == "612"
    assert [v.outcome for v in gate.verdicts] == [Outcome.FAIL]


def test_failure_message_has_measured_threshold_unit_samples_and_window(gate: Gate) -> None:
    """The failure text is the verdict's one-line message, with every number in it."""
    with pytest.raises(Failed) as info:
        gate.check("health_p95", 612, limit=500, unit="ms", samples=50, window="50 requests")
    assert str(info.value) == ("health_p95: measured 612 ms, threshold <= 500 ms (50 samples over 50 requests): fail")


def test_failure_has_no_python_traceback(gate: Gate) -> None:
    """A breached SLO is reported as a plain message, not as a traceback into the plugin."""
    with pytest.raises(Failed) as info:
        gate.check("x", 2, limit=1, unit="s", samples=1)
    assert info.value.pytrace is False


def test_detail_is_appended_on_its_own_line(gate: Gate) -> None:
    """`detail` (e.g. which requests failed) follows the verdict line."""
    with pytest.raises(Failed) as info:
        gate.check("ok_ratio", 0.5, limit=1.0, unit="", samples=4, at_most=False, detail="failures: 500, 503")
    lines = str(info.value).splitlines()
    assert lines == ["ok_ratio: measured 0.5, threshold >= 1 (4 samples): fail", "failures: 500, 503"]


def test_detail_is_not_recorded_and_does_not_fail_a_pass(gate: Gate, recorder: Recorder) -> None:
    """`detail` only decorates a failure; a pass with detail still passes."""
    gate.check("ok_ratio", 1.0, limit=1.0, unit="", samples=4, at_most=False, detail="all fine")
    assert not [v for _, v in recorder.properties if v == "all fine"]


def test_at_most_false_means_at_least(gate: Gate, recorder: Recorder) -> None:
    """With `at_most=False` a higher value passes and the threshold is recorded as `>=`."""
    gate.check("ok_ratio", 0.995, limit=0.99, unit="", samples=200, at_most=False)
    assert recorder.of("ok_ratio")["comparison"] == ">="
    with pytest.raises(Failed):
        gate.check("ok_ratio", 0.98, limit=0.99, unit="", samples=200, at_most=False)


def test_missing_value_fails_closed_and_records_an_empty_measurement(gate: Gate, recorder: Recorder) -> None:
    """No measured value fails the test with the reason, and `measured` is recorded empty."""
    with pytest.raises(Failed) as info:
        gate.check("health_p95", None, limit=500, unit="ms", samples=0)
    assert "measured nothing" in str(info.value)
    assert "no value was measured" in str(info.value)
    assert recorder.of("health_p95")["measured"] == ""
    assert recorder.of("health_p95")["reason"] == "no value was measured"


def test_too_few_samples_fail_closed_even_with_a_good_value(gate: Gate, recorder: Recorder) -> None:
    """A good value from fewer samples than required fails and says so."""
    with pytest.raises(Failed) as info:
        gate.check("health_p95", 10, limit=500, unit="ms", samples=3, min_samples=20)
    assert "too few samples: 3 < 20 required" in str(info.value)
    assert recorder.of("health_p95")["verdict"] == "fail"


def test_apply_fails_an_inconclusive_verdict(gate: Gate, recorder: Recorder) -> None:
    """An inconclusive verdict never passes; it is recorded as such first."""
    verdict = Verdict(
        Measurement("load_p95", None, "ms", 0),
        Threshold(100, Comparison.AT_MOST, "ms"),
        Outcome.INCONCLUSIVE,
        "load tool did not run",
    )
    with pytest.raises(Failed, match=r"inconclusive \(load tool did not run\)"):
        gate.apply(verdict)
    assert recorder.of("load_p95")["verdict"] == "inconclusive"
    assert gate.verdicts == [verdict]


def test_verdicts_accumulate_in_order(gate: Gate) -> None:
    """Every applied verdict is kept, passes and failures alike."""
    gate.check("a", 1, limit=2, unit="s", samples=1)
    with pytest.raises(Failed):
        gate.check("b", 3, limit=2, unit="s", samples=1)
    gate.check("c", 1, limit=2, unit="s", samples=1)
    assert [v.check for v in gate.verdicts] == ["a", "b", "c"]


def test_invalid_check_name_records_nothing(gate: Gate, recorder: Recorder) -> None:
    """A check name that would break property names is refused before anything is recorded."""
    with pytest.raises(ValueError, match="check name"):
        gate.check("health.p95", 1, limit=2, unit="ms", samples=1)
    assert recorder.properties == []
    assert gate.verdicts == []


def test_record_stores_an_ungated_value_without_verdict(gate: Gate, recorder: Recorder) -> None:
    """`record` reports a value (e.g. build time) with no threshold or verdict, and never fails."""
    gate.record("build_time", 93.25, "s")
    assert recorder.of("build_time") == {"measured": "93.25", "unit": "s", "samples": "1"}
    assert gate.verdicts == []


def _verdict(check: str, value: float, outcome: Outcome) -> Verdict:
    return Verdict(Measurement(check, value, "ms", 10), Threshold(100, Comparison.AT_MOST, "ms"), outcome)


def test_apply_all_records_every_verdict_then_fails_once_listing_each_breach(gate: Gate, recorder: Recorder) -> None:
    """apply_all records all verdicts before failing, and the one failure names every breach, not just the first."""
    verdicts = [
        _verdict("a", 50, Outcome.PASS),
        _verdict("b", 150, Outcome.FAIL),
        _verdict("c", 170, Outcome.INCONCLUSIVE),
    ]
    with pytest.raises(Failed) as failure:
        gate.apply_all(verdicts, title="load checks", detail="artifacts: x")
    assert [recorder.of(c)["verdict"] for c in "abc"] == ["pass", "fail", "inconclusive"]
    text = str(failure.value)
    assert text.startswith("2 of 3 load checks did not pass:")
    assert "b: measured 150 ms" in text
    assert "c: measured 170 ms" in text
    assert "a: measured" not in text
    assert text.endswith("artifacts: x")
    assert gate.verdicts == verdicts


def test_apply_all_with_only_passes_does_not_fail(gate: Gate) -> None:
    """apply_all returns quietly when every verdict passed."""
    gate.apply_all([_verdict("a", 50, Outcome.PASS)])
    assert len(gate.verdicts) == 1
