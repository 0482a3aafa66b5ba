"""Carry plans out over SSH: facts in parallel, rolling service changes, then wait for the VIP.

Order of a run: connect and gather facts (taking each node's lock) on every node at
once; if any node cannot be reached or is locked, stop before changing anything. Then
preparation steps run on all nodes in parallel; config and service changes roll, nodes
that are no VIP's preferred master first, and a failure stops the roll.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from shlex import quote

from lbdeploy.desired import NodeState
from lbdeploy.errors import LockHeld, NodeError, RemoteError
from lbdeploy.facts import (
    LOCK_DIR,
    SECTION,
    Facts,
    facts_script,
    parse_addresses,
    parse_facts,
    parse_probes,
    serving_script,
    split_sections,
)
from lbdeploy.plan import Plan, make_plan
from lbdeploy.render import (
    FileSpec,
    mask_config_secrets,
    mask_secrets,
    masked_diff,
    render_node,
)
from lbdeploy.report import NodeReport, Report, StepResult
from lbdeploy.scripts import MARK, VALIDATION_FAILED, change_script, services_script
from lbdeploy.shell import Secret
from lbdeploy.ssh import Session, connect
from lbdeploy.steps.base import Change

CONVERGE_TIMEOUT = 20.0
POLL_INTERVAL = 0.5
PREP_STEPS = ("network", "sysctl", "packages", "failsafe")

Emit = Callable[[str, StepResult], None]


@dataclass
class NodeRun:
    """One node's way through a run."""

    state: NodeState
    files: dict[str, FileSpec]
    report: NodeReport
    session: Session | None = None
    facts: Facts | None = None
    plan: Plan | None = None
    locked: bool = False


def lock_holder() -> str:
    """Who holds a node's lock, so a refused run can name it."""
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} since {since}"


def _parallel(runs: list[NodeRun], work: Callable[[NodeRun], None]) -> None:
    """Run `work` on every node at once; errors land in each node's report."""

    def guarded(run: NodeRun) -> None:
        try:
            work(run)
        except NodeError as exc:
            run.report.error = str(exc).removeprefix(f"{run.state.name}: ")

    with ThreadPoolExecutor(max_workers=max(1, len(runs))) as pool:
        list(pool.map(guarded, runs))


def _probes(state: NodeState) -> list[tuple[object, int]]:
    return [(svc.vip or state.default_vip, svc.port) for svc in state.services]


@contextmanager
def open_runs(
    states: list[NodeState], become_password: Secret | None, lock: bool
) -> Iterator[list[NodeRun]]:
    """Connect to every node and gather its facts (and lock); always unlock and close."""
    runs = [NodeRun(s, render_node(s), NodeReport(s.name)) for s in states]
    holder = lock_holder() if lock else None

    def gather(run: NodeRun) -> None:
        run.session = connect(run.state.name, run.state.ssh, become_password)
        run.report.counters = run.session.counters
        script = facts_script(list(run.files), _probes(run.state), holder)
        result = run.session.run_script(script, timeout=60)
        if result.exit_code != 0:
            raise RemoteError(
                run.state.name, "facts", "gather facts", result.exit_code, result.stderr
            )
        run.facts = parse_facts(result.stdout)
        if lock:
            if run.facts.lock != "acquired":
                raise LockHeld(run.state.name, run.facts.lock)
            run.locked = True

    try:
        _parallel(runs, gather)
        yield runs
    finally:
        _parallel([r for r in runs if r.session is not None], _release)


def _release(run: NodeRun) -> None:
    assert run.session is not None
    try:
        if run.locked:
            run.session.run_script(f"rm -rf {LOCK_DIR}\n", timeout=30)
            run.locked = False
    finally:
        run.session.close()


def _run_change(run: NodeRun, change: Change, emit: Emit) -> None:
    assert run.session is not None
    start = time.monotonic()
    result = run.session.run_script(change_script(change), timeout=900)
    took = time.monotonic() - start
    if result.exit_code != 0:
        # A daemon's complaint may quote a config line: mask what could be a password.
        message = mask_config_secrets(mask_secrets(result.stderr, run.state))
        if result.exit_code == VALIDATION_FAILED and MARK in message:
            target = message.split(MARK, 1)[1].strip()
            detail = f"{target} failed validation; the live file and running service are untouched"
        else:
            detail = change.why
        step = StepResult(change.step, "failed", detail, took)
        run.report.steps.append(step)
        emit(run.state.name, step)
        raise RemoteError(run.state.name, change.step, detail, result.exit_code, message)
    step = StepResult(change.step, "changed", change.why, took)
    run.report.steps.append(step)
    emit(run.state.name, step)


