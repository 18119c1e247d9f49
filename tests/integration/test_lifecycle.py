"""The stack's lifecycle against real Docker: whatever happens to a run, nothing of it is left.

Each test runs pytest with the plugin in a subprocess (the inner run) on a tiny two-service stack
(``fixtures/tiny``: ``web`` serves HTTP, ``worker`` sleeps on a named volume), lets it pass or fail,
interrupts or kills it, then checks with the docker CLI, not with the plugin's code, that no
container, network or volume of its compose projects remains.

Every test gets its own environment file, ``tiny<hex6>.yml``, so all its projects are named
``athalia-tiny<hex6>-...``: the checks and the cleanup after a failed test touch nothing else on
the daemon (other runs' stacks may be running there).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_athalia.stack._cleanup import pid_alive as alive
from pytest_athalia.testing import unavailable, wait_until
from tests.support.junit import measured
from tests.support.report_schema import validate_report

pytestmark = pytest.mark.docker

HERE = Path(__file__).parent
TINY = HERE / "fixtures" / "tiny"
REPO = HERE.parents[1]
DEMO = REPO / "demo"
BASE_IMAGE = "athalia/base:bookworm"
LABEL = "com.docker.compose.project"
LOG_SECTION = "athalia: service logs"
SWEEP_LINE = "removed leftovers of a dead run"

RUN_TIMEOUT = 120.0  # one inner run of the tiny stack takes about 6 s
WATCHDOG_WITHIN = 30.0  # from SIGKILL of pytest to nothing left
STOP_TIMEOUT = 60.0  # from SIGINT/SIGTERM to pytest's exit

INTERRUPTED = 2  # pytest.ExitCode.INTERRUPTED, as the inner process reports it


# --- the docker CLI --------------------------------------------------------------------------


def _docker(*args: str, timeout: float = 60) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"`docker {shlex.join(args)}` failed (exit {proc.returncode}): {proc.stderr}")
    return proc.stdout


_ROW = '{{.%s}}\t{{.Label "%s"}}'
_LISTINGS = (
    ("container", ("ps", "--all"), _ROW % ("Names", LABEL)),
    ("network", ("network", "ls"), _ROW % ("Name", LABEL)),
    ("volume", ("volume", "ls"), _ROW % ("Name", LABEL)),
)


def _labelled() -> list[tuple[str, str, str]]:
    """(kind, name, project) of every container, network and volume with a compose project label."""
    found = []
    for kind, command, row in _LISTINGS:
        output = _docker(*command, "--filter", f"label={LABEL}", "--format", row)
        for line in output.splitlines():
            name, _, project = line.partition("\t")
            found.append((kind, name, project))
    return found


def leftovers(project_or_prefix: str) -> list[str]:
    """``"<kind> <name>"`` of each resource whose compose project is, or starts with, the argument."""
    return sorted(f"{kind} {name}" for kind, name, project in _labelled() if project.startswith(project_or_prefix))


def projects(prefix: str) -> set[str]:
    """The compose projects starting with `prefix` that still own a container, network or volume."""
    return {project for _, _, project in _labelled() if project.startswith(prefix)}


def remove_projects(prefix: str) -> None:
    """Remove every project starting with `prefix`: compose down, then by label what survived it."""
    for project in sorted(projects(prefix)):
        # From /, where compose finds no compose file: it works from the labels alone.
        subprocess.run(
            ["docker", "compose", "-p", project, "down", "-v", "--remove-orphans", "-t", "0"],
            capture_output=True,
            cwd=os.sep,
            timeout=120,
            check=False,
        )
    for kind, name, project in _labelled():
        if project.startswith(prefix):
            command = {"container": ["rm", "-f", "-v"], "network": ["network", "rm"], "volume": ["volume", "rm"]}
            subprocess.run(["docker", *command[kind], name], capture_output=True, timeout=60, check=False)


# --- processes ---------------------------------------------------------------------------------


def _argv(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def pids_where(condition: Callable[[list[str]], bool]) -> list[int]:
    """Live processes whose argv satisfies `condition`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            argv = _argv(int(entry.name))
            if argv and condition(argv) and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def watchdogs_of(pid: int) -> list[int]:
    """The watchdog processes of pytest process `pid` (``... pytest_athalia ... watchdog ... --parent=<pid>``)."""
    return pids_where(
        lambda argv: f"--parent={pid}" in argv and "pytest_athalia" in " ".join(argv) and "watchdog" in " ".join(argv)
    )


