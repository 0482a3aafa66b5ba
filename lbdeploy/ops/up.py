"""Carry plans out over SSH: facts in parallel, rolling config changes, then wait for the VIP.

Stages of `up`: gather (connect, facts, lock, on every node at once) → refuse unless
every node is ready → plan each node from its one snapshot → check (say what would
change) or apply (PREPARE changes in parallel, CONFIG changes and services node by
node, in the order that moves the VIPs least, backups first on a tie; a failure stops
the roll) → settle (wait until the pair serves).
"""

from __future__ import annotations

import time

from lbdeploy.components import daemons, keepalived
from lbdeploy.components.services import services_script
from lbdeploy.components.tls import certificate_warnings
from lbdeploy.core.acme import is_placeholder
from lbdeploy.core.acme_live import LocalState, PlaceholderFile, downgrades
from lbdeploy.core.bgp import PeerStatus
from lbdeploy.core.change_scripts import MARK, VALIDATION_FAILED, change_script
from lbdeploy.core.credentials import NO_CREDENTIALS, Credentials
from lbdeploy.core.desired import Desired, PairState
from lbdeploy.core.facts import Facts
from lbdeploy.core.files import Phase, mask_secret_lines
from lbdeploy.core.health import describe_servers, pair_problems
from lbdeploy.core.plan import Plan, make_plan
from lbdeploy.core.platforms import problems
from lbdeploy.core.report import Report, StepResult
from lbdeploy.errors import AcmeStateMissing, LbdeployError, NodeError, RemoteError
from lbdeploy.ops.withdraw import ROUTES_TIMEOUT, peers_now, wait_announced
from lbdeploy.remote.polls import (
    BGP_TIMEOUT,
    CONVERGE_TIMEOUT,
    SYNC_TIMEOUT,
    poll_until_serving,
    settle_servers,
    settle_sessions,
    settle_sync,
)
from lbdeploy.remote.runs import Emit, NodeRun, Runs, not_ready, on_each, open_runs, roll_order
from lbdeploy.scripts.script import NOTE, Script, split_sections
from lbdeploy.scripts.shell import cmd

Plans = dict[str, Plan]


def converge(
    desired: Desired,
    emit: Emit,
    creds: Credentials = NO_CREDENTIALS,
    check: bool = False,
    diff: bool = False,
    whole_pair: bool = True,
    acme_state: LocalState | None = None,
    only: frozenset[str] | None = None,
) -> Report:
    """`lbdeploy up`: bring every node to its desired state; with check, only say what would.

    `acme_state`: this machine's ACME state directory, named when a placeholder would
    replace a certificate the nodes serve (`AcmeStateMissing`, before any change).
    `only`: write these managed paths and nothing else (`renew`), whatever else differs.
    """
    start = time.monotonic()
    report = Report("up --check" if check else "up", {})
    report.notes += certificate_warnings(desired.pair)
    with open_runs(desired, creds, lock=not check, command=report.command) as runs:
        report.nodes = runs.reports
        if not runs.complete or not _judge_platforms(desired.pair, runs, emit):
            report.notes.append(not_ready("changed"))
        else:
            _refuse_downgrades(desired.pair, runs, acme_state, only)
            plans = _plan_all(desired.pair, runs, emit, only)
            if check:
                _report_check(runs, plans, emit, diff)
            else:
                changed = _apply(runs, plans, emit)
                if not whole_pair:
                    report.notes.append("--node: the pair as a whole was not checked")
                elif not any(r.report.failed for r in runs.ready):
                    _settle(report, desired.pair, runs, changed, start)
    report.seconds = time.monotonic() - start
    return report


def _judge_platforms(pair: PairState, runs: Runs, emit: Emit) -> bool:
    """Say what each node is; refuse every node if any is one lbdeploy cannot manage."""
    iface, versions = pair.interface, daemons(pair)
    for run in runs.ready:
        address = ", ".join(map(str, pair.interfaces(run.node)))
        found = problems(run.platform, versions, iface.name, address, iface.manage)
        if not iface.manage and not run.facts.holds(iface.name, *run.node.addresses):
            found.append(
                f"{iface.name} lacks {address}, and `interface: {{manage: false}}` says it is"
                " not lbdeploy's to configure: give it the address first"
            )
        if found:
            run.record(StepResult("platform", "failed", run.platform.describe(versions)), emit)
            run.report.error = "; ".join(found)
        else:
            run.record(StepResult("platform", "ok", run.platform.describe(versions)), emit)
    return runs.complete