def _run_services(run: NodeRun, emit: Emit) -> None:
    assert run.session is not None and run.plan is not None
    actions = run.plan.services
    if not actions:
        return
    start = time.monotonic()
    names = " ".join(quote(a.service) for a in actions)
    script = services_script(actions) + f"systemctl is-active -q {names}\n"
    result = run.session.run_script(script, timeout=120)
    detail = ", ".join(f"{a.action} {a.service} ({a.why})" for a in actions)
    status = "changed" if result.exit_code == 0 else "failed"
    step = StepResult("services", status, detail, time.monotonic() - start)
    run.report.steps.append(step)
    emit(run.state.name, step)
    if result.exit_code != 0:
        raise RemoteError(run.state.name, "services", detail, result.exit_code, result.stderr)


def _rolling_order(runs: list[NodeRun]) -> list[NodeRun]:
    """Backups first, preferred masters last: the VIP moves at most once."""
    return sorted(runs, key=lambda r: r.state.is_master)


def _vip_holders(runs: list[NodeRun], addresses: dict[str, dict]) -> dict[str, list[str]]:
    holders: dict[str, list[str]] = {}
    for run in runs:
        iface = run.state.interface.name
        held = {a.ip for a in addresses.get(run.state.name, {}).get(iface, ())}
        for role in run.state.vrrp:
            holders.setdefault(str(role.vip), [])
            if role.vip in held:
                holders[str(role.vip)].append(run.state.name)
    return holders


def pair_problems(
    runs: list[NodeRun], addresses: dict[str, dict], probes: dict[str, dict[str, bool]]
) -> list[str]:
    """What keeps the pair from serving as planned; empty when it serves."""
    problems = []
    holders = _vip_holders(runs, addresses)
    first = runs[0].state
    for role in first.vrrp:
        vip = str(role.vip)
        held_by = holders.get(vip, [])
        if not held_by:
            problems.append(f"no node holds VIP {vip}")
        elif len(held_by) > 1:
            problems.append(f"VIP {vip} is held by {' and '.join(held_by)} (split brain)")
        elif not role.nopreempt and held_by[0] != role.preferred_master:
            problems.append(f"VIP {vip} is on {held_by[0]}, expected {role.preferred_master}")
        else:
            for svc in first.services:
                if str(svc.vip or first.default_vip) != vip:
                    continue
                target = f"{vip}:{svc.port}"
                if not probes.get(held_by[0], {}).get(target, False):
                    problems.append(f"nothing answers on {target} (service {svc.name})")
    return problems


def poll_serving(runs: list[NodeRun]) -> tuple[dict[str, dict], dict[str, dict[str, bool]]]:
    """One round trip per node, in parallel: its addresses and what answers on its VIPs."""
    addresses: dict[str, dict] = {}
    probes: dict[str, dict[str, bool]] = {}

    def poll(run: NodeRun) -> None:
        assert run.session is not None
        result = run.session.run_script(serving_script(_probes(run.state)), timeout=30)
        sections = split_sections(result.stdout)
        addresses[run.state.name] = parse_addresses(sections.get("addresses", []))
        probes[run.state.name] = parse_probes(sections.get("probes", []))

    _parallel(runs, poll)
    return addresses, probes


def wait_until_serving(runs: list[NodeRun], timeout: float = CONVERGE_TIMEOUT) -> list[str]:
    """Poll (bounded) until every VIP is on its expected node and answers; return what is left."""
    deadline = time.monotonic() + timeout
    while True:
        addresses, probes = poll_serving(runs)
        problems = pair_problems(runs, addresses, probes)
        if not problems or time.monotonic() >= deadline:
            return problems
        time.sleep(POLL_INTERVAL)


