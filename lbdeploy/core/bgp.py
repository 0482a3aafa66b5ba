"""What a node's BGP speaker reports, and what `verify` judges of it: pure values.

FRR's JSON is parsed into these by `components/frr_runtime.py`; `status` shows them,
`verify` judges them here, `failover-test` and `withdraw` decide on them. An anycast VIP
is announced to a peer when it is in that peer's Adj-RIB-Out (FRR's advertised-routes),
which is what the router receives, not merely what the node would like to send.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_address

from lbdeploy.core.anycast import AnycastState

ESTABLISHED = "Established"


@dataclass(frozen=True)
class PeerStatus:
    """One BGP session of a node, as its FRR reports it."""

    peer: str  # the router's address, as FRR and Python both write it
    family: int  # 4 or 6: the address family the session carries
    state: str  # Established, Active, Connect, OpenSent, Idle, "Idle (Admin)", ...
    uptime_s: int | None  # since the session's last change, up or down (peerUptimeMsec)
    sent: int  # prefixes sent (pfxSnt)
    bfd: str | None  # up, down, init, shutdown, unknown; None: BFD off or no BFD session
    announced: tuple[str, ...]  # the anycast VIPs in this peer's advertised routes

    @property
    def up(self) -> bool:
        return self.state == ESTABLISHED


@dataclass(frozen=True)
class AnycastStatus:
    """One node's anycast side: FRR, the gate, the VIPs on lo, each session."""

    frr: str  # frr.service: active, inactive, failed, absent
    gate: str  # lbdeploy-anycast.service, likewise
    on_lo: tuple[str, ...]  # anycast VIPs on lo (the gate put them there)
    withdrawn: bool  # `lbdeploy withdraw` holds the node out of the routers
    peers: tuple[PeerStatus, ...] = ()

    def peer(self, address: str) -> PeerStatus | None:
        return next((p for p in self.peers if p.peer == address), None)

    def announces(self, vip: str) -> tuple[str, ...]:
        """The peers this node announces `vip` to."""
        return tuple(p.peer for p in self.peers if vip in p.announced)

    @property
    def announcing(self) -> tuple[str, ...]:
        """Every anycast VIP announced to at least one peer."""
        return tuple(dict.fromkeys(v for p in self.peers for v in p.announced))


def canonical(text: str) -> str:
    """'198.51.100.10/32' or '2001:db8:100:0::10' → the address as Python writes it."""
    address = text.partition("/")[0]
    try:
        return str(ip_address(address))
    except ValueError:
        return address


def node_problems(
    anycast: AnycastState, node: str, haproxy: str, status: AnycastStatus
) -> list[str]:
    """Why one node does not announce as it should; empty when it does.

    A node whose HAProxy serves must announce every VIP of a peer's family to every
    peer whose session is up; a node whose HAProxy does not serve, or that `withdraw`
    holds out, must announce nothing.
    """
    if status.frr != "active":
        return [f"{node}: frr is {status.frr}"]
    problems = session_problems(anycast, node, status.peers)
    serving = haproxy == "active" and not status.withdrawn
    for configured in anycast.speaker(node).peers:
        address = str(configured.address)
        peer = status.peer(address)
        if peer is None or not peer.up:
            continue
        for vip in map(str, anycast.vips_of(configured.version)):
            announced = vip in peer.announced
            if serving and not announced:
                gate = "" if vip in status.on_lo else f" (not on lo; the gate is {status.gate})"
                problems.append(
                    f"{node}: VIP {vip} not announced to {address} while haproxy serves{gate}"
                )
            elif announced and haproxy != "active":
                problems.append(
                    f"{node}: VIP {vip} announced to {address} while haproxy is {haproxy}"
                )
            elif announced and status.withdrawn:
                problems.append(f"{node}: VIP {vip} still announced to {address}, though withdrawn")
    return problems


