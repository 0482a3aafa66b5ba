"""Operate a running pair: restart, unlock, status, verify, failover-test, switchover.

Every command reads each node in one round trip (in parallel) before it acts, and
every wait is bounded.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from shlex import quote

from lbdeploy.desired import NodeState
from lbdeploy.errors import LbdeployError, UsageError
from lbdeploy.facts import LOCK_DIR, STANDBY_FILE
from lbdeploy.health import (
    NodeStatus,
    answer_from_holder,
    node_status,
    status_lines,
    verify_problems,
    vip_holders,
)
from lbdeploy.report import Report, StepResult
from lbdeploy.runs import (
    Emit,
    NodeRun,
    open_runs,
    parallel,
    poll_serving,
    refuse_unless_ready,
    rolling_order,
    wait_until_serving,
)
from lbdeploy.shell import Secret

MOVE_TIMEOUT = 30.0
FAST_POLL = 0.05


def restart_services(
    states: list[NodeState],
    services: tuple[str, ...],
    reload: bool,
    emit: Emit,
    become_password: Secret | None = None,
) -> Report:
    """`lbdeploy restart`: one node at a time, backups first; stop at the first failure."""
    start = time.monotonic()
    verb = "reload" if reload else "restart"
    report = Report(verb, {})
    with open_runs(states, become_password, lock=True) as runs:
        report.nodes = {r.state.name: r.report for r in runs}
        if not refuse_unless_ready(report, runs, "restarted"):
            for run in rolling_order(runs):
                assert run.session is not None
                names = " ".join(quote(s) for s in services)
                script = f"set -e\nsystemctl {verb} {names}\nsystemctl is-active -q {names}\n"
                t0 = time.monotonic()
                result = run.session.run_script(script, timeout=120)
                ok = result.exit_code == 0
                step = StepResult(
                    "services",
                    "changed" if ok else "failed",
                    f"{verb} {', '.join(services)}",
                    time.monotonic() - t0,
                )
                run.record(step, emit)
                if not ok:
                    run.report.error = f"{verb} failed: {result.stderr.strip()[-500:]}"
                    break
    report.seconds = time.monotonic() - start
    return report


def unlock(states: list[NodeState], emit: Emit, become_password: Secret | None = None) -> Report:
    """Remove a lock left by a killed run, saying whose it was."""
    start = time.monotonic()
    report = Report("unlock", {})
    with open_runs(states, become_password, lock=False) as runs:
        report.nodes = {r.state.name: r.report for r in runs}

        def remove(run: NodeRun) -> None:
            assert run.session is not None
            script = (
                f"if [ -d {LOCK_DIR} ]; then cat {LOCK_DIR}/holder 2>/dev/null || echo unknown;"
                f" rm -rf {LOCK_DIR}; else echo none; fi\n"
            )
            holder = run.session.run_script(script, timeout=30).stdout.strip()
            detail = "was not locked" if holder == "none" else f"removed the lock of {holder}"
            step = StepResult("lock", "ok" if holder == "none" else "changed", detail)
            run.record(step, emit)

        if not any(r.report.error for r in runs):
            parallel(runs, remove)
    report.seconds = time.monotonic() - start
    return report


# --- status and verify ---------------------------------------------------------------


def gather_status(
    states: list[NodeState], become_password: Secret | None = None
) -> list[NodeStatus]:
    """Every node's status in one round trip each, in parallel; no lock, nothing changed."""
    statuses: dict[str, NodeStatus] = {}
    # The status lines depend only on the shared services, so one set serves every node.
    extra = status_lines(states[0])
    with open_runs(states, become_password, lock=False, extra=extra) as runs:
        for run in runs:
            if run.report.error or run.facts is None:
                statuses[run.state.name] = NodeStatus(run.state.name, error=run.report.error)
                continue
            drift = tuple(
                p
                for p, spec in run.files.items()
                if p in run.facts.files and run.facts.files[p].sha256 != spec.sha256
            )
            statuses[run.state.name] = node_status(run.state, run.facts, run.raw, drift)
    return [statuses[s.name] for s in states]


def check_from_here(vip: str, port: int, mode: str, timeout: float = 3.0) -> str:
    """'ok', what went wrong, or 'unreachable from here' (then ask a node)."""
    if mode == "http":
        try:
            with urllib.request.urlopen(f"http://{vip}:{port}/", timeout=timeout) as response:
                return "ok" if response.status < 500 else f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            return "ok" if exc.code < 500 else f"HTTP {exc.code}"
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ConnectionRefusedError):
                return "connection refused"
            return "unreachable from here"
        except OSError:
            return "unreachable from here"
    try:
        with socket.create_connection((vip, port), timeout=timeout):
            return "ok"
    except ConnectionRefusedError:
        return "connection refused"
    except OSError:
        return "unreachable from here"


@dataclass
class Verdict:
    statuses: list[NodeStatus]
    answers: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def verify(states: list[NodeState], become_password: Secret | None = None) -> Verdict:
    """Exactly one holder per VIP, every service answering on it, haproxy running everywhere."""
    statuses = gather_status(states, become_password)
    answers: dict[str, str] = {}
    first = states[0]
    for svc in first.services:
        vip = str(svc.vip or first.default_vip)
        target = f"{vip}:{svc.port}"
        answer = check_from_here(vip, svc.port, svc.mode)
        if answer == "unreachable from here":
            # Ask the node holding the VIP: the status round trip probed the port from inside.
            holder = next((s for s in statuses if vip in s.holds), None)
            answer = answer_from_holder(holder, target, svc.mode)
        answers[target] = answer
    return Verdict(statuses, answers, verify_problems(states, statuses, answers))


