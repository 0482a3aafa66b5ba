"""`failover-test`: break the VIP's holder on purpose, time the move and the way back.

Stages: pick the VIP and its holder → break (stop haproxy, or freeze keepalived) →
wait for another node to serve → mend (always, also on Ctrl-C) → wait for the way
back. The outcome is a typed value; the CLI derives its exit code from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from ipaddress import ip_address

from lbdeploy.components.haproxy import STOP
from lbdeploy.components.keepalived import FREEZE
from lbdeploy.core.credentials import NO_CREDENTIALS, Credentials
from lbdeploy.core.desired import Desired, PairState, ServiceState
from lbdeploy.core.health import vip_holders
from lbdeploy.core.report import StepResult
from lbdeploy.errors import LbdeployError, UsageError
from lbdeploy.ops.status import check_from_here
from lbdeploy.remote.polls import poll_serving
from lbdeploy.remote.runs import Emit, NodeRun, Runs, open_runs
from lbdeploy.scripts.script import Script

MOVE_TIMEOUT = 30.0
FAST_POLL = 0.05


class Outcome(Enum):
    MOVED_AND_BACK = "moved and came back"
    MOVED_AND_STAYED = "moved and stayed (nopreempt)"
    DID_NOT_MOVE = "did not move"
    DID_NOT_RETURN = "did not come back"
    OTHERS_STOPPED = "other nodes stopped announcing it"  # anycast

    @property
    def ok(self) -> bool:
        return self in (Outcome.MOVED_AND_BACK, Outcome.MOVED_AND_STAYED)


@dataclass
class Move:
    """How long a VIP took to move, and where it went."""

    vip: str
    away_from: str
    to: str | None = None
    failover_seconds: float | None = None
    failback_seconds: float | None = None
    outcome: Outcome = Outcome.DID_NOT_MOVE
    notes: list[str] = field(default_factory=list)
    also: list[Move] = field(default_factory=list)  # the holder's other VIPs, timed alike

    @property
    def ok(self) -> bool:
        return self.outcome.ok and all(m.ok for m in self.also)

    def to_json(self) -> dict[str, object]:
        return {
            **self.__dict__,
            "outcome": self.outcome.value,
            "ok": self.ok,
            "also": [m.to_json() for m in self.also],
        }


@dataclass(frozen=True)
class Fault:
    """What breaks the holder and what mends it, as the report says it."""

    what: str
    break_it: Script
    mend_it: Script
    mend_text: str


def fault(crash: bool) -> Fault:
    """`--crash` freezes the VRRP speaker (a hung node); else the holder's load balancer stops."""
    outage = FREEZE if crash else STOP
    return Fault(
        outage.what, Script().run(outage.cause), Script().run(outage.mend), str(outage.mend)
    )


def _holders(pair: PairState, runs: list[NodeRun]) -> dict[str, list[str]]:
    return vip_holders(pair, [r.name for r in runs], poll_serving(pair, runs).addresses)


Condition = Callable[[list[str]], bool]


def _wait_all(
    pair: PairState,
    runs: list[NodeRun],
    services: dict[str, ServiceState | None],
    condition: Condition,
) -> dict[str, tuple[float | None, list[str]]]:
    """Poll fast (bounded) until, for each VIP, `condition(holders)` holds and it answers.

    One poll looks at every VIP, so a dual-stack pair's IPv4 and IPv6 VIPs are timed
    from the same start, each on its own.
    """
    start = time.monotonic()
    done: dict[str, tuple[float | None, list[str]]] = {}
    holders: dict[str, list[str]] = {}
    while len(done) < len(services) and time.monotonic() - start < MOVE_TIMEOUT:
        holders = _holders(pair, runs)
        for vip, service in services.items():
            if vip in done or not condition(holders.get(vip, [])):
                continue
            if service is None or _answers(vip, service):
                done[vip] = (time.monotonic() - start, holders.get(vip, []))
        time.sleep(FAST_POLL)
    for vip in services:
        done.setdefault(vip, (None, holders.get(vip, [])))
    return done


def _answers(vip: str, service: ServiceState) -> bool:
    return check_from_here(vip, service.port, service.mode, timeout=1) == "ok"


