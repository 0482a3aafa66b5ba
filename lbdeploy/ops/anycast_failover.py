"""`failover-test` for an anycast VIP: stop HAProxy on one node, time until that node no
longer announces the VIP to any router, start it again, time until it announces it to
every router again (the gate's hold-down included); the other nodes must keep
announcing throughout.

Both times are taken on the node itself (`watch_lines`: its clock, no SSH in between),
at the resolution of one look at its routers' advertised routes (about 0.05 s each).
What the routers do with the UPDATE (their FIB, their ECMP rehash) is beyond this node:
the lab measures it from a client.
"""

from __future__ import annotations

from ipaddress import ip_address

from lbdeploy.addresses import IPAddress
from lbdeploy.components.frr_runtime import started, watch_lines
from lbdeploy.core.bgp import PeerStatus, not_yet_announced, parse_elapsed
from lbdeploy.core.desired import PairState
from lbdeploy.core.report import StepResult
from lbdeploy.errors import LbdeployError, UsageError
from lbdeploy.ops.failover import MOVE_TIMEOUT, Move, Outcome, fault
from lbdeploy.ops.withdraw import peers_now
from lbdeploy.remote.runs import Emit, NodeRun, on_each
from lbdeploy.scripts.script import Script, split_sections


def stopped_announcing(
    vip: str, before: dict[str, tuple[PeerStatus, ...]], now: dict[str, tuple[PeerStatus, ...]]
) -> list[str]:
    """Each node and router that had `vip` before the test and no longer has it."""
    lost = []
    for node, peers in before.items():
        current = {p.peer: p for p in now.get(node, ())}
        for peer in peers:
            if vip in peer.announced and vip not in getattr(
                current.get(peer.peer), "announced", ()
            ):
                lost.append(f"{node} stopped announcing {vip} to {peer.peer}")
    return lost


def anycast_outcome(
    withdrawn_s: float | None, returned_s: float | None, stopped: list[str]
) -> Outcome:
    """The verdict: withdrawn, the others still announcing, and back."""
    if withdrawn_s is None:
        return Outcome.DID_NOT_MOVE
    if stopped:
        return Outcome.OTHERS_STOPPED
    if returned_s is None:
        return Outcome.DID_NOT_RETURN
    return Outcome.MOVED_AND_BACK


def choose_node(
    pair: PairState, vip: IPAddress, node: str | None, seen: dict[str, tuple[PeerStatus, ...]]
) -> str:
    """The node to break: the one named, or the first that announces the VIP everywhere;
    refused when it does not, or when no other node announces it (no route would be left)."""
    assert pair.anycast is not None
    anycast = pair.anycast
    text = str(vip)

    def complete(name: str) -> bool:
        peers = tuple(p for p in seen.get(name, ()) if p.family == vip.version)
        missing = not_yet_announced(anycast, name, peers)
        return not [m for m in missing if m.startswith(f"{text} ") or "no BGP" in m]

    chosen = node or next((n for n in seen if complete(n)), None)
    if chosen is None or not complete(chosen):
        who = chosen or "no node"
        raise LbdeployError(
            f"{who} does not announce {text} to every router; run `lbdeploy verify` first"
        )
    others = [
        n for n, peers in seen.items() if n != chosen and any(text in p.announced for p in peers)
    ]
    if not others:
        raise LbdeployError(
            f"no node but {chosen} announces {text}: stopping it would leave no route"
        )
    return chosen


def anycast_failover_test(
    pair: PairState, runs: list[NodeRun], vip_text: str, node: str | None, emit: Emit
) -> Move:
    """Stop HAProxy on one node, time the withdrawal and the return; put it back always."""
    anycast = pair.anycast
    assert anycast is not None
    vip = ip_address(vip_text)
    if node is not None and node not in [r.name for r in runs]:
        raise UsageError(f"no node named {node}")
    before = _seen(pair, runs)
    chosen = choose_node(pair, vip, node, before)
    run = next(r for r in runs if r.name == chosen)
    move = Move(str(vip), chosen)
    breakage = fault(crash=False)
    away = Script().line(started()).extend(breakage.break_it)
    back = Script().line(started()).extend(breakage.mend_it)
    stopped: list[str] = []
    try:
        script = away.extend(watch_lines(anycast, chosen, vip, False, MOVE_TIMEOUT))
        out = run.session.run(script, step="failover", timeout=MOVE_TIMEOUT + 30)
        emit(chosen, StepResult("failover", "changed", f"{breakage.what} on {chosen}"))
        move.failover_seconds = parse_elapsed(split_sections(out.stdout).get("watch", []))
        during = _seen(pair, [r for r in runs if r.name != chosen])
        stopped = stopped_announcing(
            str(vip), {n: p for n, p in before.items() if n != chosen}, during
        )
        move.to = (
            ", ".join(
                n for n, peers in during.items() if any(str(vip) in p.announced for p in peers)
            )
            or None
        )
    finally:
        script = back.extend(watch_lines(anycast, chosen, vip, True, MOVE_TIMEOUT))
        out = run.session.run(script, step="failover", timeout=MOVE_TIMEOUT + 30)
        emit(chosen, StepResult("failover", "changed", f"undid it: {breakage.mend_text}"))
    move.failback_seconds = parse_elapsed(split_sections(out.stdout).get("watch", []))
    move.notes += stopped
    move.notes.append(
        "timed on the node, from the command to its routers' advertised routes"
        " (the way back includes the gate's hold-down)"
    )
    move.outcome = anycast_outcome(move.failover_seconds, move.failback_seconds, stopped)
    return move


def _seen(pair: PairState, runs: list[NodeRun]) -> dict[str, tuple[PeerStatus, ...]]:
    seen: dict[str, tuple[PeerStatus, ...]] = {}

    def read(run: NodeRun) -> None:
        seen[run.name] = peers_now(pair, run)

    on_each(runs, read)
    return {r.name: seen[r.name] for r in runs if r.name in seen}
