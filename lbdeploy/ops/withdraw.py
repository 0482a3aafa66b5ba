"""`lbdeploy withdraw --node X` (and `--back`): one anycast node out of the routers and
back, gracefully, as `switchover` is for VRRP; `restart` uses it around a restart.

Out: refuse if no other node announces every VIP (the VIP would lose its route);
withdraw the node's routes in BGP while the VIPs stay on lo and HAProxy serves, so a
packet that still arrives is answered, never dropped; wait until no router is sent any
of them (the node's Adj-RIB-Out towards each peer is empty); then wait, bounded, for
the connections on the VIPs to end. Back: announce again, wait until every router
whose session is up has every VIP (the gate's hold-down included, if HAProxy was
restarted meanwhile).

The hold-out is a runtime state with a flag in /run (docs/anycast.md): a restart of FRR
starts bgpd from frr.conf and announces again, and a reboot clears the flag, so the
report says so rather than let an operator think the node stays out.
"""

from __future__ import annotations

import time

from lbdeploy.components.frr_runtime import (
    advertised_lines,
    announcement_lines,
    connections_lines,
    peer_statuses,
)
from lbdeploy.core.bgp import (
    PeerStatus,
    not_back,
    not_yet_announced,
    parse_connections,
    still_announced,
    uncovered,
)
from lbdeploy.core.credentials import NO_CREDENTIALS, Credentials
from lbdeploy.core.defaults import WITHDRAW_DRAIN
from lbdeploy.core.desired import Desired, PairState
from lbdeploy.core.report import Report, StepResult
from lbdeploy.errors import LbdeployError, NodeError, UsageError
from lbdeploy.remote.polls import wait_until_idle
from lbdeploy.remote.runs import Emit, NodeRun, not_ready, on_each, open_runs
from lbdeploy.scripts.script import split_sections

ROUTES_TIMEOUT = 30.0  # for the routers to lose (or get back) the node's routes
POLL = 0.1


def peers_now(pair: PairState, run: NodeRun) -> tuple[PeerStatus, ...]:
    """The node's sessions and what it announces over each, as of now."""
    assert pair.anycast is not None
    script = advertised_lines(pair.anycast, run.name)
    sections = split_sections(run.session.run(script, step="bgp", timeout=30).stdout)
    return peer_statuses(pair.anycast, sections)


def _connections(pair: PairState, run: NodeRun) -> dict[str, int]:
    assert pair.anycast is not None
    script = connections_lines(pair.anycast.vips)
    out = split_sections(run.session.run(script, step="connections", timeout=30).stdout)
    return parse_connections(out.get("connections", []))


def check_covered(pair: PairState, runs: list[NodeRun], node: str) -> None:
    """Refuse to take `node` out when some VIP would then have no route at all."""
    assert pair.anycast is not None
    others: dict[str, tuple[PeerStatus, ...]] = {}

    def read(run: NodeRun) -> None:
        others[run.name] = peers_now(pair, run)

    on_each([r for r in runs if r.name != node], read)
    alone = uncovered(pair.anycast, node, others)
    if alone:
        raise LbdeployError(
            f"{node}: no other node announces {', '.join(alone)}; withdrawing it would leave"
            " no route (run `lbdeploy verify`; --force to withdraw anyway)"
        )


