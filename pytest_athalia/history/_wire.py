"""Appending the run's JSON report to the history at the end of a pytest run, without ever failing the run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..config._settings import Sourced
from ._record import run_record
from ._store import HistoryStore, open_history, public_location

__all__ = ["OFF_HINT", "record_run"]

OFF_HINT = "--athalia-history=PATH|URL|off (ATHALIA_HISTORY, ini athalia_history)"


def record_run(
    history: Sourced[str | None],
    report: Mapping[str, Any],
    report_path: Path,
    say: Callable[[str], None],
    opener: Callable[[str], HistoryStore] = open_history,
) -> bool:
    """Append `report`, as just written to `report_path` (secrets masked), to the store `history` names;
    True when it is in.

    A store that cannot be opened or written costs one line through `say`, naming the option and the fix:
    the JSON report stays, and the run's outcome does not change.
    """
    if history.value is None:
        return False
    where = public_location(history.value)
    try:
        run_record(report)  # a report that does not fit opens (and creates) no store
        with opener(history.value) as store:
            store.append(report)
    except Exception as exc:  # never fail the run for its history: the report is the record that counts
        detail = " ".join(str(exc).split()).removeprefix("athalia: ") or type(exc).__name__
        say(
            f"history: this run was not recorded in {where} (from {history.origin}): {detail} "
            f"The JSON report {report_path} is kept. Fix the store, or choose another one or turn history off "
            f"with {OFF_HINT}."
        )
        return False
    say(f"history: run recorded in {where}")
    return True