def _pick(
    desired: Desired, runs: Runs, vip: str | None
) -> tuple[str, NodeRun, dict[str, list[str]]]:
    """The VIP to test, the one node holding it, and every VIP's holders as polled here;
    refuse anything less clear."""
    _refuse_errors(runs)
    vips = [str(v.vip) for v in desired.pair.vips]
    chosen = _canonical(vip) if vip else vips[0]
    if chosen not in vips:
        raise UsageError(f"{chosen} is not a VIP of this inventory ({', '.join(vips)})")
    held = _holders(desired.pair, runs.ready)
    holders = held.get(chosen, [])
    if len(holders) != 1:
        raise LbdeployError(
            f"VIP {chosen} is held by {holders or 'no node'}; run `lbdeploy verify` first"
        )
    return chosen, next(r for r in runs.ready if r.name == holders[0]), held


def _refuse_errors(runs: Runs) -> None:
    errors = [f"{name}: {r.error}" for name, r in runs.reports.items() if r.error]
    if errors:
        raise LbdeployError("; ".join(errors))


def _canonical(text: str) -> str:
    """fd00:0::1 and fd00::1 are one VIP: compare addresses as Python writes them."""
    try:
        return str(ip_address(text))
    except ValueError:
        return text


def _service_from_here(pair: PairState, vip: str, move: Move) -> ServiceState | None:
    """A service to time the VIP by, if the operator's machine reaches it; else None."""
    vip_state = pair.vip(vip)
    service = next(iter(pair.services_on(vip_state.vip)), None) if vip_state else None
    if service and check_from_here(vip, service.port, service.mode) != "ok":
        move.notes.append("the VIP cannot be reached from here: timed by the holder only")
        return None
    return service


def failover_test(
    desired: Desired,
    vip: str | None,
    crash: bool,
    emit: Emit,
    creds: Credentials = NO_CREDENTIALS,
    node: str | None = None,
) -> Move:
    """Break haproxy (or freeze keepalived) on the VIP's holder, time the move and the way back.

    Every other VIP the holder has (e.g. the IPv6 one of a dual-stack pair) is timed
    alike, in `Move.also`. The pair is always put back as it was, also on Ctrl-C. An
    anycast VIP is timed by `ops/anycast_failover.py`, on `node` or the first announcing it.
    """
    pair = desired.pair
    command = "failover-test --crash" if crash else "failover-test"
    anycast = [str(v) for v in pair.anycast.vips] if pair.anycast else []
    wanted = _canonical(vip) if vip else None if pair.vips else anycast[0]
    if wanted in anycast or node is not None:
        if crash or wanted not in anycast:
            raise UsageError("--node and anycast VIPs: only the haproxy stop, on an anycast VIP")
        with open_runs(desired, creds, lock=True, command=command) as runs:
            _refuse_errors(runs)
            from lbdeploy.ops.anycast_failover import anycast_failover_test

            return anycast_failover_test(pair, runs.ready, wanted, node, emit)
    with open_runs(desired, creds, lock=True, command=command) as runs:
        chosen, holder, held = _pick(desired, runs, vip)
        order = [chosen, *(v for v, h in held.items() if v != chosen and h == [holder.name])]
        moves = {v: Move(v, holder.name) for v in order}
        services = {v: _service_from_here(pair, v, moves[v]) for v in order}
        breakage = fault(crash)
        try:
            holder.session.run(breakage.break_it, step="failover", timeout=30)
            emit(
                holder.name, StepResult("failover", "changed", f"{breakage.what} on {holder.name}")
            )
            away = _wait_all(pair, runs.ready, services, lambda h: any(n != holder.name for n in h))
            for v, (took, now) in away.items():
                moves[v].failover_seconds = took
                moves[v].to = next((n for n in now if n != holder.name), None)
        finally:
            holder.session.run(breakage.mend_it, step="failover", timeout=30)
            emit(holder.name, StepResult("failover", "changed", f"undid it: {breakage.mend_text}"))
        _wait_back(pair, runs.ready, holder.name, moves, services)
    main = moves[chosen]
    main.also = [moves[v] for v in order[1:]]
    return main


def _wait_back(
    pair: PairState,
    runs: list[NodeRun],
    home: str,
    moves: dict[str, Move],
    services: dict[str, ServiceState | None],
) -> None:
    """Time each moved VIP's way back home; a nopreempt VIP stays where it went."""
    back: dict[str, ServiceState | None] = {}
    for v, move in moves.items():
        vip_state = pair.vip(v)
        if move.failover_seconds is None:
            continue
        if vip_state is not None and vip_state.nopreempt:
            move.outcome = Outcome.MOVED_AND_STAYED
            move.notes.append("nopreempt: the VIP stays where it went")
        else:
            back[v] = services[v]
    for v, (took, _) in _wait_all(pair, runs, back, lambda h: h == [home]).items():
        moves[v].failback_seconds = took
        moves[v].outcome = Outcome.DID_NOT_RETURN if took is None else Outcome.MOVED_AND_BACK