def _refuse_downgrades(
    pair: PairState, runs: Runs, acme_state: LocalState | None, only: frozenset[str] | None = None
) -> None:
    """Never put the placeholder over a certificate a node serves: this machine lacks the
    ACME state that issued it (or the service just left the files form)."""
    live = {r.name: {p: f.sha256 for p, f in r.facts.files.items()} for r in runs.ready}
    files = {
        PlaceholderFile(b.chain.names, b.path, r.files[b.path].sha256)
        for r in runs.ready
        for b in pair.bundles
        if is_placeholder(b.chain) and b.path in r.files and (only is None or b.path in only)
    }
    found = downgrades(tuple(sorted(files, key=lambda f: f.path)), live, acme_state or LocalState())
    if found:
        raise AcmeStateMissing(found)


def _plan_all(pair: PairState, runs: Runs, emit: Emit, only: frozenset[str] | None) -> Plans:
    """One plan per node from its one snapshot of facts; steps already right are reported."""
    plans = {}
    for run in runs.ready:
        plan = make_plan(pair, run.node, run.files, run.facts, run.platform, only)
        plans[run.name] = plan
        run.report.drift = list(plan.drift)
        for name in plan.ok:
            run.record(StepResult(name, "ok"), emit)
    return plans


def _run_change(run: NodeRun, change_step: str, script: Script, why: str, emit: Emit) -> None:
    start = time.monotonic()
    emit(run.name, StepResult(change_step, "running", why))  # shown live, not recorded
    try:
        result = run.session.run(script, step=change_step, what=why, timeout=900)
    except RemoteError as exc:
        # A daemon's complaint may quote a config line: mask what could be a password.
        patterns = sorted({f.secret_lines for f in run.files.values() if f.secret_lines})
        message = mask_secret_lines(exc.stderr, patterns)
        detail = why
        if exc.remote_exit == VALIDATION_FAILED and MARK in message:
            target = message.split(MARK, 1)[1].strip()
            detail = f"{target} failed validation; the live file and running service are untouched"
        run.record(StepResult(change_step, "failed", detail, time.monotonic() - start), emit)
        raise RemoteError(run.name, change_step, detail, exc.remote_exit, message) from None
    notes = [
        line.removeprefix(NOTE) for line in result.stdout.splitlines() if line.startswith(NOTE)
    ]
    detail = "; ".join([why, *notes])
    run.record(StepResult(change_step, "changed", detail, time.monotonic() - start), emit)


def _run_phase(run: NodeRun, plan: Plan, phase: Phase, emit: Emit) -> None:
    for change in plan.in_phase(phase):
        _run_change(run, change.step, change_script(change), change.why, emit)


def _run_services(pair: PairState, run: NodeRun, plan: Plan, emit: Emit) -> None:
    if plan.services:
        detail = ", ".join(f"{a.action} {a.service} ({a.why})" for a in plan.services)
        _run_change(run, "services", services_script(pair, plan.services), detail, emit)


def _skip(runs: list[NodeRun], why: str) -> None:
    for run in runs:
        run.report.steps.append(StepResult("configs", "skipped", why))


def _rolling_order(runs: list[NodeRun], plans: Plans) -> list[NodeRun]:
    """Backups first, unless preferred masters first moves the VIPs less (`roll`)."""
    return roll_order(
        runs, lambda run: any(keepalived.touched_by(a) for a in plans[run.name].services)
    )


def _apply(runs: Runs, plans: Plans, emit: Emit) -> bool:
    """PREPARE in parallel, then CONFIG and services node by node. True if anything ran."""
    on_each(runs.ready, lambda run: _run_phase(run, plans[run.name], Phase.PREPARE, emit))
    if any(r.report.failed for r in runs.ready):
        _skip([r for r in runs.ready if not r.report.failed], "another node failed")
        return True
    order = _rolling_order(runs.ready, plans)
    for index, run in enumerate(order):
        plan = plans[run.name]
        try:
            before = _announced_before(runs.pair, run, plan, last=index == len(order) - 1)
            _run_phase(run, plan, Phase.CONFIG, emit)
            _run_services(runs.pair, run, plan, emit)
            if before:
                _wait_announced(runs.pair, run, before, emit)
        except NodeError as exc:
            run.report.error = str(exc).removeprefix(f"{run.name}: ")
            _skip(order[index + 1 :], f"stopped after {run.name} failed")
            return True
    return any(not p.empty for p in plans.values())


def _announced_before(
    pair: PairState, run: NodeRun, plan: Plan, last: bool
) -> tuple[PeerStatus, ...]:
    """What an anycast node announces before its change, which the roll waits to see again
    before it changes the next node: a restarted FRR or HAProxy takes the node out of the
    routers for seconds, and the next node's change would take out a second (all of them,
    on a small set). Nothing (no wait) for the last node, an unchanged one, or one that
    announces nothing (withdrawn, or not serving)."""
    if pair.anycast is None or last or plan.empty:
        return ()
    peers = peers_now(pair, run)
    return peers if any(p.announced for p in peers) else ()


