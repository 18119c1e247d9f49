"""The state of one pytest run: settings, environment, stacks, watchdog and report book.

It lives in ``config.stash``; plugin.py only holds options and hooks.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest

from ._errors import AthaliaError, ConfigError
from .config._secrets import Redactor
from .config._settings import Settings, check_environments_folder, read_settings
from .report._artifact import ReportBook, write_atomically
from .report._progress import Progress, terminal_progress

if TYPE_CHECKING:
    from .config._environment import Environment
    from .report._identity import CandidateFacts
    from .stack._stack import Stack, StartupReport

__all__ = ["AthaliaRuntime", "runtime_of"]

_KEY = pytest.StashKey["AthaliaRuntime"]()


def runtime_of(config: pytest.Config) -> AthaliaRuntime:
    """The run's state (settings, environment, redactor, progress, watchdog)."""
    try:
        return config.stash[_KEY]
    except KeyError:
        raise AthaliaError(
            "athalia: the plugin is not configured in this pytest run; is it disabled with -p no:athalia?"
        ) from None


@dataclass(eq=False)  # registered as a plugin: pluggy keeps plugins in sets, so hash by identity
class AthaliaRuntime:
    config: pytest.Config
    settings: Settings
    environment: Environment | None
    environment_error: ConfigError | None
    redactor: Redactor = field(default_factory=Redactor)
    book: ReportBook = field(default_factory=ReportBook)
    stacks: list[Stack] = field(default_factory=list)
    startups: list[StartupReport] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    used: bool = False  # an athalia fixture ran: the run's artifacts are written
    _watchdog: Any = None
    _progress: Progress | None = None
    _previous_sigterm: Any = None

    @classmethod
    def install(cls, config: pytest.Config) -> AthaliaRuntime:
        """Read settings and load the environment at start-up; bad input is a UsageError."""
        try:
            settings = read_settings(config)
            check_environments_folder(config, settings)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        environment: Environment | None = None
        error: ConfigError | None = None
        envdir = settings.environments_dir
        # Validate now when the user chose an environment or has an environments folder.
        try:
            if settings.env_is_explicit or envdir.value.is_dir():
                from .config._environment import load_environment  # pydantic: only when athalia is configured

                # The default folder came from no setting: name every one that would move it.
                where = (
                    "--athalia-environments, ATHALIA_ENVIRONMENTS or ini athalia_environments"
                    if envdir.origin == "default"
                    else envdir.origin
                )
                environment = load_environment(
                    settings.env.value, envdir.value, origin=settings.env.origin, folder_origin=where
                )
        except ConfigError as exc:
            # --help must still work with a bad ATHALIA_ENV; a folder that nobody configured
            # (the plugin is merely installed) is reported only when a test asks for a stack.
            asked_for_help = bool(config.getoption("help", False) or config.getoption("version", False))
            if (settings.env_is_explicit or envdir.origin != "default") and not asked_for_help:
                raise pytest.UsageError(str(exc)) from None
            error = exc
        if environment is None and error is None:
            error = ConfigError(
                f"athalia: no environment is configured: the environments folder {envdir.value} "
                f"({envdir.origin}) does not exist. Pass --athalia-env NAME|PATH, set ATHALIA_ENV, "
                "or set the ini key athalia_environments to the folder holding NAME.yml files."
            )
        runtime = cls(config, settings, environment, error)
        config.stash[_KEY] = runtime
        return runtime

    # -- pieces created on first use --------------------------------------------------------------
    @property
    def progress(self) -> Progress:
        if self._progress is None:
            self._progress = terminal_progress(self.config)
        return self._progress

    @property
    def watchdog(self) -> Any:
        if self._watchdog is None:
            from .stack._cleanup import generated_root
            from .stack._watchdog import Watchdog

            logdir = generated_root()
            logdir.mkdir(parents=True, exist_ok=True)
            self._watchdog = Watchdog.start(log_path=logdir / f"watchdog-{os.getpid()}.log")
            # From now on the run owns resources outside pytest: SIGTERM must run the finalizers.
            self._install_sigterm()
        return self._watchdog

    def watch_process_group(self, pgid: int) -> None:
        """A `GroupRegistry` that starts the watchdog only when a group needs it."""
        self.watchdog.watch_process_group(pgid)

    def forget_process_group(self, pgid: int) -> None:
        if self._watchdog is not None:
            self._watchdog.forget_process_group(pgid)

    def require_environment(self) -> Environment:
        self.used = True
        if self.environment is None:
            assert self.environment_error is not None
            pytest.fail(str(self.environment_error), pytrace=False)  # one paragraph, no traceback
        return self.environment

    @property
    def worker(self) -> str:
        worker: str = getattr(self.config, "workerinput", {}).get("workerid", "main")
        return worker

    @property
    def is_controller(self) -> bool:
        return not hasattr(self.config, "workerinput")

    def new_project_name(self, environment: Environment) -> str:
        from .stack._cleanup import make_project_name

        # A kept stack outlives its run: its name carries no owner pid, so no sweep of
        # dead runs removes it; `athalia cleanup --all` does.
        return make_project_name(environment.name, self.worker, None if self.settings.keep.value else os.getpid())

    def sweep_dead_runs(self) -> None:
        """Remove what runs that died left behind, before adding a stack of our own."""
        from .stack._cleanup import DockerResources, sweep, sweep_files

        for folder in sweep_files():
            self.progress.line(f"removed files of a dead run: {folder}")
        try:
            removed = sweep(DockerResources.from_env())
        except AthaliaError as exc:
            self.progress.line(f"could not sweep leftovers of dead runs: {exc}")
            return
        for leftovers in removed:
            self.progress.line(f"removed leftovers of a dead run: {leftovers.describe()}")

    # -- hooks: this object is registered as a plugin for the run ------------------------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # In the controller this also sees the reports of xdist workers, properties included.
        self.book.add(
            report.nodeid,
            report.when or "",
            report.outcome,
            report.user_properties,
            duration=report.duration,
            reason=_reason(report),
        )

    def add_stack(self, stack: Stack) -> None:
        """Track a stack for removal at the end; from now on SIGTERM must run the finalizers."""
        self._install_sigterm()
        self.stacks.append(stack)

    # -- shutdown ------------------------------------------------------------------------------------
    def stop_stacks(self) -> None:
        errors: list[str] = []
        while self.stacks:
            stack = self.stacks.pop()
            try:
                stack.stop()
            except AthaliaError as exc:
                errors.append(str(exc))
        if errors:
            raise AthaliaError("athalia: removing the stack failed:\n" + "\n".join(errors))

    def close(self, exitstatus: int | str) -> None:
        """Write the JSON report and the gate summaries, finish the JUnit file (controller only), then let
        the watchdog go."""
        report: dict[str, Any] | None = None  # as written: the summaries and the history take it as it is
        try:
            if self.is_controller:
                try:
                    if self.wants_artifacts:
                        self.book.run.update(self.run_info(exitstatus))
                        report = self.book.write(self.settings.report_path.value, self.redactor.redact)
                        self._write_summaries(report)
                finally:
                    self._finish_junit()
                if report is not None:
                    from .history._wire import record_run  # sqlite3/psycopg: only for runs that write a report

                    record_run(self.settings.history, report, self.settings.report_path.value, self.progress.line)
        finally:
            if self._watchdog is not None:
                self._watchdog.close()
                self._watchdog = None
            self._restore_sigterm()

    @property
    def wants_artifacts(self) -> bool:
        """Athalia checks ran, a fixture of ours was used, or an option asked for the report."""
        return self.used or bool(self.book.summary()["checks"]) or self.settings.report_path.origin != "default"

    def run_info(self, exitstatus: int | str) -> dict[str, Any]:
        """The report's ``run``: environment, candidate, git, CI, times and status (report/_identity.py)."""
        from .report._identity import GitCLI, StartupFacts, exit_code, run_identity

        env = self.environment
        startup = self.startups[0] if self.startups else None
        return run_identity(
            environ=os.environ,
            git=GitCLI(Path(str(self.config.rootpath))),
            environment=env.name if env else None,
            environment_file=_relative(env.path, self.config.rootpath) if env else None,
            candidate=self._candidate_facts(),
            host=platform.node(),
            started=self.started_at,
            finished=time.time(),
            exit_status=exit_code(exitstatus),
            startup=None
            if startup is None
            else StartupFacts(
                startup.project,
                startup.build_seconds,
                startup.startup_seconds,
                startup.deadline_seconds,
                startup.error,
            ),
        )

    def _candidate_facts(self) -> CandidateFacts | None:
        """The candidate as the rollout fixtures see it (ATHALIA_CANDIDATE_* applied); None without a rollout."""
        env = self.environment
        if env is None or not env.spec.rollout.enabled:
            return None
        from .fixtures._rollout import candidate_from
        from .report._identity import CandidateFacts

        live = dict(env.spec.stack.env)
        try:
            candidate = candidate_from(env, os.environ)
        except ConfigError:  # a bad ATHALIA_CANDIDATE_ENV: the rollout's tests said so; the file's candidate stands
            spec = env.spec.rollout.candidate
            return CandidateFacts(spec.image, {k: str(v) for k, v in spec.env.items()}, live)
        return CandidateFacts(candidate.image, dict(candidate.env), live)

    def _write_summaries(self, report: dict[str, Any]) -> None:
        """reports/athalia.prom and $GITHUB_STEP_SUMMARY, from the report as written (report/_summary.py)."""
        from .report._summary import write_summaries

        for problem in write_summaries(report, self.settings.report_path.value, os.environ):
            self.progress.line(problem)

    def _finish_junit(self) -> None:
        """Put our properties where the file's junit_family allows them (report/_junit.py), and mask
        secrets there too: testsuite properties bypass the test reports we redact."""
        xmlpath = getattr(self.config.option, "xmlpath", None)
        if not xmlpath:
            return
        from .report._junit import place_properties  # xml.etree: pytest's junitxml has it loaded already

        # Where pytest's junitxml wrote it: it expands ~ and $VARS first.
        path = Path(os.path.abspath(os.path.expanduser(os.path.expandvars(xmlpath))))
        if not path.is_file():
            return
        text = path.read_text(encoding="utf-8")
        fixed = place_properties(text, str(self.config.getini("junit_family")))
        if self.redactor:
            from xml.sax.saxutils import escape as xml_escape  # imports urllib and ssl: only when needed

            fixed = self.redactor.redact(fixed, also_escaped=xml_escape)
        if fixed != text:
            write_atomically(path, fixed)

    # -- SIGTERM: turn it into an interrupt so finalizers and reports still run ----------------------
    def _install_sigterm(self) -> None:
        if self._previous_sigterm is not None or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        try:
            self._previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
        except ValueError:  # not the main thread
            self._previous_sigterm = None

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is not None:
            with contextlib.suppress(ValueError):  # not the main thread
                signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None


def _sigterm_to_interrupt(signum: int, frame: FrameType | None) -> None:
    # A second SIGTERM kills at once; the watchdog still removes the stack then.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise KeyboardInterrupt("SIGTERM")


_REASON_CHARS = 4000


def _relative(path: Path, root: Path) -> str:
    """`path` from the rootdir when it lies below it (the same on every checkout), else absolute."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)


def _reason(report: pytest.TestReport) -> str | None:
    """Why a test did not pass, in one line: a skip's reason, an xfail's, or the failure's message."""
    if report.passed and not hasattr(report, "wasxfail"):
        return None
    wasxfail = getattr(report, "wasxfail", None)
    if wasxfail is not None:
        return ("xfail: " + str(wasxfail)).rstrip(": ") if report.skipped else "xpass: " + str(wasxfail)
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        text = str(longrepr[2])
        return text.removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    text = str(getattr(crash, "message", "") or (longrepr or "")).strip().removeprefix("Failed: ")
    # The message of pytest.fail, or the exception's own; a traceback stays in the JUnit file.
    return text[:_REASON_CHARS] or None
