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

from lbdeploy.credentials import NO_CREDENTIALS, Credentials
from lbdeploy.desired import Desired, PairState, ServiceState
from lbdeploy.errors import LbdeployError, UsageError
from lbdeploy.health import vip_holders
from lbdeploy.report import StepResult
from lbdeploy.runs import Emit, NodeRun, Runs, open_runs, poll_serving
from lbdeploy.script import Script
from lbdeploy.shell import cmd
from lbdeploy.status import check_from_here

MOVE_TIMEOUT = 30.0
FAST_POLL = 0.05


class Outcome(Enum):
    MOVED_AND_BACK = "moved and came back"
    MOVED_AND_STAYED = "moved and stayed (nopreempt)"
    DID_NOT_MOVE = "did not move"
    DID_NOT_RETURN = "did not come back"

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

    def to_json(self) -> dict[str, object]:
        return {**self.__dict__, "outcome": self.outcome.value, "ok": self.outcome.ok}


@dataclass(frozen=True)
class Fault:
    """What breaks the holder and what mends it, as the report says it."""

    what: str
    break_it: Script
    mend_it: Script
    mend_text: str


def fault(crash: bool) -> Fault:
    if crash:
        return Fault(
            "froze keepalived",
            Script().run(cmd("pkill -STOP -x keepalived")),
            Script().run(cmd("pkill -CONT -x keepalived")),
            "pkill -CONT -x keepalived",
        )
    return Fault(
        "stopped haproxy",
        Script().run(cmd("systemctl stop haproxy")),
        Script().run(cmd("systemctl start haproxy")),
        "systemctl start haproxy",
    )


def _holders(pair: PairState, runs: list[NodeRun]) -> dict[str, list[str]]:
    return vip_holders(pair, [r.name for r in runs], poll_serving(pair, runs).addresses)


def _wait_for(
    pair: PairState,
    runs: list[NodeRun],
    vip: str,
    service: ServiceState | None,
    condition: Callable[[list[str]], bool],
) -> tuple[float | None, list[str]]:
    """Poll fast (bounded) until `condition(holders)` and the VIP answers; seconds or None."""
    start = time.monotonic()
    holders: list[str] = []
    while time.monotonic() - start < MOVE_TIMEOUT:
        holders = _holders(pair, runs).get(vip, [])
        if condition(holders) and (
            service is None or check_from_here(vip, service.port, service.mode, timeout=1) == "ok"
        ):
            return time.monotonic() - start, holders
        time.sleep(FAST_POLL)
    return None, holders


def _pick(desired: Desired, runs: Runs, vip: str | None) -> tuple[str, NodeRun]:
    """The VIP to test and the one node holding it; refuse anything less clear."""
    errors = [f"{name}: {r.error}" for name, r in runs.reports.items() if r.error]
    if errors:
        raise LbdeployError("; ".join(errors))
    vips = [str(v.vip) for v in desired.pair.vips]
    chosen = vip or vips[0]
    if chosen not in vips:
        raise UsageError(f"{chosen} is not a VIP of this inventory ({', '.join(vips)})")
    holders = _holders(desired.pair, runs.ready).get(chosen, [])
    if len(holders) != 1:
        raise LbdeployError(
            f"VIP {chosen} is held by {holders or 'no node'}; run `lbdeploy verify` first"
        )
    return chosen, next(r for r in runs.ready if r.name == holders[0])


def failover_test(
    desired: Desired,
    vip: str | None,
    crash: bool,
    emit: Emit,
    creds: Credentials = NO_CREDENTIALS,
) -> Move:
    """Break haproxy (or freeze keepalived) on the VIP's holder, time the move and the way back.

    The pair is always put back as it was, also on Ctrl-C.
    """
    pair = desired.pair
    command = "failover-test --crash" if crash else "failover-test"
    with open_runs(desired, creds, lock=True, command=command) as runs:
        chosen, holder = _pick(desired, runs, vip)
        vip_state = pair.vip(chosen)
        service = next(iter(pair.services_on(vip_state.vip)), None) if vip_state else None
        move = Move(chosen, holder.name)
        if service and check_from_here(chosen, service.port, service.mode) != "ok":
            service = None  # the operator cannot reach the VIP: judge by the holder alone
            move.notes.append("the VIP cannot be reached from here: timed by the holder only")
        breakage = fault(crash)
        try:
            holder.session.run(breakage.break_it, step="failover", timeout=30)
            emit(
                holder.name, StepResult("failover", "changed", f"{breakage.what} on {holder.name}")
            )
            took, now = _wait_for(
                pair, runs.ready, chosen, service, lambda h: any(n != holder.name for n in h)
            )
            move.failover_seconds = took
            move.to = next((n for n in now if n != holder.name), None)
        finally:
            holder.session.run(breakage.mend_it, step="failover", timeout=30)
            emit(holder.name, StepResult("failover", "changed", f"undid it: {breakage.mend_text}"))
        if move.failover_seconds is None:
            return move
        if vip_state is not None and vip_state.nopreempt:
            move.outcome = Outcome.MOVED_AND_STAYED
            move.notes.append("nopreempt: the VIP stays where it went")
            return move
        move.failback_seconds, _ = _wait_for(
            pair, runs.ready, chosen, service, lambda h: h == [holder.name]
        )
        move.outcome = (
            Outcome.DID_NOT_RETURN if move.failback_seconds is None else Outcome.MOVED_AND_BACK
        )
    return move
