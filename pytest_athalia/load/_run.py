"""A load run against the stack: target, Locust subprocess, progress, results and artifacts.

:func:`run_load` is what the ``athalia_load`` fixture calls; :func:`gate_load` applies the
verdicts (:mod:`pytest_athalia.load._verdicts`) through the :class:`~pytest_athalia.report._gate.Gate`
in a test's call phase, after writing them into the run's artifacts.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .._errors import LoadError
from .._process import GroupRegistry
from ..config._environment import Environment
from ..config._load import LoadSpec, is_loopback
from ..report._artifact import verdict_properties, write_atomically
from ..report._gate import Gate
from ..report._progress import Progress
from ..report._slo import Verdict
from ..stack._stack import Stack
from ._locust import LocustPlan, plan_run, run_locust, tail
from ._results import TOTAL, LoadResults, Second, Series, merge_stats, parse_locust_json, parse_series
from ._verdicts import evaluate, generator_load

__all__ = ["PROGRESS_EVERY_SECONDS", "gate_load", "locustfile_of", "run_load", "target_of", "write_verdicts"]

PROGRESS_EVERY_SECONDS = 5.0


def locustfile_of(environment: Environment) -> Path:
    """The environment's locustfile, absolute; LoadError naming the key when it is unset or missing."""
    spec = environment.spec.load
    if spec.locustfile is None:
        raise LoadError(
            f"athalia: {environment.path} has no load.locustfile; expected the path of a locustfile "
            "(relative to that file). Add a load section, e.g. load: {locustfile: ../locustfile.py}."
        )
    path = environment.resolve(spec.locustfile)
    if not path.is_file():
        raise LoadError(
            f"athalia: {environment.path}, key load.locustfile: expected an existing locustfile, found "
            f"{spec.locustfile!r}, which resolves to {path} and does not exist. Fix the path "
            f"(relative to {environment.base_dir})."
        )
    return path


def target_of(spec: LoadSpec, stack: Stack) -> str:
    """The base URL load goes to: the stack's service (or ``load.target``), always on loopback."""
    target = spec.target
    if target is not None and "://" in target:
        url = target.rstrip("/")
    else:
        service, _, port = (target or "").partition(":")
        url = stack.url(service or None, port=int(port) if port else None).rstrip("/")
    host = urlsplit(url).hostname or ""
    if not is_loopback(host):
        raise LoadError(
            f"athalia: load.target resolves to {url}, which is not a loopback address; expected the stack's "
            "own published port on 127.0.0.1. Load goes only to the stack under test: publish the port on "
            'loopback in the compose file (ports: ["127.0.0.1::8000"]) or set load.target to a loopback URL.'
        )
    return url


def run_load(
    environment: Environment,
    target: str,
    out_dir: Path,
    *,
    progress: Progress,
    groups: GroupRegistry | None = None,
    plan: LocustPlan | None = None,
) -> LoadResults:
    """Run the environment's load against `target` and parse what Locust wrote into `out_dir`."""
    spec = environment.spec.load
    plan = plan or plan_run(spec, locustfile_of(environment), target, out_dir)
    name = f"load {spec.users} users for {spec.duration:g}s against {target}"
    if spec.expected_workers:
        name += f" ({spec.workers} local + {spec.remote_workers} remote workers)"
    with progress.phase(name) as step:
        watcher = _SeriesWatcher(plan.series_path, spec.users, step)
        finished = run_locust(plan, on_tick=watcher.tick, groups=groups)
    if finished.returncode != 0:
        raise LoadError(
            f"athalia: Locust exited with {finished.returncode} (it exits 0 for a run that completed, failed "
            f"requests included). Check load.locustfile in {environment.path}. Last output "
            f"({plan.output_path}):\n{finished.output_tail}"
        )
    return read_results(plan, spec, target, finished.seconds)


def read_results(plan: LocustPlan, spec: LoadSpec, target: str, elapsed: float) -> LoadResults:
    """Parse the files of a finished run into LoadResults."""
    if not plan.json_path.is_file():
        raise LoadError(
            f"athalia: Locust wrote no stats file {plan.json_path}; expected its --json-file output. "
            f"Last output ({plan.output_path}):\n{tail(plan.output_path)}"
        )
    endpoints = parse_locust_json(plan.json_path.read_text(encoding="utf-8"), source=str(plan.json_path))
    series = _read_series(plan)
    # Every entry spans the whole run (parse_locust_json), as Locust's own total does.
    seconds = max((e.seconds for e in endpoints), default=0.0)
    total = merge_stats(endpoints, method="", name=TOTAL, seconds=seconds)
    return LoadResults(
        target=target,
        users=spec.users,
        spawn_rate=spec.spawn_rate,
        duration=spec.duration,
        workers=spec.workers,
        elapsed=elapsed,
        endpoints=endpoints,
        total=total,
        series=series,
        generator=generator_load(series.seconds, cpu_warning=series.cpu_warning),
        artifacts=plan.out_dir,
    )


def _read_series(plan: LocustPlan) -> Series:
    path = plan.series_path
    if not path.is_file():
        raise LoadError(
            f"athalia: the per-second series {path} is missing; expected Locust to load our listener "
            "(pytest_athalia/assets/locust/athalia_series.py). Is the package installed with its assets?"
        )
    with path.open(encoding="utf-8") as fh:
        series = parse_series(fh, source=str(path))
    if not series.complete:
        # Locust did not reach its quit event: the last seconds (and late worker reports) are missing.
        raise LoadError(
            f"athalia: the per-second series {path} has no end marker; expected our listener to close it when "
            "Locust quits. Locust was stopped before it could (killed, or out of memory?): see its output "
            f"beside it, {plan.output_path}, and rerun."
        )
    return series


