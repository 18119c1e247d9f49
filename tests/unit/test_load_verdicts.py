"""Load verdicts as pure functions: thresholds, sliding windows, too few samples, and a saturated generator."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_athalia.config._load import LoadSpec
from pytest_athalia.load._results import (
    EndpointStats,
    GeneratorLoad,
    Histogram,
    LoadResults,
    Second,
    Series,
    merge_stats,
)
from pytest_athalia.load._thresholds import parse_threshold
from pytest_athalia.load._verdicts import (
    check_name,
    evaluate,
    generator_load,
    generator_verdict,
    steady_seconds,
    windows,
)
from pytest_athalia.report._slo import Outcome, Verdict

T0 = 1_700_000_000


def second(
    t: int,
    *,
    latency: float = 20.0,
    requests: int = 50,
    failures: int = 0,
    users: int = 10,
    cpu: float = 20.0,
    name: str = "/items",
) -> Second:
    """One second of load: `requests` answered in `latency` ms, `failures` of them failed."""
    entry = EndpointStats(
        "GET", name, requests, failures, latency * requests, latency, 1.0, Histogram.of({latency: requests})
    )
    return Second(T0 + t, users, cpu, 1, (entry,) if requests else ())


def results(seconds: Sequence[Second], *, users: int = 10, cpu_warning: bool = False) -> LoadResults:
    """LoadResults whose totals add up the given seconds, as Locust's own would."""
    by_key: dict[str, list[EndpointStats]] = {}
    for s in seconds:
        for e in s.endpoints:
            by_key.setdefault(e.key, []).append(e)
    span = float(len(seconds))
    endpoints = tuple(merge_stats(g, method=g[0].method, name=g[0].name, seconds=span) for g in by_key.values())
    return LoadResults(
        target="http://127.0.0.1:8000",
        users=users,
        spawn_rate=10.0,
        duration=span,
        workers=0,
        elapsed=span,
        endpoints=endpoints,
        total=merge_stats(endpoints, method="", name="Total", seconds=span),
        series=Series(tuple(seconds), True, cpu_warning),
        generator=generator_load(seconds, cpu_warning=cpu_warning),
        artifacts=Path("reports/load/dev-main"),
    )


def spec(
    *thresholds: str, window: str | None = None, endpoints: dict[str, list[str]] | None = None, min_requests: int = 1
) -> LoadSpec:
    return LoadSpec.model_validate(
        {
            "locustfile": "l.py",
            "duration": 60,
            "thresholds": list(thresholds),
            "window": window,
            "endpoints": endpoints or {},
            "min_requests": min_requests,
        }
    )


def by_check(verdicts: Sequence[Verdict]) -> dict[str, Verdict]:
    return {v.check: v for v in verdicts}


STEADY = [second(t) for t in range(12)]


def test_a_run_within_its_thresholds_passes_every_check() -> None:
    """Fast, error-free load passes the generator, total and window checks."""
    verdicts = by_check(evaluate(results(STEADY), spec("p95 < 300ms", "error_rate < 1%", "rps > 10", window="5s")))
    assert set(verdicts) == {
        "load_generator_cpu",
        "load_p95",
        "load_p95_window",
        "load_error_rate",
        "load_error_rate_window",
        "load_rps",
        "load_rps_window",
    }
    assert all(v.outcome is Outcome.PASS for v in verdicts.values()), [v.message() for v in verdicts.values()]
    assert verdicts["load_rps"].measurement.value == pytest.approx(50.0)


def test_a_breach_shows_measured_value_threshold_unit_samples_and_window() -> None:
    """A slow run fails with everything a reader needs in one line."""
    slow = [second(t, latency=420.0) for t in range(12)]
    verdict = by_check(evaluate(results(slow), spec("p95 < 300ms")))["load_p95"]
    assert verdict.outcome is Outcome.FAIL
    message = verdict.message()
    for part in (
        "measured 420 ms",
        "threshold < 300 ms",
        "600 samples",
        "12 s run, 10 users",
        "'p95 < 300ms'",
        "±5 ms from Locust's buckets",
    ):
        assert part in message, message


