"""One line per phase of long work, with elapsed time, on pytest's terminal.

pytest captures output while fixtures run, so lines are written through the
terminal reporter with capture suspended; without a terminal (xdist workers,
the CLI) they go to a plain callable instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import pytest

__all__ = ["Progress", "terminal_progress"]

Sink = Callable[[str], None]


class Progress:
    """Reports phases: ``athalia: <phase> ...`` then ``athalia: <phase> done in 3.2s``."""

    def __init__(self, sink: Sink, *, prefix: str = "athalia: ") -> None:
        self._sink = sink
        self._prefix = prefix

    def line(self, text: str) -> None:
        self._sink(self._prefix + text)

    @contextmanager
    def phase(self, name: str) -> Iterator[Callable[[str], None]]:
        """Time a phase; the yielded callable reports intermediate steps with elapsed time."""
        start = time.monotonic()
        self.line(f"{name} ...")

        def step(text: str) -> None:
            self.line(f"{name}: {text} ({time.monotonic() - start:.1f}s)")

        try:
            yield step
        except BaseException as exc:
            self.line(f"{name} failed after {time.monotonic() - start:.1f}s ({type(exc).__name__})")
            raise
        self.line(f"{name} done in {time.monotonic() - start:.1f}s")


def terminal_progress(config: pytest.Config) -> Progress:
    """A Progress that writes to pytest's terminal, or to stderr where there is none."""
    reporter: Any = config.pluginmanager.get_plugin("terminalreporter")
    capman: Any = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return Progress(lambda text: print(text, file=sys.stderr, flush=True))

    def sink(text: str) -> None:
        suspended = capman.global_and_fixture_disabled() if capman is not None else nullcontext()
        with suspended:
            reporter.ensure_newline()
            reporter.write_line(text)

    return Progress(sink)
