"""Progress: one line per phase of long work, with elapsed time."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from pytest_athalia.report import _progress as progress_module
from pytest_athalia.report._progress import Progress, terminal_progress


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress_module, "time", fake)
    return fake


@pytest.fixture
def lines() -> list[str]:
    return []


def test_line_is_prefixed(lines: list[str]) -> None:
    """A plain line carries the `athalia: ` prefix, or the one given."""
    Progress(lines.append).line("hello")
    Progress(lines.append, prefix="[x] ").line("there")
    assert lines == ["athalia: hello", "[x] there"]


def test_phase_reports_start_and_done_with_elapsed_time(lines: list[str], clock: Clock) -> None:
    """A phase prints `<name> ...` on entry and `<name> done in N.Ns` on exit."""
    with Progress(lines.append).phase("building images"):
        assert lines == ["athalia: building images ..."]
        clock.now += 3.24
    assert lines == ["athalia: building images ...", "athalia: building images done in 3.2s"]


def test_steps_report_elapsed_time_since_the_phase_began(lines: list[str], clock: Clock) -> None:
    """Each step line names the phase, the step and the time since the phase started."""
    with Progress(lines.append).phase("starting stack") as step:
        clock.now += 1.0
        step("db healthy")
        clock.now += 1.5
        step("app healthy")
    assert lines[1:] == [
        "athalia: starting stack: db healthy (1.0s)",
        "athalia: starting stack: app healthy (2.5s)",
        "athalia: starting stack done in 2.5s",
    ]


def test_failure_line_names_the_exception_and_reraises(lines: list[str], clock: Clock) -> None:
    """An error in a phase prints `failed after` with its type, and still propagates unchanged."""
    error = RuntimeError("compose exploded")

    def run() -> None:
        with Progress(lines.append).phase("compose up"):
            clock.now += 7.06
            raise error

    with pytest.raises(RuntimeError) as info:
        run()
    assert info.value is error
    assert lines == ["athalia: compose up ...", "athalia: compose up failed after 7.1s (RuntimeError)"]


def test_interrupt_is_reported_and_propagated(lines: list[str], clock: Clock) -> None:
    """Ctrl-C during a phase is reported as a failed phase, and is not swallowed."""
    with pytest.raises(KeyboardInterrupt), Progress(lines.append).phase("build"):
        raise KeyboardInterrupt
    assert lines[-1] == "athalia: build failed after 0.0s (KeyboardInterrupt)"
    assert not any("done" in line for line in lines)


def test_phases_use_the_real_clock_by_default(lines: list[str]) -> None:
    """Without a fake clock the elapsed time is a small non-negative number of seconds."""
    with Progress(lines.append).phase("quick"):
        pass
    assert lines[-1] in {"athalia: quick done in 0.0s", "athalia: quick done in 0.1s"}


# -- terminal_progress ------------------------------------------------------------------------------------


def fake_config(plugins: dict[str, object]) -> pytest.Config:
    manager = SimpleNamespace(get_plugin=plugins.get)
    return cast(pytest.Config, SimpleNamespace(pluginmanager=manager))


def test_without_a_terminal_lines_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """No terminal reporter (xdist worker, CLI): lines are printed to stderr."""
    terminal_progress(fake_config({})).line("to stderr")
    out, err = capsys.readouterr()
    assert (out, err) == ("", "athalia: to stderr\n")


def test_with_a_terminal_lines_are_written_with_capture_suspended() -> None:
    """Lines go through the terminal reporter, each on a fresh line, while capture is suspended."""
    events: list[str] = []

    class Suspended:
        def __enter__(self) -> None:
            events.append("suspend")

        def __exit__(self, *exc: object) -> None:
            events.append("resume")

    reporter: Any = SimpleNamespace(
        ensure_newline=lambda: events.append("newline"), write_line=lambda text: events.append(text)
    )
    capman: Any = SimpleNamespace(global_and_fixture_disabled=Suspended)
    terminal_progress(fake_config({"terminalreporter": reporter, "capturemanager": capman})).line("hi")
    assert events == ["suspend", "newline", "athalia: hi", "resume"]


def test_with_a_terminal_but_no_capture_manager_lines_are_still_written() -> None:
    """`-p no:capture` leaves no capture manager; lines are written all the same."""
    written: list[str] = []
    reporter: Any = SimpleNamespace(ensure_newline=lambda: None, write_line=written.append)
    terminal_progress(fake_config({"terminalreporter": reporter})).line("hi")
    assert written == ["athalia: hi"]
