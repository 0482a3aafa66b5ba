"""Operate a running pair: restart, unlock, switchover.

Every command reads each node in one round trip (in parallel) before it acts, every
remote failure is an error unless expected, and every wait is bounded.
"""

from __future__ import annotations

import time

from lbdeploy.components import units
from lbdeploy.components.keepalived import standby_script
from lbdeploy.core.credentials import NO_CREDENTIALS, Credentials
from lbdeploy.core.desired import Desired, PairState
from lbdeploy.core.report import Report, StepResult
from lbdeploy.errors import LbdeployError
from lbdeploy.remote.locks import unlock_script
from lbdeploy.remote.polls import wait_until_serving
from lbdeploy.remote.runs import Emit, NodeRun, not_ready, on_each, open_runs
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import cmd

MOVE_TIMEOUT = 30.0


def restart_script(verb: str, services: tuple[str, ...]) -> Script:
    """Restart (or reload) the services, and fail unless they run afterwards.

    An operator's restart clears systemd's start limit first: Debian's frr.service allows
    3 starts in 3 minutes, which `up` on a bare node (install, then a restart) and one
    more restart use up; the next `lbdeploy restart --service frr` was refused (seen in
    the lab) and left FRR stopped. The limit is there for a crash loop, not for this.
    """
    script = Script()
    if verb == "restart":
        script.run(cmd("systemctl reset-failed {units} 2>/dev/null || true", units=services))
    script.run(cmd("systemctl {verb} {units}", verb=verb, units=services))
    return script.run(cmd("systemctl is-active -q {units}", units=services))


def unlock(desired: Desired, emit: Emit, creds: Credentials = NO_CREDENTIALS) -> Report:
    """Remove a lock left by a killed run, saying whose it was."""
    start = time.monotonic()
    report = Report("unlock", {})
    script = unlock_script()

    def remove(run: NodeRun) -> None:
        holder = run.session.run(script, step="unlock", timeout=30).stdout.strip()
        detail = "was not locked" if holder == "none" else f"removed the lock of {holder}"
        run.record(StepResult("lock", "ok" if holder == "none" else "changed", detail), emit)

    with open_runs(desired, creds, lock=False) as runs:
        report.nodes = runs.reports
        if runs.complete:
            on_each(runs.ready, remove)
    report.seconds = time.monotonic() - start
    return report


def _refuse_unless_able(pair: PairState, run: NodeRun) -> None:
    """The switchover target must run both daemons, or the VIPs would have nowhere to go."""
    down = [
        s
        for s in units(pair)
        if s not in run.facts.services or run.facts.services[s].active != "active"
    ]
    if down:
        raise LbdeployError(
            f"{run.name}: {' and '.join(down)} not running; it cannot take the VIPs"
        )


def switchover(
    desired: Desired,
    to: str | None,
    emit: Emit,
    creds: Credentials = NO_CREDENTIALS,
) -> Report:
    """Put every node but `to` on standby (or, with to=None, none) and wait until it serves."""
    start = time.monotonic()
    report = Report("switchover" if to else "switchover --back", {})
    with open_runs(desired, creds, lock=True, command=report.command) as runs:
        report.nodes = runs.reports
        if not runs.complete:
            report.notes.append(not_ready("moved"))
            return report
        for run in runs.ready:
            if run.name == to:
                _refuse_unless_able(desired.pair, run)

        def flag(run: NodeRun) -> None:
            standby = to is not None and run.name != to
            run.session.run(standby_script(standby), step="standby", timeout=30)
            detail = "on standby" if standby else "ready to hold VIPs"
            run.record(StepResult("standby", "changed", detail), emit)

        on_each(runs.ready, flag)
        if any(r.report.failed for r in runs.ready):
            report.notes.append("the standby flag could not be written everywhere; see errors")
        else:
            _await_move(report, desired, runs.ready, to)
    report.seconds = time.monotonic() - start
    return report


def _await_move(report: Report, desired: Desired, runs: list[NodeRun], to: str | None) -> None:
    t0 = time.monotonic()
    problems = wait_until_serving(desired.pair, runs, timeout=MOVE_TIMEOUT, expect_on=to)
    took = time.monotonic() - t0
    if problems:
        report.notes += problems
        for run in runs:
            run.report.error = run.report.error or "the VIPs did not arrive in time"
        return
    report.converged_after = round(took, 2)
    where = to or "their preferred masters"
    report.notes.append(f"every VIP is on {where} and answers, after {took:.2f} s")
    if to is not None:
        report.notes.append("hand them back with: lbdeploy switchover --back")
