"""The smoke test's judgement, pure: the candidate's answer on one path against the live version's.

Both colors are asked directly (bypassing the router) without following redirects. The candidate
must answer what is expected (``rollout.smoke.expect_status``, default 2xx) *and* in the class the
live version answers: a 308 where blue answers 200 would send users a redirect they never got. When
the live version itself does not answer as expected, the path says nothing about the candidate: the
release is inconclusive, not failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .._http import Answer

__all__ = ["Expect", "PathJudgement", "judge_path", "status_matches"]

# Statuses or classes ("200", "2xx"); "live": the class of the live version's answer.
Expect = tuple[str, ...] | Literal["live"]


def status_matches(status: int | None, expect: Sequence[str]) -> bool:
    """Whether `status` is one of `expect` (codes such as ``200`` or classes such as ``2xx``)."""
    if status is None:
        return False
    code = str(status)
    return any(code == e or (e.endswith("xx") and code[0] == e[0]) for e in expect)


def _shown(answer: Answer) -> str:
    return str(answer.status) if answer.status is not None else f"no answer ({answer.error})"


def _class(status: int | None) -> str | None:
    return f"{str(status)[0]}xx" if status is not None else None


@dataclass(frozen=True)
class PathJudgement:
    """One path asked of both colors: `ok` for the candidate; `live_fails` when the live answer was unexpected."""

    path: str
    ok: bool
    live_fails: bool
    detail: str


def judge_path(
    path: str, *, live: Answer, candidate: Answer, live_color: str, color: str, expect: Expect
) -> PathJudgement:
    """The candidate's answer on `path` against `expect` and the live version's answer (see the module docstring)."""
    wanted = "the class of the live version's answer" if expect == "live" else ", ".join(expect)
    live_ok = live.status is not None if expect == "live" else status_matches(live.status, expect)
    if not live_ok:
        detail = (
            f"GET {path} on {live_color} (live) answered {_shown(live)}, expected {wanted}; {color} answered "
            f"{_shown(candidate)}. The path says nothing about the candidate: fix the path (stack.*_path, "
            "rollout.probe.path, rollout.smoke.paths, rollout.triggers.health.path) or rollout.smoke.expect_status"
        )
        return PathJudgement(path, False, True, detail)
    same_class = _class(candidate.status) == _class(live.status)
    ok = same_class and (expect == "live" or status_matches(candidate.status, expect))
    if ok:
        return PathJudgement(path, True, False, f"answered {candidate.status} ({live_color} answers {live.status})")
    detail = (
        f"GET {path} on {color} answered {_shown(candidate)} where {live_color} (live) answers {live.status} "
        f"(expected {wanted}, redirects not followed). Fix the candidate so it answers {path} as the live version "
        "does; if the change is intended, list its status in rollout.smoke.expect_status"
    )
    return PathJudgement(path, False, False, detail)