def processes_naming(prefix: str) -> list[int]:
    """Processes (compose commands) whose argv names a project starting with `prefix`."""
    return pids_where(lambda argv: any(arg.startswith(prefix) for arg in argv))


# --- the inner run -------------------------------------------------------------------------------


@dataclass
class InnerRun:
    """One pytest subprocess; its output goes to `log`, its tests write what they saw into `out`."""

    process: subprocess.Popen[bytes]
    log: Path
    out: Path
    junit: Path
    report: Path
    tmp: Path  # its TMPDIR: what it generates, and its watchdog's log, stay in the test's folder

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def details(self) -> str:
        """The run's output and its watchdog's log, for failure messages."""
        watchdog_log = self.tmp / "athalia" / f"watchdog-{self.pid}.log"
        text = watchdog_log.read_text(errors="replace") if watchdog_log.exists() else "(none)"
        return f"--- inner run (pid {self.pid}) output:\n{self.output()}\n--- its watchdog's log:\n{text}"

    def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the inner run did not end within {timeout:g} s.\n{self.details()}")

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = RUN_TIMEOUT) -> None:
        """Wait until `condition()` holds while the run is alive; fail if the run ends first."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                pytest.fail(f"the inner run exited ({self.process.returncode}) before {what}.\n{self.details()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {timeout:g} s.\n{self.details()}")
            time.sleep(0.05)

    def project_of(self, test: str) -> str:
        """The project the inner test `test` used (it writes it first thing)."""
        path = self.out / f"{test}.project"
        assert path.exists(), f"{test} did not record its project.\n{self.details()}"
        return path.read_text()

    @property
    def sleeping(self) -> bool:
        return (self.out / "sleeping").exists()


@dataclass
class Tiny:
    """The tiny stack's environment for one test, and a way to run pytest on it."""

    root: Path
    env_file: Path
    prefix: str  # of every project of this test: athalia-tiny<hex6>-
    runs: list[InnerRun] = field(default_factory=list)

    def main_prefix(self, run: InnerRun) -> str:
        """The prefix of the projects `run` names itself (not under xdist)."""
        return f"{self.prefix}main-p{run.pid}-"

    def start(
        self,
        *args: str,
        env_file: Path | None = None,
        cwd: Path | None = None,
        tests: Path | None = None,
        extra_env: dict[str, str] | None = None,
        wrap: Sequence[str] = (),
    ) -> InnerRun:
        """Start ``<wrap> pytest <tests> --athalia-env <env_file> <args>`` in a subprocess."""
        index = len(self.runs)
        rundir = self.root / f"run{index}"
        out = rundir / "out"
        out.mkdir(parents=True)
        if tests is None:
            (rundir / "pytest.ini").write_text("[pytest]\n")
            (rundir / "test_inner.py").write_text((TINY / "inner_suite.py").read_text())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ATHALIA_", "PYTEST_", "COMPOSE_"))}
        tmp = self.root / "tmp"
        tmp.mkdir(exist_ok=True)
        env.update(TINY_OUT=str(out), PYTHONUNBUFFERED="1", TMPDIR=str(tmp), **(extra_env or {}))
        junit, report = rundir / "junit.xml", rundir / "athalia.json"
        argv = [
            *wrap,
            sys.executable,
            "-m",
            "pytest",
            *(args if tests is None else (str(tests), *args)),
            "--athalia-env",
            str(env_file or self.env_file),
            "-p",
            "no:cacheprovider",
            "--junitxml",
            str(junit),
            "--athalia-report",
            str(report),
        ]
        log = rundir / "output.txt"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                argv,
                cwd=cwd or rundir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                preexec_fn=_default_sigint if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else None,
            )
        run = InnerRun(process, log, out, junit, report, tmp)
        self.runs.append(run)
        return run

    def run(self, *args: str, timeout: float = RUN_TIMEOUT, **kwargs: Any) -> tuple[InnerRun, int]:
        run = self.start(*args, **kwargs)
        return run, run.wait(timeout)


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored, and exec keeps an ignored signal
    # ignored: the inner pytest would then ignore the SIGINT the tests send.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(name="tiny")  # by name: other modules import it as tiny_fixture