def take_out(
    pair: PairState,
    runs: list[NodeRun],
    run: NodeRun,
    drain_timeout: float = WITHDRAW_DRAIN,
    force: bool = False,
) -> str:
    """Withdraw `run`'s node from every router and let its connections end; what happened."""
    if not force:
        check_covered(pair, runs, run.name)
    before = _connections(pair, run)
    start = time.monotonic()
    run.session.run(announcement_lines(withdraw=True), step="withdraw", timeout=60)
    while left := still_announced(peers_now(pair, run)):
        if time.monotonic() - start > ROUTES_TIMEOUT:
            raise LbdeployError(
                f"{run.name}: still announces {', '.join(left)} after {ROUTES_TIMEOUT:.0f} s;"
                " it stays withdrawn (`lbdeploy withdraw --back` to announce again)"
            )
        time.sleep(POLL)
    routes = time.monotonic() - start
    drained = time.monotonic()
    now = wait_until_idle(lambda: _connections(pair, run), drain_timeout, POLL * 5)
    done = f"withdrawn from every router in {routes:.2f} s"
    count, left_over = sum(before.values()), sum(now.values())
    if left_over:
        waited = f"{drain_timeout:.0f} s"
        return f"{done}; {left_over} of {count} connections on the VIPs still open after {waited}"
    return f"{done}; {count} connections on the VIPs ended in {time.monotonic() - drained:.2f} s"


def wait_announced(
    pair: PairState,
    run: NodeRun,
    timeout: float = ROUTES_TIMEOUT,
    before: tuple[PeerStatus, ...] | None = None,
) -> float:
    """Seconds until every router whose session is up has every VIP from the node (one
    session at least), or, given what it announced `before` a change, until it announces
    that again; LbdeployError naming what is missing at the bound."""
    assert pair.anycast is not None
    anycast = pair.anycast
    start = time.monotonic()

    def missing_now() -> list[str]:
        now = peers_now(pair, run)
        if before:
            return not_back(anycast, run.name, before, now)
        return not_yet_announced(anycast, run.name, now)

    while missing := missing_now():
        if time.monotonic() - start > timeout:
            raise LbdeployError(
                f"{run.name}: after {timeout:.0f} s still not announced:"
                f" {', '.join(missing)} (is haproxy up and the VIP on lo? `lbdeploy status`)"
            )
        time.sleep(POLL)
    return time.monotonic() - start


def bring_back(pair: PairState, run: NodeRun) -> str:
    """Announce `run`'s node again; wait until every router whose session is up has every VIP."""
    start = time.monotonic()
    run.session.run(announcement_lines(withdraw=False), step="announce", timeout=60)
    wait_announced(pair, run)
    return f"announced to every router in {time.monotonic() - start:.2f} s"


def held_out_note(node: str) -> str:
    """What ends a hold-out besides `--back`: bgpd restarts from frr.conf, /run is cleared."""
    return (
        f"note: {node} stays out of the routers until `lbdeploy withdraw --back --node {node}`,"
        " a restart of FRR (bgpd announces again from frr.conf) or a reboot (the flag lives in"
        " /run); `lbdeploy verify` reports a node announcing though withdrawn"
    )


def withdraw(
    desired: Desired,
    node: str,
    back: bool,
    emit: Emit,
    drain_timeout: float = WITHDRAW_DRAIN,
    force: bool = False,
    creds: Credentials = NO_CREDENTIALS,
) -> Report:
    """`lbdeploy withdraw --node X [--back]`: every node opened and locked, one changed."""
    if desired.pair.anycast is None:
        raise UsageError("this inventory has no anycast VIPs: nothing to withdraw")
    start = time.monotonic()
    report = Report("withdraw --back" if back else "withdraw", {})
    with open_runs(desired, creds, lock=True, command=report.command) as runs:
        report.nodes = runs.reports
        if not runs.complete:
            report.notes.append(not_ready("withdrawn" if not back else "announced"))
        target = next((r for r in runs.ready if r.name == node), None)
        if runs.complete and target is not None:
            t0 = time.monotonic()
            try:
                if back:
                    detail = bring_back(desired.pair, target)
                else:
                    detail = take_out(desired.pair, runs.ready, target, drain_timeout, force)
            except (NodeError, LbdeployError) as exc:
                target.record(StepResult("anycast", "failed", str(exc)), emit)
                target.report.error = str(exc).removeprefix(f"{node}: ")[-500:]
            else:
                target.record(StepResult("anycast", "changed", detail, time.monotonic() - t0), emit)
                if not back:
                    report.notes.append(held_out_note(node))
    report.seconds = time.monotonic() - start
    return report
