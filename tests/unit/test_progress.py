"""Running steps: a live line on a terminal, nothing extra in a log."""

from __future__ import annotations

import io

from rich.console import Console

from lbdeploy.cli.progress import StepPrinter
from lbdeploy.core.report import StepResult


def test_a_log_gets_finished_steps_only_one_line_each() -> None:
    out = io.StringIO()
    printer = StepPrinter(Console(file=out, force_terminal=False, width=40, soft_wrap=True))
    printer("hera", StepResult("packages", "running", "install keepalived haproxy socat"))
    printer("hera", StepResult("packages", "changed", "install keepalived haproxy socat", 12.0))
    printer.close()
    lines = out.getvalue().splitlines()
    assert lines == ["hera         packages   changed  install keepalived haproxy socat"]
    assert "\x1b" not in out.getvalue() and "running" not in out.getvalue()


class Clock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_terminal_sees_each_running_step_count_up_until_it_ends() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    clock = Clock()
    printer = StepPrinter(console, clock=clock)
    printer("hera", StepResult("packages", "running", "install keepalived haproxy"))
    printer("afrodita", StepResult("packages", "running", "install keepalived haproxy"))
    clock.now += 3.4
    shown = [line.plain for line in printer.lines(printer.now())]
    assert shown == [
        "afrodita     packages   running 3 s  install keepalived haproxy",
        "hera         packages   running 3 s  install keepalived haproxy",
    ]
    printer("hera", StepResult("packages", "changed", "install keepalived haproxy"))
    assert [line.plain[:4] for line in printer.lines(printer.now())] == ["afro"]
    printer("afrodita", StepResult("packages", "failed", "apt said no"))
    assert printer.lines(printer.now()) == []
    text = out.getvalue()
    assert "hera         packages   changed" in text and "afrodita     packages   failed" in text


def test_close_ends_the_live_lines_after_an_error() -> None:
    out = io.StringIO()
    printer = StepPrinter(Console(file=out, force_terminal=True, width=80, color_system=None))
    printer("hera", StepResult("packages", "running", "install"))
    printer.close()
    assert printer.lines(printer.now()) == []
    printer.close()  # twice is harmless


def test_json_and_quiet_print_nothing() -> None:
    out = io.StringIO()
    printer = StepPrinter(Console(file=out, force_terminal=True), silent=True)
    printer("hera", StepResult("packages", "running", "install"))
    printer("hera", StepResult("packages", "changed", "install"))
    assert out.getvalue() == ""
