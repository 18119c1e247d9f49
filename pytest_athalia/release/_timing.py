"""Switch, rollback and detection times derived from the probe's request timestamps (pure functions).

Definitions (all instants on the probe's monotonic clock, in ns; see docs/rollout.md):

- **cutover** away from color ``X``, after a router change that returned at ``t_weights``:
  ``max(start of the last request answered by X, t_weights)``. Every request that started after
  the cutover was served by someone else. The later of the two is taken, so a request still
  routed to ``X`` after the router said it was done counts against the rollout.
- **rollback time** = ``cutover - t_fire``, where ``t_fire`` is the instant the trigger fired (or
  the manual rollback was asked for).
- **switch time** = ``cutover - t_start`` of the switch (from the first router call).
- **detection time** = ``t_fire - end of the first bad observation`` (the first failed or slow
  response of the candidate, failed health check, or complaint).
- A cutover is only *shown* when at least ``min_after`` requests started after it, all answered
  by the other color; otherwise the time is not measured (None), so the gate fails closed.
- **failed requests** in ``[t_from, t_to]``: requests started in that interval without a 2xx/3xx
  answer (transport errors included). For an automatic rollback the bad color's own answers are
  excluded: they are the fault being rolled back, not a failure of the rollback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._traffic import ProbeSample

__all__ = ["Cutover", "cutover", "describe_strays", "detection_ms", "failed_between", "stray_after"]


@dataclass(frozen=True)
class Cutover:
    """When traffic left `from_color`, measured from `since_ns`; `ms` is None when it was not shown."""

    from_color: str
    since_ns: int
    weights_ns: int
    last_from_start_ns: int | None
    at_ns: int
    after: int  # requests that started after the cutover (none of them served by from_color)
    ms: float | None
    reason: str = ""


def cutover(
    samples: Sequence[ProbeSample], *, from_color: str, since_ns: int, weights_ns: int, min_after: int
) -> Cutover:
    """The instant after which no new request reached `from_color`, and its distance from `since_ns`."""
    last = max((s.start_ns for s in samples if s.color == from_color), default=None)
    at = max(weights_ns, last) if last is not None else weights_ns
    after = sum(1 for s in samples if s.start_ns > at)
    if after < min_after:
        reason = (
            f"only {after} probe request(s) started after the cutover, {min_after} needed to show "
            f"that {from_color} gets no more traffic; raise rollout.probe.rate or the observation time"
        )
        return Cutover(from_color, since_ns, weights_ns, last, at, after, None, reason)
    return Cutover(from_color, since_ns, weights_ns, last, at, after, max(0, at - since_ns) / 1e6)


def detection_ms(first_bad_ns: int | None, fired_ns: int) -> float | None:
    """From the end of the first bad observation to the trigger firing (None without a bad observation)."""
    if first_bad_ns is None:
        return None
    return max(0, fired_ns - first_bad_ns) / 1e6


def failed_between(
    samples: Sequence[ProbeSample], start_ns: int, end_ns: int, *, exclude_color: str | None = None
) -> tuple[ProbeSample, ...]:
    """Requests started within ``[start_ns, end_ns]`` that failed, except those `exclude_color` answered."""
    return tuple(
        s
        for s in samples
        if start_ns <= s.start_ns <= end_ns and not s.ok and (exclude_color is None or s.color != exclude_color)
    )


def stray_after(samples: Sequence[ProbeSample], *, to_color: str, after_ns: int) -> tuple[ProbeSample, ...]:
    """Answers to requests sent after `after_ns` that did not come from `to_color`.

    ``start_ns`` is stamped before the request's first byte is written, so ``start_ns > after_ns``
    proves the request left after the router call returned; a client descheduled between stamp
    and send only sends later still. Requests stamped earlier were in flight at the switch and are
    never judged here. A failure nobody answered (a transport error, the router's own 503) is no
    stray answer: it is a failed request, counted by :func:`failed_between`. A success without a
    color cannot be attributed, and counts.
    """
    return tuple(s for s in samples if s.start_ns > after_ns and s.color != to_color and (s.color is not None or s.ok))


def describe_strays(strays: Sequence[ProbeSample], after_ns: int, *, limit: int = 3) -> str:
    """The first stray answers with their send time relative to `after_ns`, for a failure message."""
    shown = ", ".join(f"{s.describe()} (sent {(s.start_ns - after_ns) / 1e6:.1f} ms after)" for s in strays[:limit])
    more = f" and {len(strays) - limit} more" if len(strays) > limit else ""
    return f"answers to requests sent after the router calls returned: {shown}{more}" if strays else ""