def test_one_bad_window_fails_the_window_check_while_the_whole_run_passes() -> None:
    """k6 #2379: a 3 s latency spike inside a 20 s run passes overall but fails the windows it touches."""
    spiky = [second(t, latency=900.0 if 5 <= t < 8 else 20.0) for t in range(20)]
    verdicts = by_check(evaluate(results(spiky), spec("avg < 500ms", window="3s")))
    assert verdicts["load_avg"].outcome is Outcome.PASS
    window = verdicts["load_avg_window"]
    assert window.outcome is Outcome.FAIL
    assert window.measurement.value == 900.0
    assert window.measurement.window == "worst 3 s window (+5s..+8s)"
    assert "3 of 17 windows breached" in window.reason


def test_a_window_without_any_request_breaches() -> None:
    """A stall (a second with no answer) inside the steady state fails its windows: nothing was measured."""
    stalled = [second(t, requests=0 if t == 6 else 50) for t in range(12)]
    window = by_check(evaluate(results(stalled), spec("p95 < 300ms", window="1s")))["load_p95_window"]
    assert window.outcome is Outcome.FAIL
    assert window.measurement.value is None


def test_windows_count_only_the_steady_state() -> None:
    """Ramp-up seconds (fewer users) and the last, partial second are not judged in windows."""
    run = [second(0, users=3, latency=900.0), *(second(t) for t in range(1, 10)), second(10, latency=900.0)]
    steady = steady_seconds(Series(tuple(run), True, False), 10)
    assert [s.t - T0 for s in steady] == list(range(1, 10))
    assert [(w.start, w.end) for w in windows(steady, 5, endpoint=None, origin=T0)] == [
        (1, 6),
        (2, 7),
        (3, 8),
        (4, 9),
        (5, 10),
    ]
    window = by_check(evaluate(results(run), spec("p95 < 300ms", window="5s")))["load_p95_window"]
    assert window.outcome is Outcome.PASS


def test_the_seconds_of_the_stop_are_not_steady() -> None:
    """Seconds after the last one that began with all users (the stop, the final flush) are left out."""
    run = [*(second(t) for t in range(10)), second(10, requests=20), second(11, users=0, requests=3)]
    run.append(Second(T0 + 12, None, None, 1, second(12, requests=1).endpoints))
    assert [s.t - T0 for s in steady_seconds(Series(tuple(run), True, False), 10)] == list(range(10))
    window = by_check(evaluate(results(run), spec("rps > 40", window="5s")))["load_rps_window"]
    assert window.outcome is Outcome.PASS, window.message()
    assert "all 6 windows met it" in window.reason


def test_locusts_own_spawn_and_stop_events_bound_the_steady_state() -> None:
    """With spawning_complete at +1.4 s and test_stopping at +9.6 s, the steady seconds are +2 s to +8 s."""
    run = tuple(second(t) for t in range(12))
    marked = Series(run, True, False, spawned_at=T0 + 1.4, stopping_at=T0 + 9.6)
    assert [s.t - T0 for s in steady_seconds(marked, 10)] == list(range(2, 9))
    never_spawned = Series(run, True, False, spawned_at=None, stopping_at=T0 + 9.6)
    assert [s.t - T0 for s in steady_seconds(never_spawned, 10)] == list(range(11))  # falls back to user counts
    assert steady_seconds(Series(run, True, False, spawned_at=T0 + 9.2, stopping_at=T0 + 9.6), 10) == ()


def test_no_steady_window_fails_closed() -> None:
    """If the users never all ran, no window can be judged: the window check fails, saying why."""
    ramp = [second(t, users=5) for t in range(12)]
    window = by_check(evaluate(results(ramp), spec("p95 < 300ms", window="5s")))["load_p95_window"]
    assert window.outcome is Outcome.FAIL
    assert "no 5 s window of steady load" in window.reason


def test_too_few_requests_fail_closed() -> None:
    """Below load.min_requests a threshold cannot pass, however good the value."""
    short = [second(t, requests=2) for t in range(3)]
    verdict = by_check(evaluate(results(short), spec("p95 < 300ms", min_requests=50)))["load_p95"]
    assert verdict.outcome is Outcome.FAIL
    assert "too few samples: 6 < 50 required" in verdict.reason