def tiny_fixture(tmp_path: Path) -> Iterator[Tiny]:
    """The tiny stack under a name of its own; afterwards nothing of the test's runs is left, pass or fail."""
    if subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True, check=False).returncode:
        unavailable(f"the image {BASE_IMAGE} is missing (make it with `athalia images bootstrap`)")
    token = secrets.token_hex(3)
    spec = yaml.safe_load((TINY / "tiny.yml").read_text())
    spec["stack"]["compose_files"] = [str(TINY / name) for name in spec["stack"]["compose_files"]]
    env_file = tmp_path / f"tiny{token}.yml"
    env_file.write_text(yaml.safe_dump(spec))
    state = Tiny(tmp_path, env_file, f"athalia-tiny{token}-")
    try:
        yield state
    finally:
        _clean_up(state.runs, [state.prefix])


def _clean_up(runs: Sequence[InnerRun], prefixes: Sequence[str]) -> None:
    """Stop what the runs left running and remove their projects (only ours: by prefix)."""
    for run in runs:
        if run.process.poll() is None:
            run.process.kill()
        run.process.wait()
    for prefix in prefixes:
        for pid in processes_naming(prefix):  # a compose that outlived its pytest
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    watchdogs = [pid for run in runs for pid in watchdogs_of(run.pid)]
    # Let a watchdog that is cleaning up finish (it settles for 3 s); then stop it.
    wait_until(lambda: not any(alive(pid) for pid in watchdogs), 20)
    for pid in watchdogs:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for prefix in prefixes:
        remove_projects(prefix)


def _section(output: str, title: str) -> str:
    """The body of a report section (``---- title ----`` up to the next rule), or ""."""
    match = re.search(rf"^-+ {re.escape(title)} -+$\n(.*?)(?=^[-=_]{{3,}})", output, re.M | re.S)
    return match.group(1) if match else ""


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _junit_properties(path: Path) -> dict[str, str]:
    return {name: value for props in measured(path).values() for name, value in props.items()}


# --- normal ends ---------------------------------------------------------------------------------


def test_passing_run_leaves_nothing(tiny: Tiny) -> None:
    """A passing run exits 0, its test reached the stack, and nothing of its project is left."""
    run, code = tiny.run("test_inner.py::test_ok")

    assert code == 0, run.details()
    project = run.project_of("test_ok")
    assert re.fullmatch(re.escape(tiny.main_prefix(run)) + "[0-9a-f]{6}", project), project
    assert leftovers(tiny.prefix) == [], run.details()
    assert f"removing stack {project} done" in run.output()


def test_failing_run_leaves_nothing_and_reports_service_logs(tiny: Tiny) -> None:
    """A failing run exits 1, leaves nothing, and the failure carries the web service's log."""
    run, code = tiny.run("test_inner.py::test_fails")

    assert code == 1, run.details()
    assert leftovers(tiny.prefix) == [], run.details()
    output = run.output()
    assert "FAILED test_inner.py::test_fails - AssertionError: deliberate failure" in output
    logs = _section(output, LOG_SECTION)
    assert logs, f"no section {LOG_SECTION!r} in the report.\n{output}"
    # http.server logs each request; the test's own GET and the healthcheck's curl both answered 200.
    # compose 2.26 starts each log line with an erase-line sequence even under --ansi never.
    web_lines = [line for line in _ANSI.sub("", logs).splitlines() if re.match(r"web-1\s+\|", line)]
    assert any('"GET / HTTP/1.1" 200' in line for line in web_lines), logs


