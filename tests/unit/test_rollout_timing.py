"""Rollback, switch and detection times derived from synthetic request timestamps."""

from __future__ import annotations

import pytest

from pytest_athalia.release._timing import cutover, describe_strays, detection_ms, failed_between, stray_after
from pytest_athalia.release._traffic import ProbeSample

MS = 1_000_000


def req(start_ms: float, color: str | None, status: int | None = 200, took_ms: float = 2) -> ProbeSample:
    """A request that started at `start_ms` and was answered by `color`."""
    start = int(start_ms * MS)
    return ProbeSample(start, start + int(took_ms * MS), status, color)


def traffic(until_ms: float, last_green_ms: float, *, every_ms: float = 1) -> list[ProbeSample]:
    """One request per `every_ms` from 0 ms: green until `last_green_ms` (inclusive), then blue."""
    out, t = [], 0.0
    while t <= until_ms:
        out.append(req(t, "green" if t <= last_green_ms else "blue"))
        t += every_ms
    return out


def test_rollback_time_ends_at_the_last_request_the_bad_color_served() -> None:
    """Fired at 100 ms, router done at 101 ms, green served a request started at 104 ms: 4 ms."""
    samples = traffic(300, 104)
    cut = cutover(samples, from_color="green", since_ns=100 * MS, weights_ns=101 * MS, min_after=20)
    assert cut.ms == pytest.approx(4.0)
    assert cut.last_from_start_ns == 104 * MS
    assert cut.after == 196


def test_rollback_time_ends_at_the_router_call_when_that_is_later() -> None:
    """When the last green request started before the router call returned, the call's return ends it."""
    samples = traffic(300, 100.0)
    cut = cutover(samples, from_color="green", since_ns=100 * MS, weights_ns=int(101.5 * MS), min_after=20)
    assert cut.ms == pytest.approx(1.5)
    assert cut.at_ns == int(101.5 * MS)


def test_a_cutover_needs_requests_after_it() -> None:
    """With fewer than min_after requests after the cutover the time is not shown (None) and says why."""
    samples = traffic(110, 104)
    cut = cutover(samples, from_color="green", since_ns=100 * MS, weights_ns=101 * MS, min_after=20)
    assert cut.ms is None
    assert cut.after == 6
    assert "only 6 probe request(s) started after the cutover, 20 needed" in cut.reason


def test_cutover_never_counts_negative_time() -> None:
    """A cutover before the instant it is measured from counts as 0 ms, not less."""
    samples = traffic(300, 50)
    cut = cutover(samples, from_color="green", since_ns=100 * MS, weights_ns=90 * MS, min_after=20)
    assert cut.ms == 0


def test_detection_time_runs_from_the_first_bad_answer() -> None:
    """First bad answer ended at 40 ms, trigger fired at 100 ms: 60 ms; none without a bad answer."""
    assert detection_ms(40 * MS, 100 * MS) == pytest.approx(60)
    assert detection_ms(None, 100 * MS) is None


def test_failed_between_counts_errors_and_transport_failures_in_the_interval() -> None:
    """Non-2xx/3xx answers and transport errors started within the interval count; redirects do not."""
    samples = [
        req(5, "blue", 503),
        req(10, "blue", 302),
        req(11, None, None),
        req(12, "green", 500),
        req(30, None, 503),
    ]
    failed = failed_between(samples, 0, 20 * MS)
    assert [s.start_ns for s in failed] == [5 * MS, 11 * MS, 12 * MS]


def test_automatic_rollback_is_not_blamed_for_the_bad_colors_answers() -> None:
    """Excluding the bad color leaves only the failures of the rollback itself (here: a router 503)."""
    samples = [req(5, "green", 500), req(6, "green", 500), req(7, None, 503), req(8, "blue")]
    failed = failed_between(samples, 0, 20 * MS, exclude_color="green")
    assert [s.describe() for s in failed] == ["503 from no color"]


def test_stray_responses_after_the_switch() -> None:
    """Answers to requests sent after the router calls returned must come from the candidate; others are stray."""
    samples = [req(1, "blue"), req(3, "green"), req(4, "blue"), req(5, None, 200), req(6, "green")]
    stray = stray_after(samples, to_color="green", after_ns=2 * MS)
    assert [(s.start_ns // MS, s.color) for s in stray] == [(4, "blue"), (5, None)]


def test_a_request_in_flight_at_the_switch_is_no_stray() -> None:
    """Sent before the router returned (answered by the old color after it): in flight, not stray."""
    in_flight = req(1.9, "blue", took_ms=30)
    assert stray_after([in_flight, req(3, "green")], to_color="green", after_ns=2 * MS) == ()


def test_a_failure_nobody_answered_is_a_failed_request_not_a_stray_answer() -> None:
    """A transport error or the router's own 503 after the switch counts once: as a failure, not a stray."""
    samples = [req(3, None, None), req(4, None, 503), req(5, "green")]
    assert stray_after(samples, to_color="green", after_ns=2 * MS) == ()
    assert len(failed_between(samples, 2 * MS, 10 * MS)) == 2


def test_stray_description_names_color_status_and_send_time() -> None:
    """The failure text says which color answered and how long after the router returned it was sent."""
    strays = [req(2 + i, "blue") for i in range(5)]
    text = describe_strays(strays, 1 * MS)
    assert text == (
        "answers to requests sent after the router calls returned: 200 from blue (sent 1.0 ms after), "
        "200 from blue (sent 2.0 ms after), 200 from blue (sent 3.0 ms after) and 2 more"
    )
