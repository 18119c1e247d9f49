"""The Locust subprocess: its command line, its bounds in time, and the errors when it cannot be used."""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from pytest_athalia._errors import LoadError
from pytest_athalia.config._environment import Environment, load_environment
from pytest_athalia.config._load import LoadSpec
from pytest_athalia.load._locust import PLUGIN, LocustPlan, plan_run, run_locust
from pytest_athalia.load._run import locustfile_of, read_results, run_load, target_of
from pytest_athalia.report._progress import Progress
from pytest_athalia.stack._cleanup import pid_alive as _alive
from pytest_athalia.testing import FakeStack, RecordingGroups, wait_until

FIXTURES = Path(__file__).parent / "fixtures" / "locust"


def spec(**load: object) -> LoadSpec:
    return LoadSpec.model_validate({"locustfile": "locustfile.py", "duration": 10, **load})


def environment(tmp_path: Path, load: str = "load:\n  locustfile: locustfile.py\n") -> Environment:
    """An environment file in `tmp_path` with the given load section; its locustfile exists (checked at load)."""
    (tmp_path / "compose.yml").write_text("services: {}\n", encoding="utf-8")
    (tmp_path / "locustfile.py").touch()
    path = tmp_path / "dev.yml"
    path.write_text(f"stack:\n  compose_files: [compose.yml]\n  service: app\n  port: 8000\n{load}", encoding="utf-8")
    return load_environment(str(path), None)


def python_plan(tmp_path: Path, script: str, *, timeout: float = 10.0) -> LocustPlan:
    """A plan that runs a small Python script in place of Locust (the runner does not care)."""
    return LocustPlan((sys.executable, "-c", script), dict(os.environ), tmp_path, tmp_path / "out", timeout)


# -- the command line ---------------------------------------------------------------------------------


def test_one_process_runs_headless_bounded_and_writes_json_only_to_a_file(tmp_path: Path) -> None:
    """Headless, bounded by --run-time, our listener as a second locustfile, --json-file but never --json."""
    plan = plan_run(spec(users=7, spawn_rate=3.5), tmp_path / "locustfile.py", "http://127.0.0.1:8000", tmp_path)
    argv = plan.argv
    assert argv[:3] == (sys.executable, "-m", "locust")
    assert argv[argv.index("-f") + 1] == f"{tmp_path / 'locustfile.py'},{PLUGIN}"
    assert {"--headless", "--only-summary", "--json-file"} <= set(argv)
    assert "--json" not in argv  # serialising twice would reset the stats
    assert argv[argv.index("--run-time") + 1] == "10s"
    assert argv[argv.index("--users") + 1] == "7"
    assert argv[argv.index("--spawn-rate") + 1] == "3.5"
    assert argv[argv.index("--exit-code-on-error") + 1] == "0"
    assert "--processes" not in argv
    assert "--master" not in argv
    assert plan.timeout == 10 + 30
    assert plan.env["ATHALIA_LOCUST_SERIES"] == str(tmp_path / "series.jsonl")
    assert PLUGIN.is_file()


def test_workers_run_master_and_local_workers_on_a_private_loopback_port(tmp_path: Path) -> None:
    """workers: N forks N local workers; master and workers meet on a free port bound to loopback."""
    plan = plan_run(spec(workers=3), tmp_path / "l.py", "http://127.0.0.1:1", tmp_path, port=lambda: 45678)
    argv = plan.argv
    assert argv[argv.index("--processes") + 1] == "3"
    assert argv[argv.index("--expect-workers") + 1] == "3"
    assert argv[argv.index("--master-bind-host") + 1] == "127.0.0.1"
    assert argv[argv.index("--master-bind-port") + 1] == argv[argv.index("--master-port") + 1] == "45678"
    assert plan.timeout > 10 + 30  # also waits for workers, still bounded


def test_remote_workers_make_a_master_that_waits_for_them(tmp_path: Path) -> None:
    """remote_workers: M (no local ones) starts a plain master on the configured port."""
    load = spec(remote_workers=2, master_port=5557, master_bind_host="*")
    argv = plan_run(load, tmp_path / "l.py", "http://127.0.0.1:1", tmp_path).argv
    assert "--master" in argv
    assert "--processes" not in argv
    assert argv[argv.index("--expect-workers") + 1] == "2"
    assert argv[argv.index("--master-bind-port") + 1] == "5557"


