# mypy: disable-error-code="no-untyped-call"
"""pytest-athalia's listener, loaded INTO THE LOCUST PROCESS ONLY (``locust -f yours.py,athalia_series.py``).

It writes one JSON line per second of the run to the file named by ``ATHALIA_LOCUST_SERIES``:
per request name, the count, failures, sum and max of response times and Locust's bucketed
histogram, plus the users running and the generator's own CPU (the busiest process). Workers
send their seconds to the master with their regular reports, so the master's file covers all
of them, remote workers included. pytest never imports this module: it would gevent-patch pytest.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import gevent  # type: ignore[import-untyped]
import psutil  # type: ignore[import-untyped]
from locust import events
from locust import stats as locust_stats
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

_KEY = "athalia_series"
_OUT = os.environ.get("ATHALIA_LOCUST_SERIES", "")
# A worker reports every 3 s: the master writes a second only once its reports can have arrived.
_LAG_LOCAL = 2
_LAG_MASTER = 6

# second -> "METHOD NAME" -> [method, name, requests, failures, sum_ms, max_ms, {bucket: count}]
_seconds: dict[int, dict[str, list[Any]]] = {}
# second -> pid -> [CPU percent, percent of the second spent waiting for a CPU] of that process
_cpu: dict[int, dict[str, list[float]]] = {}
_users: dict[int, int] = {}
# Unix times of Locust's own events: every user spawned, and the stop begun (steady load lies between).
_marks: dict[str, float] = {}


def _on_request(
    request_type: str, name: str, response_time: float | None, exception: BaseException | None = None, **_: Any
) -> None:
    second = int(time.time())
    key = f"{request_type} {name}"
    entry = _seconds.setdefault(second, {}).get(key)
    if entry is None:
        entry = _seconds[second][key] = [request_type, name, 0, 0, 0.0, 0.0, {}]
    entry[2] += 1
    if exception is not None:
        entry[3] += 1
    if response_time is not None:
        entry[4] += response_time
        entry[5] = max(entry[5], response_time)
        # Locust's own rounding, looked up at call time: a locustfile may replace it.
        bucket = str(locust_stats.bucket_response_time(response_time))
        entry[6][bucket] = entry[6].get(bucket, 0) + 1


def _merge(seconds: dict[str, dict[str, list[Any]]], cpu: dict[str, dict[str, list[float]]]) -> None:
    for raw_second, entries in seconds.items():
        target = _seconds.setdefault(int(raw_second), {})
        for key, (method, name, requests, failures, total, peak, histogram) in entries.items():
            mine = target.setdefault(key, [method, name, 0, 0, 0.0, 0.0, {}])
            mine[2] += requests
            mine[3] += failures
            mine[4] += total
            mine[5] = max(mine[5], peak)
            for bucket, count in histogram.items():
                mine[6][str(bucket)] = mine[6].get(str(bucket), 0) + count
    for raw_second, per_process in cpu.items():
        _cpu.setdefault(int(raw_second), {}).update(per_process)


def _schedstat() -> tuple[float, float] | None:
    # Linux: nanoseconds on a CPU and waiting in the run queue. A generator starved of CPU by
    # other processes is as much a bottleneck as a busy one, and only the wait shows it.
    try:
        with open("/proc/self/schedstat", encoding="ascii") as fh:
            on_cpu, waiting = fh.read().split()[:2]
        return float(on_cpu), float(waiting)
    except (OSError, ValueError):
        return None


def _sample_cpu() -> None:
    process = psutil.Process()
    process.cpu_percent(None)
    before, started = _schedstat(), time.monotonic()
    while True:
        gevent.sleep(1.0)
        cpu = process.cpu_percent(None)
        now, ended = _schedstat(), time.monotonic()
        wait = 0.0
        if before is not None and now is not None and ended > started:
            wait = round(max(0.0, (now[1] - before[1]) / 1e9 / (ended - started) * 100), 1)
        before, started = now, ended
        _cpu.setdefault(int(time.time()) - 1, {})[str(os.getpid())] = [cpu, wait]


def _line(second: int) -> str:
    entries = [
        {"method": e[0], "name": e[1], "requests": e[2], "failures": e[3], "sum_ms": e[4], "max_ms": e[5], "hist": e[6]}
        for e in _seconds.pop(second, {}).values()
    ]
    cpu = _cpu.pop(second, {}).values()
    line = {
        "t": second,
        "users": _users.get(second),
        "cpu": max((c for c, _ in cpu), default=None),
        "busy": max((c + w for c, w in cpu), default=None),
        "procs": len(cpu),
    }
    return json.dumps({**line, "entries": entries}, separators=(",", ":"))


def _flush(before: int, out: Any) -> None:
    for second in sorted(set(_seconds) | set(_cpu)):
        if second < before:
            out.write(_line(second) + "\n")
    out.flush()


def _on_init(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if runner is None:
        return
    gevent.spawn(_sample_cpu)
    if isinstance(runner, WorkerRunner):

        def _report(client_id: str, data: dict[str, Any]) -> None:
            seconds = {str(s): e for s, e in _seconds.items()}
            cpu = {str(s): c for s, c in _cpu.items()}
            _seconds.clear()
            _cpu.clear()
            data[_KEY] = {"seconds": seconds, "cpu": cpu}

        events.report_to_master.add_listener(_report)
        return
    if not _OUT:
        return
    lag = _LAG_MASTER if isinstance(runner, MasterRunner) else _LAG_LOCAL
    out = open(_OUT, "a", encoding="utf-8")  # noqa: SIM115 - open for the whole run, closed on quit

    if isinstance(runner, MasterRunner):

        def _from_worker(client_id: str, data: dict[str, Any]) -> None:
            part = data.get(_KEY)
            if part:
                _merge(part.get("seconds", {}), part.get("cpu", {}))

        events.worker_report.add_listener(_from_worker)

    def _write() -> None:
        while True:
            gevent.sleep(1.0)
            now = int(time.time())
            _users[now] = runner.user_count
            _flush(now - lag, out)

    writer = gevent.spawn(_write)

    def _on_spawned(**_: Any) -> None:
        _marks.setdefault("spawned_at", time.time())

    def _on_stopping(**_: Any) -> None:
        _marks.setdefault("stopping_at", time.time())

    events.spawning_complete.add_listener(_on_spawned)
    events.test_stopping.add_listener(_on_stopping)

    def _on_quit(exit_code: int, **_: Any) -> None:
        # After runner.quit(): the workers' final reports are in.
        writer.kill(block=False)
        _flush(1 << 62, out)
        warned = bool(getattr(runner, "cpu_warning_emitted", False)) or bool(
            getattr(runner, "worker_cpu_warning_emitted", False)
        )
        out.write(json.dumps({"end": True, "cpu_warning": warned, "exit_code": exit_code, **_marks}) + "\n")
        out.close()

    events.quit.add_listener(_on_quit)


events.request.add_listener(_on_request)
events.init.add_listener(_on_init)