def gate_load(gate: Gate, results: LoadResults, spec: LoadSpec) -> tuple[Verdict, ...]:
    """Judge the run, write the verdicts beside its artifacts, then record each and fail on any breach.

    Every verdict is recorded (JUnit properties and the JSON report) before the test fails,
    and the failure lists all that did not pass.
    """
    verdicts = evaluate(results, spec)
    write_verdicts(results, verdicts)
    gate.series("load", *report_series(results.series))
    gate.apply_all(verdicts, title="load checks", detail=f"artifacts: {results.artifacts}")
    return verdicts


def _second_row(second: Second) -> dict[str, Any]:
    total = second.total()
    return {
        "t": second.t,
        "users": second.users,
        "requests": total.requests,
        "failures": total.failures,
        "rps": total.requests,
        "p50_ms": total.percentile(50),
        "p95_ms": total.percentile(95),
        "p99_ms": total.percentile(99),
        "cpu_pct": second.cpu,
        "cpu_demand_pct": second.demand,
    }


# The JSON report's series "load" (docs/reports.md): its columns, and the per-second figure each comes from.
REPORT_COLUMNS = {
    "users": "users",
    "rps": "rps",
    "failures_per_s": "failures",
    "p50_ms": "p50_ms",
    "p95_ms": "p95_ms",
    "p99_ms": "p99_ms",
    "generator_cpu_pct": "cpu_pct",
}


def report_series(series: Series) -> tuple[list[str], list[list[float | int | None]]]:
    """Columns and rows of the report's ``load`` series: ``t_s`` counts the run's seconds from 1."""
    seconds = series.seconds
    first = seconds[0].t - 1 if seconds else 0
    rows = []
    for second in seconds:
        row = _second_row(second)
        rows.append([second.t - first, *(row[key] for key in REPORT_COLUMNS.values())])
    return ["t_s", *REPORT_COLUMNS], rows


def write_verdicts(results: LoadResults, verdicts: Sequence[Verdict]) -> None:
    """``results.json`` (summary, verdicts, series) and ``results.csv``/``series.csv`` for charts."""
    out = results.artifacts
    out.mkdir(parents=True, exist_ok=True)
    rows = [results.total.row(), *(e.row() for e in results.endpoints)]
    series_rows = [_second_row(second) for second in results.series.seconds]
    g = results.generator
    document = {
        "schema": "pytest-athalia/load/1",
        "target": results.target,
        "users": results.users,
        "spawn_rate": results.spawn_rate,
        "duration_s": results.duration,
        "workers": results.workers,
        "elapsed_s": round(results.elapsed, 3),
        "tolerance": "percentiles are Locust buckets: ±0.5 ms below 100 ms, ±5 ms to 1 s, ±50 ms to 10 s",
        "generator": {
            "sustained_cpu_pct": g.sustained_cpu,
            "peak_cpu_pct": g.peak_cpu,
            "sustain_s": g.sustain_seconds,
            "processes": g.processes,
            "locust_cpu_warning": g.locust_warning,
        },
        "endpoints": rows,
        "verdicts": [
            {
                "check": v.check,
                "message": v.message(),
                **{k.rpartition(".")[2]: val for k, val in verdict_properties(v)},
            }
            for v in verdicts
        ],
        "series": series_rows,
    }
    write_atomically(out / "results.json", json.dumps(document, indent=2) + "\n")
    _write_csv(out / "results.csv", rows)
    _write_csv(out / "series.csv", series_rows)


def _write_csv(path: Path, rows: Sequence[Mapping[str, object]]) -> None:
    if not rows:
        path.write_text("", encoding="utf-8")
        return
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


class _SeriesWatcher:
    """Reads the series as Locust writes it, and reports a progress step every few seconds."""

    def __init__(self, path: Path, users: int, step: Callable[[str], None]) -> None:
        self._path = path
        self._users = users
        self._step = step
        self._offset = 0
        self._pending = ""
        self._recent: list[str] = []
        self._requests = 0
        self._failures = 0
        self._last = time.monotonic()

    def tick(self) -> None:
        self._read()
        if time.monotonic() - self._last < PROGRESS_EVERY_SECONDS:
            return
        self._last = time.monotonic()
        series = parse_series(self._recent[-5:]).seconds
        if not series:
            return
        window = merge_stats([s.total() for s in series], method="", name="", seconds=float(len(series)))
        users = series[-1].users
        p95 = window.percentile(95)
        text = (
            f"users {users if users is not None else '?'}/{self._users}, {window.rps or 0:.1f} req/s, "
            f"p95 {'-' if p95 is None else f'{p95:g}'} ms, failures {self._failures}/{self._requests}"
        )
        self._step(text)

    def _read(self) -> None:
        try:
            with self._path.open(encoding="utf-8") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
                self._offset = fh.tell()
        except OSError:
            return
        *lines, self._pending = (self._pending + chunk).split("\n")
        for line in lines:
            if not line.strip() or '"end"' in line:
                continue
            try:
                second = parse_series([line]).seconds
            except LoadError:
                continue
            for s in second:
                total = s.total()
                self._requests += total.requests
                self._failures += total.failures
            self._recent = [*self._recent[-9:], line]