def test_the_callers_locust_variables_do_not_leak_into_the_run(tmp_path: Path) -> None:
    """LOCUST_* in the shell would silently change users or run time: they are dropped."""
    plan = plan_run(spec(), tmp_path / "l.py", "http://127.0.0.1:1", tmp_path, environ={"LOCUST_USERS": "999"})
    assert "LOCUST_USERS" not in plan.env


# -- the process --------------------------------------------------------------------------------------


def test_a_run_is_registered_with_the_watchdog_and_ticks_while_it_runs(tmp_path: Path) -> None:
    """The process group is watched while it runs and forgotten after; on_tick is called meanwhile."""
    groups = RecordingGroups()
    ticks: list[float] = []
    plan = python_plan(tmp_path, "import time; print('hello'); time.sleep(0.6)")
    finished = run_locust(plan, on_tick=lambda: ticks.append(time.monotonic()), tick=0.1, groups=groups)
    assert finished.returncode == 0
    assert "hello" in finished.output_tail
    assert [e for e, _ in groups.events] == ["watch", "forget"]
    assert groups.events[0][1] == groups.events[1][1]
    assert len(ticks) >= 3


def test_a_run_past_its_deadline_is_stopped_with_its_whole_group(tmp_path: Path) -> None:
    """A hung Locust (and a child it forked) is killed at the hard timeout; the error says so."""
    pidfile = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time; "
        f"c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pidfile)!r}, 'w').write(str(c.pid)); print('started', flush=True); time.sleep(60)"
    )
    start = time.monotonic()
    with pytest.raises(LoadError, match=r"did not finish within 2 s .* and was stopped") as caught:
        run_locust(python_plan(tmp_path, script, timeout=2.0), tick=0.1)
    assert time.monotonic() - start < 20
    assert "started" in str(caught.value)
    child = int(pidfile.read_text())
    assert wait_until(lambda: not _alive(child), 5) is not None


def test_a_worker_that_outlives_its_master_is_killed_too(tmp_path: Path) -> None:
    """A forked worker that ignores SIGTERM after its master ended is killed, not left an orphan."""
    pidfile = tmp_path / "worker.pid"
    # The worker writes its pid once it ignores SIGTERM (not after a fixed sleep): the file proves it was ready.
    worker = (
        "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    )
    script = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {worker!r}]); time.sleep(60)"
    # 2 s: two interpreters start before the worker is ready (~0.1 s, several times that on a loaded machine).
    with pytest.raises(LoadError, match="did not finish within 2 s"):
        run_locust(python_plan(tmp_path, script, timeout=2.0), tick=0.1)
    assert pidfile.exists(), "the worker did not get ready within the timeout"
    child = int(pidfile.read_text())
    assert wait_until(lambda: not _alive(child), 5) is not None


def test_an_interrupt_stops_locust_and_propagates(tmp_path: Path) -> None:
    """Ctrl-C in pytest (KeyboardInterrupt) stops the Locust group before it propagates."""
    pids: list[int] = []

    def interrupt() -> None:
        pids.extend(int(p) for p in os.listdir("/proc") if p.isdigit() and _is_sleeper(int(p), tmp_path))
        raise KeyboardInterrupt

    script = f"import time; open({str(tmp_path / 'mark')!r}, 'w'); time.sleep(60)"
    plan = python_plan(tmp_path, script)
    started = threading.Event()

    def tick() -> None:
        if (tmp_path / "mark").exists():
            started.set()
            interrupt()

    with pytest.raises(KeyboardInterrupt):
        run_locust(plan, on_tick=tick, tick=0.1)
    assert started.is_set()
    assert pids, "the sleeper was never seen running"
    assert all(wait_until(functools.partial(_gone, pid), 5) is not None for pid in pids)


def test_a_locust_that_cannot_start_is_a_load_error(tmp_path: Path) -> None:
    """A missing interpreter is a LoadError that says how to install Locust."""
    plan = LocustPlan(("/nonexistent/python", "-m", "locust"), {}, tmp_path, tmp_path / "out", 5.0)
    with pytest.raises(LoadError, match="cannot start Locust"):
        run_locust(plan)