def converge(
    states: list[NodeState],
    emit: Emit,
    become_password: Secret | None = None,
    check: bool = False,
    diff: bool = False,
    whole_pair: bool = True,
) -> Report:
    """`lbdeploy up`: bring every node to its NodeState; with check, only say what would change."""
    start = time.monotonic()
    report = Report("up --check" if check else "up", {})
    with open_runs(states, become_password, lock=not check) as runs:
        report.nodes = {r.state.name: r.report for r in runs}
        if any(r.report.error for r in runs):
            report.notes.append("nothing was changed: every node must be reachable and unlocked")
            report.seconds = time.monotonic() - start
            return report
        for run in runs:
            assert run.facts is not None
            run.plan = make_plan(run.state, run.files, run.facts)
            run.report.drift = list(run.plan.drift)
        if check:
            _report_check(runs, emit, diff)
            report.seconds = time.monotonic() - start
            return report
        changed = _apply(runs, emit)
        if not whole_pair:
            report.notes.append("--node: the pair as a whole was not checked")
        elif not any(r.report.failed for r in runs):
            initial = pair_problems(runs, _fact_addresses(runs), _fact_probes(runs))
            if changed or initial:
                problems = wait_until_serving(runs)
                if problems:
                    report.notes += [
                        f"not serving after {CONVERGE_TIMEOUT:.0f} s: {p}" for p in problems
                    ]
                    for run in runs:
                        run.report.error = run.report.error or "the pair did not come up as planned"
                else:
                    report.converged_after = round(time.monotonic() - start, 2)
                    report.notes.append(
                        "serving: every VIP on its node and answering, "
                        f"{report.converged_after} s after start"
                    )
    report.seconds = time.monotonic() - start
    return report


def _fact_addresses(runs: list[NodeRun]) -> dict[str, dict]:
    return {r.state.name: r.facts.addresses for r in runs if r.facts}


def _fact_probes(runs: list[NodeRun]) -> dict[str, dict[str, bool]]:
    return {r.state.name: r.facts.probes for r in runs if r.facts}


def _apply(runs: list[NodeRun], emit: Emit) -> bool:
    """Preparation in parallel, then configs and services node by node. True if anything ran."""

    def prepare(run: NodeRun) -> None:
        assert run.plan is not None
        for change in run.plan.changes:
            if change.step in PREP_STEPS:
                _run_change(run, change, emit)

    _parallel(runs, prepare)
    if any(r.report.failed for r in runs):
        for run in runs:
            if not run.report.failed:
                run.report.steps.append(StepResult("configs", "skipped", "another node failed"))
        return True
    for index, run in enumerate(_rolling_order(runs)):
        assert run.plan is not None
        try:
            for change in run.plan.changes:
                if change.step not in PREP_STEPS:
                    _run_change(run, change, emit)
            _run_services(run, emit)
        except NodeError as exc:
            run.report.error = str(exc).removeprefix(f"{run.state.name}: ")
            for later in _rolling_order(runs)[index + 1 :]:
                later.report.steps.append(
                    StepResult("configs", "skipped", f"stopped after {run.state.name} failed")
                )
            return True
        if not run.report.steps:
            step = StepResult("all", "ok", "nothing to change")
            run.report.steps.append(step)
            emit(run.state.name, step)
    return any(r.plan and not r.plan.empty for r in runs)


def _report_check(runs: list[NodeRun], emit: Emit, diff: bool) -> None:
    if diff:
        _parallel(runs, _fetch_diffs)
    for run in runs:
        assert run.plan is not None
        for change in run.plan.changes:
            step = StepResult(change.step, "would change", change.why)
            run.report.steps.append(step)
            emit(run.state.name, step)
        for action in run.plan.services:
            step = StepResult(
                "services", "would change", f"{action.action} {action.service} ({action.why})"
            )
            run.report.steps.append(step)
            emit(run.state.name, step)
        if run.plan.empty:
            step = StepResult("all", "ok", "nothing to change")
            run.report.steps.append(step)
            emit(run.state.name, step)


def _fetch_diffs(run: NodeRun) -> None:
    """Second round trip of a check run: the live text of each file that would change."""
    assert run.session is not None and run.plan is not None
    paths = [u.spec.path for c in run.plan.changes for u in c.uploads if u.content_changed]
    if not paths:
        return
    script = "".join(f"echo '{SECTION}{p}'; cat {quote(p)} 2>/dev/null || true\n" for p in paths)
    result = run.session.run_script(script, timeout=60)
    live = split_sections(result.stdout)
    for path in paths:
        old = "".join(line + "\n" for line in live.get(path, []))
        run.report.diffs[path] = masked_diff(
            f"{run.state.name}:{path}", old, run.files[path].content
        )


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
        if any(r.report.error for r in runs):
            report.notes.append("nothing was restarted: every node must be reachable and unlocked")
        else:
            for run in _rolling_order(runs):
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
                run.report.steps.append(step)
                emit(run.state.name, step)
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
            run.report.steps.append(step)
            emit(run.state.name, step)

        if not any(r.report.error for r in runs):
            _parallel(runs, remove)
    report.seconds = time.monotonic() - start
    return report
