"""Step lines as they happen, and on a terminal a live line for each step still running.

A long step (apt on a cold node takes 15-25 s) shows which node runs what and for how
long, refreshed in place; when the step ends its line is printed for good above the
live lines. Off a terminal (a pipe, a CI log) only the finished lines are printed, one
line per step, so nothing is redrawn or wrapped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from lbdeploy.cli.display import plain, print_step
from lbdeploy.cli.terminal import escape_controls
from lbdeploy.core.report import StepResult

REFRESH_PER_SECOND = 4


class StepPrinter:
    """An `Emit`: prints finished steps; shows running ones live on a terminal."""

    def __init__(
        self, console: Console, silent: bool = False, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._console = console
        self._silent = silent
        self._clock = clock  # seconds; a test passes its own, so no test reads the wall clock
        self._live_ok = console.is_terminal and not console.is_dumb_terminal
        self._running: dict[tuple[str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._live: Live | None = None

    def __call__(self, node: str, step: StepResult) -> None:
        if self._silent:
            return
        with self._lock:
            key = (node, step.step)
            if step.status == "running":
                if self._live_ok:
                    self._running[key] = (self._clock(), step.detail)
                    self._start()
                return
            self._running.pop(key, None)
            print_step(self._console, node, step)
            if not self._running:
                self._stop()

    def close(self) -> None:
        """Leave the terminal as it was, also when the run ends by an error or Ctrl-C."""
        with self._lock:
            self._running.clear()
            self._stop()

    def _start(self) -> None:
        if self._live is None:
            self._live = Live(
                _Running(self),
                console=self._console,
                refresh_per_second=REFRESH_PER_SECOND,
                transient=True,
            )
            self._live.start()

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def now(self) -> float:
        return self._clock()

    def lines(self, now: float) -> list[Text]:
        """'hera  packages  running 12 s: install keepalived haproxy', one per running step."""
        shown = []
        # A copy, taken without the lock: rich's refresh thread calls this while holding the
        # console's lock, which a step being printed may hold ours while waiting for;
        # dict.copy() runs whole under the GIL.
        for (node, step), (started, what) in sorted(self._running.copy().items()):
            line = plain(f"{node:<12} {step:<10} ")
            line.append(f"running {now - started:.0f} s", style="cyan")
            if what:
                line.append(escape_controls(f"  {what}"))
            shown.append(line)
        return shown


class _Running:
    """The live region: recomputed at each refresh, so the seconds count up."""

    def __init__(self, printer: StepPrinter) -> None:
        self._printer = printer

    def __rich__(self) -> RenderableType:
        lines = self._printer.lines(self._printer.now())
        for line in lines:
            line.no_wrap = True
            line.overflow = "ellipsis"
        return Group(*lines)