def _wait_announced(
    pair: PairState, run: NodeRun, before: tuple[PeerStatus, ...], emit: Emit
) -> None:
    try:
        waited = wait_announced(pair, run, ROUTES_TIMEOUT, before)
    except LbdeployError as exc:
        why = f"{exc}; the roll stops here, so the other nodes keep announcing"
        run.record(StepResult("anycast", "failed", why.removeprefix(f"{run.name}: ")), emit)
        raise NodeError(run.name, why.removeprefix(f"{run.name}: ")) from None
    detail = f"announces again what it announced before, {waited:.1f} s after its change"
    run.record(StepResult("anycast", "ok", detail, waited), emit)


def _settle(report: Report, pair: PairState, runs: Runs, changed: bool, start: float) -> None:
    """Wait (bounded) until every VIP is on its node and answers, when anything may differ."""
    standby = frozenset(r.name for r in runs.ready if keepalived.standby(r.facts))
    for name in sorted(standby):
        report.notes.append(
            f"{name} is on standby (lbdeploy switchover): it holds no VIP until "
            "`lbdeploy switchover --back`"
        )
    names = [r.name for r in runs.ready]
    addresses = {r.name: r.facts.addresses for r in runs.ready}
    probes = {r.name: r.facts.probes for r in runs.ready}
    if not changed and not pair_problems(pair, names, addresses, probes, standby):
        return
    # The last poll carries haproxy's servers too: when they are UP already, settling
    # needs no round trip of its own.
    problems, seen = poll_until_serving(pair, runs.ready, standby=standby, servers=True)
    if problems:
        report.notes += [f"not serving after {CONVERGE_TIMEOUT:.0f} s: {p}" for p in problems]
        for run in runs.ready:
            run.report.error = run.report.error or "the pair did not come up as planned"
        return
    report.converged_after = round(time.monotonic() - start, 2)
    report.notes.append(
        f"serving: every VIP on its node and answering, {report.converged_after} s after start"
    )
    servers = settle_servers(pair, runs.ready, first=seen)
    report.servers = {svc: {srv: state for _, srv, state in rows} for svc, rows in servers.items()}
    report.notes += describe_servers(servers)
    if pair.peers is not None and len(runs.ready) > 1:
        missing = settle_sync(runs.ready)
        report.notes += [f"after {SYNC_TIMEOUT:.0f} s: {p}" for p in missing] or [
            "stick tables: every node's HAProxy syncs with every other"
        ]
    if pair.anycast is not None:
        down = settle_sessions(pair, runs.ready)
        report.notes += [f"after {BGP_TIMEOUT:.0f} s: {p}" for p in down] or [
            "BGP: every node has its session with each of its routers up"
        ]


def _report_check(runs: Runs, plans: Plans, emit: Emit, diff: bool) -> None:
    if diff:
        on_each(runs.ready, lambda run: _fetch_diffs(run, plans[run.name]))
    for run in runs.ready:
        plan = plans[run.name]
        for change in plan.changes:
            run.record(StepResult(change.step, "would change", change.why), emit)
        for action in plan.services:
            detail = f"{action.action} {action.service} ({action.why})"
            run.record(StepResult("services", "would change", detail), emit)


def live_text_script(paths: list[str]) -> Script:
    """The live text of files, one section each, for `--diff` (never of secret files)."""
    script = Script()
    for path in paths:
        script.section(path).probe(cmd("cat {p} 2>/dev/null", p=path))
    return script


def file_diffs(node: str, plan: Plan, facts: Facts, live: dict[str, list[str]]) -> dict[str, str]:
    """Each changing file's diff, safe to print: a secret file shows fingerprints only."""
    diffs = {}
    for file in (f for c in plan.changes for f in c.changed_files):
        fact = facts.files.get(file.path)
        old = "".join(line + "\n" for line in live.get(file.path, []))
        diffs[file.path] = file.diff(f"{node}:{file.path}", old, fact.sha256 if fact else None)
    return diffs


def _fetch_diffs(run: NodeRun, plan: Plan) -> None:
    """Second round trip of a check run: the live text of each showable file that would change.

    A secret file's live content is never read: its diff is fingerprints only.
    """
    shown = [f.path for c in plan.changes for f in c.changed_files if not f.secret]
    live: dict[str, list[str]] = {}
    if shown:
        result = run.session.run(live_text_script(shown), step="diff", timeout=60)
        live = split_sections(result.stdout)
    run.report.diffs.update(file_diffs(run.name, plan, run.facts, live))
