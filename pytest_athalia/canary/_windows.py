"""Per-color windows from two marks of cumulative counters: what both metric sources share.

HAProxy counts requests and 5xx answers per server from the router's start; so a window is the
difference of two marks. A counter that went backwards means the router restarted between them
(its counters start again at 0): what happened in that window is unknown, so it is an error and
never a window of zeros (fail closed). The caller takes a new start mark and holds the step again.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._errors import RouterError
from ._metrics import ColorWindow, Mark

__all__ = ["windows_between"]


def windows_between(start: Mark, end: Mark, *, source: str) -> Mapping[str, ColorWindow]:
    """Requests and errors per color between `start` and `end`, two marks of the `source` (its name, for errors).

    Raises RouterError when the marks are in the wrong order, a color of `start` is missing from `end`,
    or a counter went backwards (the router restarted).
    """
    if end.at_ns < start.at_ns:
        raise RouterError(
            f"athalia: expected the end mark after the start mark of a {source} window, found end "
            f"{(start.at_ns - end.at_ns) / 1e9:.3f} s before start. Pass the marks in the order they were taken."
        )
    missing = sorted(set(start.counters) - set(end.counters))
    if missing:
        raise RouterError(
            f"athalia: the {source} mark at the end of the window has no counters for {', '.join(missing)} (it has "
            f"{', '.join(sorted(end.counters)) or 'none'}); a window needs both marks of every color. Was the "
            "router's backend changed (it has the servers blue and green)?"
        )
    seconds = (end.at_ns - start.at_ns) / 1e9
    windows: dict[str, ColorWindow] = {}
    for color, (requests_before, errors_before) in start.counters.items():
        requests_after, errors_after = end.counters[color]
        if requests_after < requests_before or errors_after < errors_before:
            raise RouterError(
                f"athalia: {color}'s counters in {source} went backwards over a {seconds:.1f} s window (requests "
                f"{requests_before} -> {requests_after}, 5xx {errors_before} -> {errors_after}): the router restarted "
                "and its counters began again at 0, so what happened in this window is unknown. Take a new start mark "
                "and hold the step again (a router restart mid-step is a drill: it must not pass by itself)."
            )
        windows[color] = ColorWindow(
            color=color,
            requests=requests_after - requests_before,
            errors=errors_after - errors_before,
            seconds=seconds,
        )
    return windows
