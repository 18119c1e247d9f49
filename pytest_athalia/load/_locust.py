"""Running Locust headless in a subprocess, bounded in time, in its own process group.

pytest never imports locust: ``import locust`` gevent-patches the whole process, which breaks
pytest and pytest-xdist (locust #2250, pytest-xdist #254). Locust runs as
``python -m locust`` with our listener (``assets/locust/athalia_series.py``) as a second
locustfile; its output goes to files that :mod:`pytest_athalia.load._results` parses.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .._errors import LoadError
from .._extras import install_command, module_missing, said_module_missing
from .._process import GroupRegistry, stop_process_group
from ..config._load import LoadSpec

__all__ = ["PLUGIN", "LocustExit", "LocustPlan", "free_port", "locust_missing", "plan_run", "run_locust"]

PLUGIN: Final = Path(__file__).parent.parent / "assets" / "locust" / "athalia_series.py"
SERIES_ENV: Final = "ATHALIA_LOCUST_SERIES"
START_MARGIN_SECONDS: Final = 30.0  # Locust's start-up, its shutdown and the final reports
WORKER_WAIT_SECONDS: Final = 30  # how long the master waits for its workers


@dataclass(frozen=True)
class LocustPlan:
    """One Locust run: its command line, environment, files and hard deadline."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path
    out_dir: Path
    timeout: float

    @property
    def json_path(self) -> Path:
        return self.out_dir / "locust.json"  # Locust appends ".json" to --json-file

    @property
    def series_path(self) -> Path:
        return self.out_dir / "series.jsonl"

    @property
    def output_path(self) -> Path:
        return self.out_dir / "locust-output.txt"


@dataclass(frozen=True)
class LocustExit:
    returncode: int
    seconds: float
    output_tail: str


def free_port() -> int:
    """A TCP port free on loopback right now (for the master's worker port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def plan_run(
    spec: LoadSpec,
    locustfile: Path,
    host: str,
    out_dir: Path,
    *,
    environ: Mapping[str, str] | None = None,
    port: Callable[[], int] = free_port,
) -> LocustPlan:
    """The command for `spec` against `host`; pure but for choosing a free port in worker mode."""
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        f"{locustfile},{PLUGIN}",
        "--headless",
        "--host",
        host,
        "--users",
        str(spec.users),
        "--spawn-rate",
        f"{spec.spawn_rate:g}",
        "--run-time",
        f"{max(1, round(spec.duration))}s",
        "--only-summary",
        # Only --json-file: with --json too, the second serialisation would find reset stats.
        "--json-file",
        str(out_dir / "locust"),
        "--csv",
        str(out_dir / "locust"),
        "--html",
        str(out_dir / "locust.html"),
        # Failed requests are results to judge, not a broken run: exit 0 unless Locust itself fails.
        "--exit-code-on-error",
        "0",
        "--stop-timeout",
        "2",
    ]
    timeout = spec.duration + START_MARGIN_SECONDS
    if spec.expected_workers:
        master_port = spec.master_port or port()
        argv += [
            "--master-bind-host",
            spec.master_bind_host,
            "--master-bind-port",
            str(master_port),
            "--expect-workers",
            str(spec.expected_workers),
            "--expect-workers-max-wait",
            str(WORKER_WAIT_SECONDS),
        ]
        if spec.workers:
            # --processes forks local workers that connect to --master-host:--master-port.
            argv += ["--processes", str(spec.workers), "--master-port", str(master_port)]
        else:
            argv += ["--master"]
        timeout += WORKER_WAIT_SECONDS
    env = dict(os.environ if environ is None else environ)
    env[SERIES_ENV] = str(out_dir / "series.jsonl")
    env["PYTHONUNBUFFERED"] = "1"
    # LOCUST_* variables of the caller's shell would silently change the run.
    env = {k: v for k, v in env.items() if not k.startswith("LOCUST_")}
    return LocustPlan(tuple(argv), env, locustfile.parent, out_dir, timeout)


def run_locust(
    plan: LocustPlan,
    *,
    on_tick: Callable[[], None] | None = None,
    tick: float = 1.0,
    groups: GroupRegistry | None = None,
) -> LocustExit:
    """Run the plan, calling `on_tick` about every `tick` s; stop the whole group on timeout or interrupt."""
    python = plan.argv[0]
    runs_locust = plan.argv[1:3] == ("-m", "locust")
    if runs_locust and module_missing(python, "locust"):
        raise LoadError(locust_missing(python))
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    for stale in (plan.series_path, plan.json_path):
        stale.unlink(missing_ok=True)
    start = time.monotonic()
    with plan.output_path.open("wb") as output:
        try:
            proc = subprocess.Popen(
                list(plan.argv),
                cwd=plan.cwd,
                env=dict(plan.env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches pytest only; we stop Locust on purpose
            )
        except OSError as exc:
            raise LoadError(
                f"athalia: cannot start Locust ({exc.strerror or exc}): `{python} -m locust`; expected a Python "
                f"with Locust installed. Install the load extra into the Python that runs pytest: "
                f"`{install_command('load')}`."
            ) from None
    if groups is not None:
        groups.watch_process_group(proc.pid)
    try:
        while True:
            try:
                returncode = proc.wait(timeout=tick)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() - start > plan.timeout:  # stopped by the handler below
                    raise LoadError(
                        f"athalia: Locust did not finish within {plan.timeout:.0f} s (load.duration plus a margin "
                        "for start-up, workers and shutdown) and was stopped. "
                        f"Its output is in {plan.output_path}:\n{tail(plan.output_path)}"
                    ) from None
                if on_tick is not None:
                    on_tick()
    except BaseException:
        _stop(proc)
        raise
    finally:
        if groups is not None:
            groups.forget_process_group(proc.pid)
    if on_tick is not None:
        on_tick()
    output_tail = tail(plan.output_path)
    if returncode != 0 and runs_locust and said_module_missing(output_tail, "locust"):
        raise LoadError(locust_missing(python))
    return LocustExit(returncode, time.monotonic() - start, output_tail)


def locust_missing(python: str) -> str:
    """The one paragraph for a load gate without Locust: the extra that brings it, or how to drop the gate."""
    return (
        f"athalia: the load gate needs Locust, but `{python} -m locust` finds no module named locust; Locust "
        "comes with the load extra, not with pytest-athalia itself. Install it into the Python that runs "
        f"pytest: `{install_command('load')}` (or `{install_command('all')}`), or remove the environment "
        "file's load section to run without the load gate."
    )


def tail(path: Path, lines: int = 25) -> str:
    """The last `lines` lines of a text file, or a note that there is none."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # SIGTERM first: Locust then writes its stats. Workers forked by --processes outlive a master
    # that ended first: they get a moment, then SIGKILL.
    stop_process_group(proc, term_grace=10.0, linger=2.0)