@pytest.mark.parametrize(
    ("key", "value", "paragraph"),
    [
        (
            "service",
            "nosuch",
            "stack.service in {file} is 'nosuch', but the merged compose config has no such "
            "service; it has: web, worker. Set stack.service in {file} to the service under test",
        ),
        (
            "port",
            9999,
            "stack.port in {file} is 9999, but service 'web' neither exposes nor publishes TCP port 9999 "
            "in the merged compose config; its ports: 127.0.0.1::8000/tcp (published). Set stack.port in {file}",
        ),
    ],
    ids=["stack.service", "stack.port"],
)
def test_a_wrong_stack_service_or_port_fails_before_anything_starts(
    tiny: Tiny, tmp_path: Path, key: str, value: object, paragraph: str
) -> None:
    """Checked against the real merged compose config: one paragraph per test, no traceback, nothing started."""
    spec = yaml.safe_load(tiny.env_file.read_text())
    spec["stack"][key] = value
    tiny.env_file.write_text(yaml.safe_dump(spec))
    run, code = tiny.run("test_inner.py::test_ok")

    assert code == 1, run.details()
    output = run.output()
    assert "the stack did not start:\nathalia: " + paragraph.format(file=tiny.env_file) in output, output
    assert "_validation.py" not in output, output  # no traceback into the plugin
    assert "starting stack" not in output, output
    assert _section(output, LOG_SECTION).startswith("(no service was started: "), output
    assert leftovers(tiny.prefix) == [], run.details()


# --- interrupted ---------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_a_test_runs_stops_cleanly(tiny: Tiny, signum: signal.Signals) -> None:
    """SIGINT or SIGTERM mid-test: pytest stops, removes the stack, and still writes JUnit and JSON."""
    run = tiny.start("test_inner.py::test_sleeps")
    run.wait_for(lambda: run.sleeping, "sleeping inner test")
    project = run.project_of("test_sleeps")
    assert leftovers(project), f"the stack of {project} should be running.\n{run.details()}"

    run.process.send_signal(signum)
    code = run.wait(STOP_TIMEOUT)

    assert code == INTERRUPTED, run.details()
    assert leftovers(tiny.prefix) == [], run.details()
    output = run.output()
    assert "KeyboardInterrupt" in output, output
    assert f"removing stack {project} done" in output
    assert ET.parse(run.junit).getroot().tag in ("testsuites", "testsuite")
    report = json.loads(run.report.read_text())
    validate_report(report)
    assert (report["run"]["exit_status"], report["run"]["status"]) == (INTERRUPTED, "interrupted")
    assert report["run"]["startup"]["project"] == project


def test_sigterm_during_compose_up_stops_cleanly(tiny: Tiny) -> None:
    """SIGTERM while `compose up` waits for health: compose is stopped and the stack removed."""
    run = tiny.start("test_inner.py::test_ok", extra_env={"TINY_WEB_DELAY": "20"})
    prefix = tiny.main_prefix(run)
    run.wait_for(lambda: bool(leftovers(prefix) and processes_naming(prefix)), "container while compose up runs")

    run.process.send_signal(signal.SIGTERM)
    code = run.wait(STOP_TIMEOUT)

    assert code == INTERRUPTED, run.details()
    assert not (run.out / "test_ok.project").exists(), "the run should have stopped before its test"
    assert processes_naming(prefix) == [], f"compose outlived pytest.\n{run.details()}"
    assert leftovers(tiny.prefix) == [], run.details()


def test_sigint_while_the_stack_is_removed_still_leaves_nothing(tiny: Tiny) -> None:
    """Ctrl-C while the run's final `compose down` waits for a slow service: nothing is left within 15 s."""
    # The worker ignores SIGTERM, so `compose down` waits its 10 s timeout before SIGKILL.
    run = tiny.start("test_inner.py::test_ok", extra_env={"TINY_WORKER_IGNORES_TERM": "1"})
    run.wait_for(lambda: "athalia: removing stack" in run.output(), "removal of the stack")
    project = run.project_of("test_ok")
    time.sleep(0.5)  # compose down is now stopping the worker

    run.process.send_signal(signal.SIGINT)
    code = run.wait(STOP_TIMEOUT)

    assert code in (0, INTERRUPTED), run.details()  # a fix may finish the removal before stopping
    seconds = wait_until(lambda: not leftovers(tiny.prefix), 15, interval=0.5)
    assert seconds is not None, f"left of {project} after 15 s: {leftovers(tiny.prefix)}\n{run.details()}"


