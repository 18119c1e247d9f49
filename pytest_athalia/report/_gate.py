"""The gate: judge a measurement, record it on the test, and fail in the call phase."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import pytest

from ._artifact import info_properties, verdict_properties
from ._series import Cell, Series, TimelineEvent, series_property, timeline_property
from ._slo import Comparison, Measurement, Outcome, Threshold, Verdict, judge

__all__ = ["Gate"]

RecordProperty = Callable[[str, object], None]


class Gate:
    """Turns SLOs into test outcomes; every verdict is recorded before it can fail the test.

    Use it in a test's body (the call phase): an SLO checked in fixture teardown would
    show up as an error, not a failure.
    """

    def __init__(self, record_property: RecordProperty) -> None:
        self._record = record_property
        self.verdicts: list[Verdict] = []

    def check(
        self,
        check: str,
        measured: float | None,
        *,
        limit: float,
        unit: str,
        samples: int,
        at_most: bool = True,
        window: str = "",
        min_samples: int = 1,
        detail: str = "",
        subject: str = "",
    ) -> Verdict:
        """Judge `measured` against `limit` (``<=`` when `at_most`, else ``>=``); fail the test if it breaches.

        `subject` names what was measured when one check name serves several (an image, a file).
        """
        measurement = Measurement(check, measured, unit, samples, window, subject)
        threshold = Threshold(limit, Comparison.AT_MOST if at_most else Comparison.AT_LEAST, unit)
        return self.apply(judge(measurement, threshold, min_samples=min_samples), detail=detail)

    def apply(self, verdict: Verdict, *, detail: str = "") -> Verdict:
        """Record `verdict` and fail the test unless it passed; `detail` is added to the failure text."""
        self._keep(verdict)
        if verdict.outcome is not Outcome.PASS:
            # Fail closed: an inconclusive gate never passes.
            pytest.fail(verdict.message() + (f"\n{detail}" if detail else ""), pytrace=False)
        return verdict

    def apply_all(self, verdicts: Sequence[Verdict], *, title: str = "checks", detail: str = "") -> None:
        """Record every verdict, then fail once listing all that did not pass (one breach hides no other)."""
        for verdict in verdicts:
            self._keep(verdict)
        # A check an earlier one kept from running is recorded, not listed as a failure of its own; fail
        # closed all the same when nothing at all was judged.
        judged = [v for v in verdicts if v.outcome is not Outcome.NOT_MEASURED]
        failed = [v.message() for v in judged if v.outcome is not Outcome.PASS]
        if not judged and verdicts:
            failed = [v.message() for v in verdicts]
        if failed:
            text = f"{len(failed)} of {len(verdicts)} {title} did not pass:\n" + "\n".join(failed)
            pytest.fail(text + (f"\n{detail}" if detail else ""), pytrace=False)

    def _keep(self, verdict: Verdict) -> None:
        for name, value in verdict_properties(verdict):
            self._record(name, value)
        self.verdicts.append(verdict)

    def record(self, check: str, measured: float, unit: str, samples: int = 1, *, subject: str = "") -> None:
        """Record a value that is reported but not gated (e.g. image build time)."""
        for name, value in info_properties(check, measured, unit, samples, subject=subject):
            self._record(name, value)

    def series(
        self, name: str, columns: Sequence[str], rows: Iterable[Sequence[Cell]], *, unit_of_t: str = "s"
    ) -> Series:
        """Record a time series (the first column is the time) for the JSON report's ``series``.

        At most 3600 rows are kept (evenly thinned); a value that is not a finite number is null.
        """
        series = Series(name, tuple(columns), tuple(tuple(row) for row in rows), unit_of_t)
        self._record(*series_property(series))
        return series

    def timeline(self, events: Iterable[TimelineEvent]) -> None:
        """Record a release's events (seconds from its start) for the report's ``timeline``; replaces earlier ones."""
        self._record(*timeline_property(tuple(events)))