def session_problems(anycast: AnycastState, node: str, peers: tuple[PeerStatus, ...]) -> list[str]:
    """Each of `node`'s routers it has no established session with, or (BFD on) whose BFD
    session is not up: what `verify` names, and what `up` waits for."""
    problems = []
    found = {p.peer: p for p in peers}
    for configured in anycast.speaker(node).peers:
        address = str(configured.address)
        peer = found.get(address)
        if peer is None:
            problems.append(f"{node}: FRR has no session with {address}")
        elif not peer.up or (anycast.bfd is not None and peer.bfd != "up"):
            bfd = f", BFD {peer.bfd or 'absent'}" if anycast.bfd is not None else ""
            problems.append(f"{node}: peer {address}: BGP {peer.state}{bfd}")
    return problems


def unannounced(anycast: AnycastState, statuses: dict[str, AnycastStatus]) -> list[str]:
    """VIPs that no reachable node announces to anyone: the routers have no route."""
    if not statuses:
        return []
    return [
        f"no node announces anycast VIP {vip}"
        for vip in map(str, anycast.vips)
        if not any(vip in s.announcing for s in statuses.values())
    ]


def still_announced(peers: tuple[PeerStatus, ...]) -> list[str]:
    """What the routers still get from a node being withdrawn: 'VIP to PEER' each."""
    return [f"{vip} to {p.peer}" for p in peers for vip in p.announced]


def not_yet_announced(anycast: AnycastState, node: str, peers: tuple[PeerStatus, ...]) -> list[str]:
    """What a node coming back does not announce yet to its peers whose session is up.

    A peer that is down gets nothing and is not waited for; with no session up at all
    nothing can be announced, which is said rather than taken for done.
    """
    configured = anycast.speaker(node).peers
    up = {p.peer: p for p in peers if p.up}
    if not any(str(c.address) in up for c in configured):
        return ["no BGP session is up"]
    missing = []
    for c in configured:
        peer = up.get(str(c.address))
        if peer is None:
            continue
        missing += [
            f"{vip} to {peer.peer}"
            for vip in map(str, anycast.vips_of(c.version))
            if vip not in peer.announced
        ]
    return missing


def not_back(
    anycast: AnycastState,
    node: str,
    before: tuple[PeerStatus, ...],
    now: tuple[PeerStatus, ...],
) -> list[str]:
    """What a node announced before a change and does not announce again yet: 'VIP to
    PEER' each; a session that is not up announces nothing. `up`'s roll waits on it, so
    a node is back with every router it served before, whichever family came up first.
    A router or VIP the change removed from the inventory is not waited for."""
    routers = {str(p.address) for p in anycast.speaker(node).peers}
    vips = {str(v) for v in anycast.vips}
    current = {p.peer: p.announced for p in now if p.up}
    return [
        f"{vip} to {p.peer}"
        for p in before
        if p.peer in routers
        for vip in p.announced
        if vip in vips and vip not in current.get(p.peer, ())
    ]


def uncovered(
    anycast: AnycastState, node: str, others: dict[str, tuple[PeerStatus, ...]]
) -> list[str]:
    """The VIPs that would have no route if `node` stopped announcing: no other node
    announces them to any router."""
    announced = {
        vip for name, peers in others.items() if name != node for p in peers for vip in p.announced
    }
    return [str(vip) for vip in anycast.vips if str(vip) not in announced]


def parse_connections(lines: list[str]) -> dict[str, int]:
    """'VIP COUNT' lines (established TCP connections whose local address is the VIP)."""
    found = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            found[canonical(parts[0])] = int(parts[1])
    return found


def parse_elapsed(lines: list[str]) -> float | None:
    """'done START END' (ms of the node's clock) → seconds; 'timeout ...' or nothing → None."""
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "done" and parts[1].isdigit() and parts[2].isdigit():
            return max(0, int(parts[2]) - int(parts[1])) / 1000
    return None