# --- killed --------------------------------------------------------------------------------------


def test_sigkill_while_a_test_runs_the_watchdog_removes_the_stack(tiny: Tiny, record_property: Any) -> None:
    """After `kill -9` of pytest mid-test, and no following run, its project is gone within 30 s."""
    run = tiny.start("test_inner.py::test_sleeps")
    run.wait_for(lambda: run.sleeping, "sleeping inner test")
    project = run.project_of("test_sleeps")
    watchdogs = watchdogs_of(run.pid)
    assert len(watchdogs) == 1, f"expected one watchdog of pid {run.pid}, found {watchdogs}"
    assert leftovers(project), run.details()

    run.process.kill()
    run.process.wait()
    seconds = wait_until(lambda: not leftovers(project), WATCHDOG_WITHIN, interval=0.25)

    assert seconds is not None, f"left after {WATCHDOG_WITHIN:g} s: {leftovers(project)}\n{run.details()}"
    record_property("seconds_from_sigkill_to_nothing_left", round(seconds, 2))
    assert wait_until(lambda: not alive(watchdogs[0]), 20) is not None, f"the watchdog lingers.\n{run.details()}"
    assert leftovers(tiny.prefix) == [], run.details()


def test_sigkill_during_compose_up_the_watchdog_stops_compose_and_removes_the_stack(tiny: Tiny) -> None:
    """`kill -9` of pytest while `compose up` runs: compose is killed and nothing is left within 30 s."""
    run = tiny.start("test_inner.py::test_ok", extra_env={"TINY_WEB_DELAY": "20"})
    prefix = tiny.main_prefix(run)
    run.wait_for(lambda: bool(leftovers(prefix)), "container of the project")
    composes = processes_naming(prefix)
    assert composes, f"compose up should still run (web waits 20 s).\n{run.details()}"
    watchdogs = watchdogs_of(run.pid)
    assert len(watchdogs) == 1, f"expected one watchdog of pid {run.pid}, found {watchdogs}"

    run.process.kill()
    run.process.wait()

    def clean() -> bool:
        return not processes_naming(prefix) and not alive(watchdogs[0]) and not leftovers(prefix)

    seconds = wait_until(clean, WATCHDOG_WITHIN, interval=0.25)
    assert seconds is not None, (
        f"after {WATCHDOG_WITHIN:g} s: compose processes {processes_naming(prefix)}, watchdog alive "
        f"{alive(watchdogs[0])}, left {leftovers(prefix)}\n{run.details()}"
    )
    assert not (run.out / "test_ok.project").exists(), "the run should have been killed before its test"
    assert leftovers(tiny.prefix) == [], run.details()


def test_sigkill_without_watchdog_the_next_run_sweeps_the_dead_runs_project(tiny: Tiny) -> None:
    """With its watchdog gone too, a killed run's project survives until the next run sweeps it at start."""
    dead = tiny.start("test_inner.py::test_sleeps")
    dead.wait_for(lambda: dead.sleeping, "sleeping inner test")
    project = dead.project_of("test_sleeps")
    watchdogs = watchdogs_of(dead.pid)
    assert len(watchdogs) == 1, f"expected one watchdog of pid {dead.pid}, found {watchdogs}"
    os.kill(watchdogs[0], signal.SIGKILL)
    assert wait_until(lambda: not alive(watchdogs[0]), 10) is not None
    dead.process.kill()
    dead.process.wait()
    assert leftovers(project), f"nothing should have removed {project} yet.\n{dead.details()}"

    run, code = tiny.run("test_inner.py::test_ok")

    assert code == 0, run.details()
    assert f"{SWEEP_LINE}: {project}" in run.output(), run.details()
    assert leftovers(tiny.prefix) == [], run.details()


# --- kept on purpose -----------------------------------------------------------------------------


