"""Success and rollback rates per environment: a pure function of the runs' statuses.

- ``completed``: runs whose status is passed, failed or error. An *interrupted* run (Ctrl-C, a cancelled
  CI job) said nothing about the release, so it is counted apart and left out of both rates.
- ``success_rate = passed / completed``: a run succeeds when pytest passed (every test and gate).
- ``rollback_rate = rolled_back / completed``: the completed runs a gate rolled back (a failed test's
  timeline has an automatic ``rollback`` event: ``rolled_back_by_gate``); drills and manual rollbacks do not count.

A rate is None when no run completed: no figure rather than a made-up 0 % or 100 %.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Rates", "compute_rates"]


@dataclass(frozen=True)
class Rates:
    """The figures of one environment (None: runs that loaded no environment)."""

    environment: str | None
    runs: int
    completed: int
    passed: int
    failed: int  # failed or error
    interrupted: int
    rolled_back: int

    @property
    def success_rate(self) -> float | None:
        return self.passed / self.completed if self.completed else None

    @property
    def rollback_rate(self) -> float | None:
        return self.rolled_back / self.completed if self.completed else None

    def as_json(self) -> dict[str, object]:
        return {
            "environment": self.environment,
            "runs": self.runs,
            "completed": self.completed,
            "passed": self.passed,
            "failed": self.failed,
            "interrupted": self.interrupted,
            "rolled_back": self.rolled_back,
            "success_rate": self.success_rate,
            "rollback_rate": self.rollback_rate,
        }


def compute_rates(runs: Iterable[tuple[str | None, str, bool]]) -> dict[str | None, Rates]:
    """Rates per environment from ``(environment, status, rolled_back)`` of each run, sorted by environment."""
    tallies: dict[str | None, list[int]] = {}
    for environment, status, rolled_back in runs:
        t = tallies.setdefault(environment, [0, 0, 0, 0])  # passed, failed, interrupted, rolled back (completed)
        if status == "interrupted":
            t[2] += 1
            continue
        t[0 if status == "passed" else 1] += 1
        t[3] += bool(rolled_back)
    return {
        env: Rates(env, p + f + i, p + f, p, f, i, rb)
        for env, (p, f, i, rb) in sorted(tallies.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
    }
