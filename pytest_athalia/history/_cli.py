"""``athalia history``: the runs and rates of each environment, read from the store the plugin writes."""

from __future__ import annotations

from .._errors import HistoryError
from ..config._settings import Sourced
from ._rates import Rates
from ._record import RunRecord
from ._store import open_history

__all__ = ["gather"]


def gather(
    chosen: Sourced[str | None], environment: str | None, limit: int
) -> tuple[str, dict[str | None, tuple[Rates, list[RunRecord]]]]:
    """The store's location (password masked) and, per environment, its rates and its last `limit` runs."""
    if chosen.value is None:
        raise HistoryError(
            f"athalia: history is off (from {chosen.origin}); name the store with athalia history --history PATH|URL."
        )
    if limit < 1:
        raise HistoryError(f"athalia: --limit is {limit}; give a number of runs of 1 or more.")
    with open_history(chosen.value, must_exist=True) as store:
        rates = store.rates(environment)
        if environment is not None and environment not in rates:
            known = ", ".join(e or "(none)" for e in store.rates()) or "none yet"
            raise HistoryError(
                f"athalia: the history {store.location} has no run of environment {environment!r} "
                f"(environments: {known}); check --env."
            )
        groups: dict[str | None, tuple[Rates, list[RunRecord]]] = {}
        for env, figures in rates.items():
            # None selects every run in the store's API: the runs without an environment are picked here.
            runs = store.runs(env, limit) if env is not None else [r for r in store.runs() if r.environment is None]
            groups[env] = (figures, runs[-limit:])
        return store.location, groups