def test_keep_leaves_the_stack_running_and_prints_how_to_remove_it(tiny: Tiny) -> None:
    """--athalia-keep: the stack outlives the run under a pid-less name; the printed command removes it."""
    run, code = tiny.run("test_inner.py::test_ok", "--athalia-keep")

    assert code == 0, run.details()
    project = run.project_of("test_ok")
    assert re.fullmatch(re.escape(tiny.prefix) + "main-keep-[0-9a-f]{6}", project), project
    running = _docker("ps", "--filter", f"label={LABEL}={project}", "--format", "{{.Names}}").split()
    assert sorted(running) == [f"{project}-web-1", f"{project}-worker-1"], run.details()
    assert leftovers(project) == sorted(
        [f"container {name}" for name in running] + [f"network {project}_default", f"volume {project}_data"]
    )
    dry_run = subprocess.run(
        [sys.executable, "-m", "pytest_athalia._cli", "cleanup", "--dry-run", "--env", tiny.env_file.stem],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert f"would remove {project}" not in dry_run.stdout, "a sweep of dead runs must leave a kept stack alone"
    assert f"left {project}: kept with --athalia-keep" in dry_run.stdout, dry_run.stdout
    match = re.search(rf"kept stack {re.escape(project)}; remove it with: (.+)$", run.output(), re.M)
    assert match, run.details()

    subprocess.run(shlex.split(match.group(1)), cwd=run.log.parent, capture_output=True, timeout=120, check=True)

    assert leftovers(project) == []


# --- xdist ---------------------------------------------------------------------------------------


def test_xdist_workers_start_and_remove_a_stack_each(tiny: Tiny) -> None:
    """-n 2: each worker starts its own project (gw0, gw1), and both are removed at the end."""
    run, code = tiny.run("test_inner.py::test_ok", "test_inner.py::test_ok_again", "-n", "2")

    assert code == 0, run.details()
    seen = {run.project_of("test_ok"), run.project_of("test_ok_again")}
    pattern = re.compile(re.escape(tiny.prefix) + r"(gw\d+)-p\d+-[0-9a-f]{6}")
    workers = sorted(match[1] if (match := pattern.fullmatch(project)) else project for project in seen)
    assert workers == ["gw0", "gw1"], seen
    assert leftovers(tiny.prefix) == [], run.details()


# --- the demo ------------------------------------------------------------------------------------


def test_demo_ci_suite_passes_and_records_startup(tiny: Tiny, tmp_path: Path) -> None:
    """The real demo (app, PostgreSQL, Redis) passes suites/ci; JUnit carries the startup SLO; nothing is left."""
    token = secrets.token_hex(3)
    spec = yaml.safe_load((DEMO / "environments" / "dev.yml").read_text())
    spec["stack"]["compose_files"] = [str(DEMO / "docker-compose.yml")]
    spec["stack"]["env"]["POSTGRES_PASSWORD"] = "${env:ATHALIA_TEST_DB_PASSWORD}"
    spec["load"]["locustfile"] = str(DEMO / "locustfile.py")
    spec["security"]["bandit"]["paths"] = [str(DEMO / "app")]
    env_file = tmp_path / f"dev{token}.yml"
    env_file.write_text(yaml.safe_dump(spec))
    prefix = f"athalia-dev{token}-"
    password = secrets.token_urlsafe(24)
    try:
        run, code = tiny.run(
            env_file=env_file,
            cwd=REPO,
            tests=Path("suites/ci"),
            extra_env={"ATHALIA_TEST_DB_PASSWORD": password},
            timeout=600,  # the demo may still need building; the tiny stack's 120 s is not enough
        )

        assert code == 0, run.details()
        properties = _junit_properties(run.junit)
        assert "athalia.startup.measured" in properties, properties
        limit = float(spec["slo"]["startup"]["max_seconds"])
        assert float(properties.get("athalia.startup.threshold", "nan")) == limit, properties
        assert float(properties["athalia.startup.measured"]) <= limit, properties
        assert leftovers(prefix) == [], run.details()
        for written in (run.output(), run.junit.read_text(), run.report.read_text()):
            assert password not in written, "the database password leaked into the run's output or reports"
    finally:
        _clean_up(tiny.runs, [prefix])