def test_a_locust_that_fails_is_a_load_error_with_its_output(tmp_path: Path) -> None:
    """A non-zero exit (a broken locustfile) is a LoadError carrying Locust's last lines."""
    env = environment(tmp_path)
    (tmp_path / "locustfile.py").write_text("raise SystemExit('no users here')\n", encoding="utf-8")
    plan = python_plan(tmp_path, "import sys; print('Traceback: boom'); sys.exit(3)")
    with pytest.raises(LoadError, match="Locust exited with 3") as caught:
        run_load(env, "http://127.0.0.1:1", tmp_path / "out", progress=Progress(lambda _: None), plan=plan)
    assert "Traceback: boom" in str(caught.value)
    assert "dev.yml" in str(caught.value)


def test_a_run_without_stats_file_is_a_load_error(tmp_path: Path) -> None:
    """Locust exiting 0 without its --json-file output is never read as an empty, passing run."""
    plan = python_plan(tmp_path, "pass")
    plan.out_dir.mkdir()
    with pytest.raises(LoadError, match="wrote no stats file"):
        read_results(plan, spec(), "http://127.0.0.1:1", 1.0)


def test_a_run_without_series_is_a_load_error(tmp_path: Path) -> None:
    """Without our listener's series (the package lost its assets) the run cannot be judged."""
    plan = python_plan(tmp_path, "pass")
    plan.out_dir.mkdir()
    plan.json_path.write_bytes((FIXTURES / "locust.json").read_bytes())
    with pytest.raises(LoadError, match=r"series .* is missing"):
        read_results(plan, spec(), "http://127.0.0.1:1", 1.0)


def test_a_series_cut_short_is_a_load_error(tmp_path: Path) -> None:
    """A series without the listener's end marker (Locust never quit cleanly) is not judged on partial data."""
    plan = python_plan(tmp_path, "pass")
    plan.out_dir.mkdir()
    plan.json_path.write_bytes((FIXTURES / "locust.json").read_bytes())
    lines = (FIXTURES / "series.jsonl").read_text(encoding="utf-8").splitlines()
    assert '"end"' in lines[-1]
    plan.series_path.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(LoadError, match="has no end marker") as caught:
        read_results(plan, spec(), "http://127.0.0.1:1", 1.0)
    assert "locust-output.txt" in str(caught.value)


def test_captured_files_become_results(tmp_path: Path) -> None:
    """The captured output of a real run is read into totals, endpoints, series and generator load."""
    plan = python_plan(tmp_path, "pass")
    plan.out_dir.mkdir()
    plan.json_path.write_bytes((FIXTURES / "locust.json").read_bytes())
    plan.series_path.write_bytes((FIXTURES / "series.jsonl").read_bytes())
    results = read_results(plan, spec(users=4), "http://127.0.0.1:1", 4.2)
    assert results.total.requests == sum(e.requests for e in results.endpoints) > 0
    assert results.total.failures == results.endpoint("GET /missing").requests  # type: ignore[union-attr]
    assert results.generator.processes == 3
    assert results.series.complete


# -- target and locustfile ------------------------------------------------------------------------------


def test_the_target_defaults_to_the_stacks_service(tmp_path: Path) -> None:
    """Without load.target, load goes to the stack's own service URL."""
    stack = FakeStack(environment(tmp_path), base_url="http://127.0.0.1:32768")
    assert target_of(spec(), stack) == "http://127.0.0.1:32768"
    assert target_of(spec(target="http://localhost:9000/"), stack) == "http://localhost:9000"


def test_a_stack_address_off_loopback_is_refused(tmp_path: Path) -> None:
    """A stack endpoint on another host is refused: load goes only to the stack's loopback ports."""
    stack = FakeStack(environment(tmp_path), base_url="http://10.0.0.8:8000")
    with pytest.raises(LoadError, match="not a loopback address"):
        target_of(spec(), stack)


def test_a_missing_locustfile_names_the_key_and_the_resolved_path(tmp_path: Path) -> None:
    """A locustfile gone since the file was loaded is a LoadError with the key, the path and where it resolves."""
    env = environment(tmp_path)
    (tmp_path / "locustfile.py").unlink()
    with pytest.raises(LoadError, match=r"key load\.locustfile") as caught:
        locustfile_of(env)
    assert str(tmp_path / "locustfile.py") in str(caught.value)
    with pytest.raises(LoadError, match=r"has no load\.locustfile"):
        locustfile_of(environment(tmp_path, ""))


def _gone(pid: int) -> bool:
    return not _alive(pid)


def _is_sleeper(pid: int, marker: Path) -> bool:
    try:
        return str(marker) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