def test_error_rate_and_rps_breaches() -> None:
    """5 % errors breach `error_rate < 1%`; 50 req/s breach `rps > 100`."""
    erring = [second(t, failures=5, requests=100) for t in range(10)]
    verdicts = by_check(evaluate(results(erring), spec("error_rate < 1%", "rps > 200")))
    assert verdicts["load_error_rate"].measurement.value == pytest.approx(5.0)
    assert verdicts["load_error_rate"].outcome is Outcome.FAIL
    assert verdicts["load_rps"].outcome is Outcome.FAIL
    assert verdicts["load_rps"].threshold.describe() == "> 200 req/s"


def test_per_endpoint_thresholds_judge_only_that_endpoint() -> None:
    """An endpoint's own thresholds use its own figures; a name never requested fails closed."""
    run = [
        Second(T0 + t, 10, 20.0, 1, (second(t).endpoints[0], second(t, latency=800.0, name="/slow").endpoints[0]))
        for t in range(10)
    ]
    verdicts = by_check(
        evaluate(
            results(run),
            spec(
                endpoints={"GET /items": ["p95 < 300ms"], "GET /slow": ["p95 < 300ms"], "POST /never": ["p95 < 300ms"]}
            ),
        )
    )
    assert verdicts["load_get_items_p95"].outcome is Outcome.PASS
    assert verdicts["load_get_slow_p95"].outcome is Outcome.FAIL
    never = verdicts["load_post_never_p95"]
    assert never.outcome is Outcome.FAIL
    assert "no requests named 'POST /never'" in never.reason


def test_strict_operator_fails_at_the_limit() -> None:
    """`p95 < 300ms` fails at exactly 300 ms; `p95 <= 300ms` passes."""
    at_limit = [second(t, latency=300.0) for t in range(10)]
    assert by_check(evaluate(results(at_limit), spec("p95 < 300ms")))["load_p95"].outcome is Outcome.FAIL
    assert by_check(evaluate(results(at_limit), spec("p95 <= 300ms")))["load_p95"].outcome is Outcome.PASS


def test_a_saturated_generator_makes_every_verdict_inconclusive_never_fail_nor_pass() -> None:
    """CPU held at 97 % for 3 s: the slow, failing run is inconclusive, with the reason, not a failure."""
    hot = [second(t, latency=900.0, cpu=97.0 if 3 <= t < 7 else 40.0) for t in range(12)]
    verdicts = evaluate(results(hot), spec("p95 < 300ms", "rps > 1", window="3s"))
    assert {v.outcome for v in verdicts} == {Outcome.INCONCLUSIVE}
    generator = by_check(verdicts)["load_generator_cpu"]
    assert generator.measurement.value == 97.0
    assert "saturated its CPU" in generator.reason
    assert "load.workers" in generator.reason
    assert all("inconclusive: the load generator saturated" in v.reason for v in verdicts[1:])


def test_a_single_busy_second_is_not_saturation() -> None:
    """One second at 100 % (start-up) among calm ones leaves the verdicts as measured."""
    blip = [second(t, cpu=100.0 if t == 0 else 30.0) for t in range(12)]
    verdicts = by_check(evaluate(results(blip), spec("p95 < 300ms")))
    assert verdicts["load_generator_cpu"].outcome is Outcome.PASS
    assert verdicts["load_generator_cpu"].measurement.value == 30.0
    assert verdicts["load_p95"].outcome is Outcome.PASS


def test_locusts_own_cpu_warning_also_makes_the_run_inconclusive() -> None:
    """Locust's "CPU usage above 90%" warning (e.g. from a remote worker) is saturation too."""
    verdicts = evaluate(results(STEADY, cpu_warning=True), spec("p95 < 300ms"))
    assert {v.outcome for v in verdicts} == {Outcome.INCONCLUSIVE}
    assert "Locust warned" in verdicts[0].reason


def test_generator_load_needs_consecutive_seconds() -> None:
    """Sustained CPU is the best minimum over 3 consecutive seconds; gaps break a run."""
    gappy = [second(0, cpu=95.0), second(1, cpu=95.0), second(3, cpu=95.0), second(4, cpu=10.0)]
    load = generator_load(gappy, cpu_warning=False)
    assert (load.sustained_cpu, load.peak_cpu, load.samples) == (None, 95.0, 4)


