"""The order a config change rolls through the nodes: the one that moves each VIP least.

Backups first is the rule: the new config meets a backup while the master serves, and a
failure stops the roll before the master is touched. It is wrong twice. On a cold pair
(keepalived runs nowhere) nothing serves, so there is nothing to protect, and a backup
started first would take the VIP before the master takes it back: masters first, and the
VIP lands once. And when priorities rise (an upgrade of lbdeploy's own numbering), a
backup reloaded first outranks the master still running the old ones: two moves of a VIP
that serves. So on a serving pair the roll simulates VRRP's election (the highest
priority among the nodes whose keepalived runs holds a VIP; a tie keeps the holder, else
goes to the first name) for both orders, counts the moves of the VIPs held now, and
takes masters first only when that moves them less. A VIP that is new to the pair serves
nobody yet: its hand-over does not count, and the backups keep going first.

A change of VRRP version (advert_ms on or off) is another case: until both nodes run the
new config, each drops the other's adverts ("wrong version", vrrp.c), so the backup takes
the VIP once its master-down timer (3 adverts) runs out, and the pair splits until the
other node follows. The backup must wait with the slower of the two timers: when the
adverts get faster, masters first (the backup waits with its old 3 s); when they get
slower, backups first (it waits with its new 3 s). The second node's reload must come
within that time (docs/failover.md). Pure: tested without a network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Priorities = Mapping[str, int]  # VRRP instance -> priority


@dataclass(frozen=True)
class RollNode:
    """What the roll needs to know of one node."""

    name: str
    is_master: bool  # preferred holder of at least one VIP
    running: Priorities | None  # the live keepalived's priorities; None: it does not run
    after: Priorities  # its priorities once its config is applied
    touched: bool  # the plan starts, reloads or restarts its keepalived
    # The new config changes the VRRP version of an instance it runs, to faster or slower
    # adverts (None: no version changes).
    version_change: Literal["faster", "slower"] | None = None


def _holder(live: dict[str, Priorities], instance: str, current: str | None) -> str | None:
    bids = {name: p[instance] for name, p in live.items() if instance in p}
    if not bids:
        return None
    best = max(bids.values())
    if current is not None and bids.get(current) == best:
        return current
    return min(name for name, p in bids.items() if p == best)


def count_moves(order: Sequence[RollNode]) -> int:
    """How often a VIP held now changes holder while the nodes are applied in `order`."""
    live: dict[str, Priorities] = {n.name: n.running for n in order if n.running is not None}
    held = sorted({i for n in order for i in (n.running or {})})
    holders = {i: _holder(live, i, None) for i in held}
    moves = 0
    for node in order:
        if not node.touched:
            continue
        live[node.name] = node.after
        for instance in held:
            holder = _holder(live, instance, holders[instance])
            if holder != holders[instance]:
                moves += 1
            holders[instance] = holder
    return moves


def choose_order(nodes: Sequence[RollNode]) -> list[RollNode]:
    """Masters first on a cold pair, when adverts get faster with a new VRRP version, or
    when that moves the VIPs held now less; else backups first."""
    backups_first = sorted(nodes, key=lambda n: n.is_master)
    masters_first = sorted(nodes, key=lambda n: not n.is_master)
    if all(n.running is None for n in nodes):
        return masters_first
    changes = {n.version_change for n in nodes if n.touched and n.running is not None}
    if "faster" in changes:
        return masters_first
    if "slower" in changes:
        return backups_first
    if count_moves(masters_first) < count_moves(backups_first):
        return masters_first
    return backups_first
