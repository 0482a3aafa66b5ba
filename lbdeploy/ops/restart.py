"""`lbdeploy restart`: graceful unless asked otherwise, one node at a time, in the order
that moves the VIPs least (backups first on a serving pair, as `up` rolls).

An anycast node whose restart would cut a connection (`--hard`, FRR, the gate) is first
withdrawn from the routers and announced again after (`ops/withdraw.py`).

HAProxy's master-worker reload re-executes the binary with the new config while the
old workers finish their connections, so "restart haproxy" is a proven reload unless
`--hard` is given. keepalived cannot be reloaded into a new binary: on a node that
holds VIPs, the VIPs are handed to another node first (the `switchover` standby flag),
keepalived restarts, and the VIPs come back. `--hard` is the plain stop-and-start.
"""

from __future__ import annotations

import time
from typing import Literal

from lbdeploy.components import frr, haproxy, haproxy_runtime, keepalived
from lbdeploy.components.keepalived import standby_script
from lbdeploy.core.credentials import NO_CREDENTIALS, Credentials
from lbdeploy.core.desired import Desired, PairState
from lbdeploy.core.health import pair_problems, vip_holders
from lbdeploy.core.report import Report, StepResult
from lbdeploy.errors import LbdeployError, NodeError
from lbdeploy.ops.switchover import MOVE_TIMEOUT, restart_script
from lbdeploy.ops.withdraw import bring_back, take_out
from lbdeploy.remote.polls import poll_serving, wait_until_serving
from lbdeploy.remote.runs import Emit, NodeRun, not_ready, open_runs, roll_order
from lbdeploy.scripts.script import Script

Mode = Literal["graceful", "hard", "reload"]
POLL = 0.1


def _graceful_haproxy() -> Script:
    return Script().line(haproxy_runtime.reload())


def _await_away(pair: PairState, runs: list[NodeRun], node: str) -> float:
    """Seconds until no VIP is on `node` and every VIP answers elsewhere (bounded)."""
    start = time.monotonic()
    names = [r.name for r in runs]
    while True:
        seen = poll_serving(pair, runs)
        holders = vip_holders(pair, names, seen.addresses)
        away = all(h and node not in h for h in holders.values())
        others = frozenset({node})
        if away and not pair_problems(pair, names, seen.addresses, seen.probes, others):
            return time.monotonic() - start
        if time.monotonic() - start > MOVE_TIMEOUT:
            raise LbdeployError(
                f"{node}: its VIPs did not move to another node within {MOVE_TIMEOUT:.0f} s;"
                " keepalived was not restarted there"
            )
        time.sleep(POLL)


def _holds_vip(pair: PairState, runs: list[NodeRun], node: str) -> bool:
    seen = poll_serving(pair, runs)
    holders = vip_holders(pair, [r.name for r in runs], seen.addresses)
    return any(node in h for h in holders.values())


def _restart_keepalived_handing_over(pair: PairState, runs: list[NodeRun], run: NodeRun) -> str:
    """Hand the node's VIPs over, restart keepalived, take them back; what happened."""
    run.session.run(standby_script(True), step="standby", timeout=30)
    try:
        away = _await_away(pair, runs, run.name)
        run.session.run(restart_script("restart", (keepalived.UNIT,)), step="services", timeout=120)
    finally:
        run.session.run(standby_script(False), step="standby", timeout=30)
    start = time.monotonic()
    problems = wait_until_serving(pair, runs, timeout=MOVE_TIMEOUT)
    if problems:
        raise LbdeployError(f"{run.name}: after the restart: {'; '.join(problems)}")
    back = time.monotonic() - start
    return f"VIPs handed over in {away:.2f} s, keepalived restarted, back in {back:.2f} s"


def withdraws_around(anycast: bool, services: tuple[str, ...], mode: Mode) -> bool:
    """Whether an anycast node leaves the routers before this restart and returns after.

    A hard restart cuts HAProxy's connections and, through the gate, takes the VIPs
    off lo; restarting FRR or the gate drops the sessions or the VIPs. A reload, and
    HAProxy's graceful reload, cut nothing: the node stays announced.
    """
    if not anycast or mode == "reload":
        return False
    return mode == "hard" or any(s in (frr.UNIT, frr.GATE) for s in services)


def _restart_node(
    pair: PairState, runs: list[NodeRun], run: NodeRun, services: tuple[str, ...], mode: Mode
) -> str:
    """Restart one node's services; an anycast node out of the routers around it, when the
    restart would cut a connection (it stays out if the restart fails)."""
    if not withdraws_around(pair.anycast is not None, services, mode):
        return _restart_services(pair, runs, run, services, mode)
    out = take_out(pair, runs, run)
    done = _restart_services(pair, runs, run, services, mode)
    return f"{out}; {done}; {bring_back(pair, run)}"


def _restart_services(
    pair: PairState, runs: list[NodeRun], run: NodeRun, services: tuple[str, ...], mode: Mode
) -> str:
    if mode == "hard" or mode == "reload":
        verb = "restart" if mode == "hard" else "reload"
        run.session.run(restart_script(verb, services), step="services", timeout=120)
        return f"{verb} {', '.join(services)}"
    done = []
    if haproxy.UNIT in services:
        why = haproxy.socket_missing(run.facts)
        if why is not None:
            raise LbdeployError(f"{run.name}: {why}")
        run.session.run(_graceful_haproxy(), step="services", timeout=120)
        done.append("reload haproxy (a new worker proven; no connection dropped)")
    if keepalived.UNIT in services:
        if _holds_vip(pair, runs, run.name):
            done.append(_restart_keepalived_handing_over(pair, runs, run))
        else:
            run.session.run(restart_script("restart", (keepalived.UNIT,)), step="services")
            done.append("restart keepalived (it held no VIP)")
    others = tuple(s for s in services if s not in (haproxy.UNIT, keepalived.UNIT))
    if others:  # FRR and the anycast gate: the node is out of the routers meanwhile
        run.session.run(restart_script("restart", others), step="services", timeout=120)
        done.append(f"restart {', '.join(others)}")
    return "; ".join(done)


def restart_services(
    desired: Desired,
    nodes: list[str],
    services: tuple[str, ...],
    mode: Mode,
    emit: Emit,
    creds: Credentials = NO_CREDENTIALS,
) -> Report:
    """The named nodes one at a time (the roll's order); stop at the first failure.

    Every node of the pair is opened (and locked): a graceful restart of keepalived
    hands a node's VIPs to the others and must see them take over.
    """
    start = time.monotonic()
    report = Report("restart" if mode == "graceful" else f"restart --{mode}", {})
    extra = haproxy.socket_lines()
    with open_runs(desired, creds, lock=True, extra=extra, command=report.command) as runs:
        report.nodes = runs.reports
        if not runs.complete:
            report.notes.append(not_ready("restarted"))
        restarts = keepalived.UNIT in services
        order = roll_order(runs.ready, lambda r: restarts and r.name in nodes, new_config=False)
        chosen = [r for r in order if r.name in nodes]
        for run in chosen if runs.complete else []:
            t0 = time.monotonic()
            try:
                detail = _restart_node(desired.pair, runs.ready, run, services, mode)
            except (NodeError, LbdeployError) as exc:
                took = time.monotonic() - t0
                run.record(StepResult("services", "failed", str(exc), took), emit)
                run.report.error = str(exc).removeprefix(f"{run.name}: ")[-500:]
                break
            run.record(StepResult("services", "changed", detail, time.monotonic() - t0), emit)
    report.seconds = time.monotonic() - start
    return report