# --- failover-test and switchover -----------------------------------------------------


@dataclass
class Move:
    """How long a VIP took to move, and where it went."""

    vip: str
    away_from: str
    to: str | None = None
    failover_seconds: float | None = None
    failback_seconds: float | None = None
    notes: list[str] = field(default_factory=list)


def _holders_now(runs: list[NodeRun]) -> tuple[dict[str, list[str]], dict[str, dict]]:
    addresses, probes = poll_serving(runs)
    return vip_holders([r.state for r in runs], addresses), probes


def _wait_for(
    runs: list[NodeRun],
    vip: str,
    answer: tuple[int, str] | None,
    condition: Callable[[list[str]], bool],
    timeout: float = MOVE_TIMEOUT,
) -> tuple[float | None, list[str]]:
    """Poll fast (bounded) until `condition(holders)` and the VIP answers; seconds or None."""
    start = time.monotonic()
    holders: list[str] = []
    while time.monotonic() - start < timeout:
        all_holders, _ = _holders_now(runs)
        holders = all_holders.get(vip, [])
        if condition(holders) and (
            answer is None or check_from_here(vip, answer[0], answer[1], timeout=1) == "ok"
        ):
            return time.monotonic() - start, holders
        time.sleep(FAST_POLL)
    return None, holders


def failover_test(
    states: list[NodeState],
    vip: str | None,
    crash: bool,
    emit: Emit,
    become_password: Secret | None = None,
) -> Move:
    """Break haproxy (or freeze keepalived) on the VIP's holder, time the move and the way back.

    The pair is always put back as it was, also on Ctrl-C.
    """
    with open_runs(states, become_password, lock=True) as runs:
        errors = [f"{r.state.name}: {r.report.error}" for r in runs if r.report.error]
        if errors:
            raise LbdeployError("; ".join(errors))
        vips = [str(role.vip) for role in states[0].vrrp]
        vip = vip or vips[0]
        if vip not in vips:
            raise UsageError(f"{vip} is not a VIP of this inventory ({', '.join(vips)})")
        holders, _ = _holders_now(runs)
        if len(holders.get(vip, [])) != 1:
            raise LbdeployError(
                f"VIP {vip} is held by {holders.get(vip) or 'no node'}; run `lbdeploy verify` first"
            )
        master = holders[vip][0]
        run = next(r for r in runs if r.state.name == master)
        assert run.session is not None
        service = next(
            (s for s in states[0].services if str(s.vip or states[0].default_vip) == vip), None
        )
        answer = (service.port, service.mode) if service else None
        if answer and check_from_here(vip, *answer) == "unreachable from here":
            answer = None  # the operator cannot reach the VIP: judge by the holder alone
        move = Move(vip, master)
        if answer is None:
            move.notes.append("the VIP cannot be reached from here: timed by the holder only")
        break_it = "pkill -STOP -x keepalived" if crash else "systemctl stop haproxy"
        mend_it = "pkill -CONT -x keepalived" if crash else "systemctl start haproxy"
        what = "froze keepalived" if crash else "stopped haproxy"
        try:
            run.session.run_script(f"{break_it}\n", timeout=30)
            emit(master, StepResult("failover", "changed", f"{what} on {master}"))
            took, now = _wait_for(runs, vip, answer, lambda h: any(n != master for n in h))
            move.failover_seconds = took
            move.to = next((n for n in now if n != master), None)
        finally:
            run.session.run_script(f"{mend_it}\n", timeout=30)
            emit(master, StepResult("failover", "changed", f"undid it: {mend_it}"))
        preempt = not any(role.nopreempt for role in run.state.vrrp)
        if preempt:
            took, _ = _wait_for(runs, vip, answer, lambda h: h == [master])
            move.failback_seconds = took
        else:
            move.notes.append("nopreempt: the VIP stays where it went")
    return move


def switchover(
    states: list[NodeState],
    to: str | None,
    emit: Emit,
    become_password: Secret | None = None,
) -> Report:
    """Put every node but `to` on standby (or, with to=None, none) and wait until it serves."""
    start = time.monotonic()
    report = Report("switchover" if to else "switchover --back", {})
    with open_runs(states, become_password, lock=True) as runs:
        report.nodes = {r.state.name: r.report for r in runs}
        if refuse_unless_ready(report, runs, "moved"):
            return report
        if to is not None:
            target = next(r for r in runs if r.state.name == to)
            assert target.facts is not None
            down = [
                s
                for s in ("haproxy", "keepalived")
                if target.facts.services.get(s) is None
                or target.facts.services[s].active != "active"
            ]
            if down:
                raise LbdeployError(
                    f"{to}: {' and '.join(down)} not running; it cannot take the VIPs"
                )

        def flag(run: NodeRun) -> None:
            assert run.session is not None
            value = "1" if to is not None and run.state.name != to else "0"
            run.session.run_script(f"echo {value} > {quote(STANDBY_FILE)}\n", timeout=30)
            detail = "on standby" if value == "1" else "ready to hold VIPs"
            step = StepResult("standby", "changed", detail)
            run.record(step, emit)

        parallel(runs, flag)
        t0 = time.monotonic()
        problems = wait_until_serving(runs, timeout=MOVE_TIMEOUT, expect_on=to)
        took = time.monotonic() - t0
        if problems:
            report.notes += problems
            for run in runs:
                run.report.error = run.report.error or "the VIPs did not arrive in time"
        else:
            report.converged_after = round(took, 2)
            where = to or "their preferred masters"
            report.notes.append(f"every VIP is on {where} and answers, after {took:.2f} s")
            if to is not None:
                report.notes.append("hand them back with: lbdeploy switchover --back")
    report.seconds = time.monotonic() - start
    return report