def test_a_generator_never_sampled_for_long_enough_is_inconclusive() -> None:
    """Samples but never 3 seconds in a row (too short a run, or gaps): no measured value, so nothing passes."""
    gappy = [s if s.t % 3 else Second(s.t, s.users, None, 1, s.endpoints) for s in STEADY]
    assert generator_load(gappy, cpu_warning=False).sustained_cpu is None
    verdicts = evaluate(results(gappy), spec("p95 < 300ms"))
    assert [v.outcome for v in verdicts] == [Outcome.INCONCLUSIVE, Outcome.INCONCLUSIVE]
    generator = verdicts[0]
    assert generator.measurement.value is None
    assert "no 3 consecutive seconds of CPU samples from the load generator (8 sample(s))" in generator.reason
    assert "raise load.duration" in generator.reason


def test_a_short_run_is_inconclusive_even_when_its_samples_were_calm() -> None:
    """Two calm seconds cannot rule out saturation over three: the generator check is inconclusive."""
    short = generator_verdict(GeneratorLoad(None, 40.0, 3, 1, False, 2), 90.0)
    assert short.outcome is Outcome.INCONCLUSIVE
    assert "saturation cannot be ruled out" in short.reason


def test_a_generator_never_sampled_is_inconclusive() -> None:
    """Not one CPU sample (the listener could not measure): saturation is not ruled out, so nothing passes."""
    unsampled = [Second(s.t, s.users, None, 1, s.endpoints) for s in STEADY]
    verdicts = evaluate(results(unsampled), spec("p95 < 300ms"))
    assert {v.outcome for v in verdicts} == {Outcome.INCONCLUSIVE}
    assert "no CPU sample" in verdicts[0].reason


def test_a_gate_without_thresholds_fails_closed() -> None:
    """A load section without any threshold would pass any run: the gate fails, saying what to add."""
    verdicts = by_check(evaluate(results(STEADY), spec()))
    assert verdicts["load_thresholds"].outcome is Outcome.FAIL
    assert "add some to load.thresholds" in verdicts["load_thresholds"].message()


@pytest.mark.parametrize(
    ("endpoint", "text", "window", "name"),
    [
        (None, "p95<1", False, "load_p95"),
        ("GET /items/{id}", "p(99.9)<1", True, "load_get_items_id_p99_9_window"),
        ("POST /", "error_rate<1%", False, "load_post_error_rate"),
    ],
)
def test_check_names_are_valid_property_names(endpoint: str | None, text: str, window: bool, name: str) -> None:
    """Endpoint and metric become letters, digits and underscores: ``athalia.<check>.*`` stays parseable."""
    assert check_name(endpoint, parse_threshold(text), window=window) == name


def test_a_generator_starved_of_cpu_is_saturated_too() -> None:
    """40 % on a CPU plus 55 % waiting for one (other processes hog it) is saturation: inconclusive."""
    starved = [
        Second(s.t, s.users, 40.0, 1, s.endpoints, busy=95.0 if 2 <= i < 8 else 45.0) for i, s in enumerate(STEADY)
    ]
    load = generator_load(starved, cpu_warning=False)
    assert (load.sustained_cpu, load.peak_cpu) == (95.0, 95.0)
    verdicts = evaluate(results(starved), spec("p95 < 300ms"))
    assert {v.outcome for v in verdicts} == {Outcome.INCONCLUSIVE}
    assert "running or waiting for one" in verdicts[0].reason


def test_a_rare_endpoint_missing_from_a_window_is_not_a_stall() -> None:
    """A request name absent from some windows while other traffic flows: those windows are not judged."""
    run = [
        Second(
            T0 + t,
            10,
            20.0,
            1,
            (second(t).endpoints[0], *(second(t, name="/rare", requests=2).endpoints if t % 4 == 0 else ())),
        )
        for t in range(13)
    ]
    verdicts = by_check(evaluate(results(run), spec(endpoints={"GET /rare": ["p95 < 300ms"]}, window="2s")))
    window = verdicts["load_get_rare_p95_window"]
    assert window.outcome is Outcome.PASS, window.message()
    assert "all 5 windows met it" in window.reason  # 11 steady windows; /rare at +0s, +4s, +8s is in 5


def test_a_generator_at_its_cpu_limit_is_saturated_and_says_so_with_a_strict_operator() -> None:
    """Exactly at max_generator_cpu counts as saturated; the threshold reads `< 90 %`, as it is judged."""
    verdict = generator_verdict(GeneratorLoad(90.0, 95.0, 3, 1, False, 12), 90.0)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "threshold < 90 %" in verdict.message()
