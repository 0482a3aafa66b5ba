"""Anycast's part of the desired state: the VIPs every node announces, each node's BGP speaker.

Derived once from the inventory, beside `core/vrrp.py`: the VIPs and the shared BGP
settings are pair-wide; what a node overrides (its ASN, its routers) is resolved here,
so FRR's template and `status` read one `Speaker` per node and never the inventory.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from lbdeploy.addresses import IPAddress
from lbdeploy.inventory.anycast import BgpPeer
from lbdeploy.inventory.model import Inventory
from lbdeploy.scripts.shell import Secret


@dataclass(frozen=True)
class Peer:
    """One upstream router and the session with it."""

    address: IPAddress
    asn: int
    password: Secret | None

    @property
    def version(self) -> int:
        return self.address.version


@dataclass(frozen=True)
class Bfd:
    """BFD timers of every session: detection in interval_ms * multiplier."""

    interval_ms: int
    multiplier: int


@dataclass(frozen=True)
class Speaker:
    """One node's BGP speaker: its ASN, router-id and routers."""

    node: str
    asn: int
    router_id: IPv4Address
    peers: tuple[Peer, ...]


@dataclass(frozen=True)
class AnycastState:
    """What every node announces, and how each talks BGP."""

    vips: tuple[IPAddress, ...]
    bfd: Bfd | None
    speakers: tuple[Speaker, ...]

    def speaker(self, node: str) -> Speaker:
        return next(s for s in self.speakers if s.node == node)

    def vips_of(self, version: int) -> tuple[IPAddress, ...]:
        return tuple(v for v in self.vips if v.version == version)

    @property
    def secrets(self) -> tuple[Secret, ...]:
        found = (p.password for s in self.speakers for p in s.peers)
        return tuple(dict.fromkeys(p for p in found if p is not None))


def derive_anycast(inv: Inventory) -> AnycastState | None:
    """The pair's anycast state, or None when it announces nothing."""
    if not inv.anycast or inv.bgp is None:
        return None
    bgp = inv.bgp
    bfd = Bfd(bgp.bfd.interval_ms, bgp.bfd.multiplier) if bgp.bfd is not None else None
    speakers = []
    for name, node in inv.nodes.items():
        own = node.bgp
        asn = own.asn if own is not None and own.asn is not None else bgp.asn
        peers = own.peers if own is not None and own.peers is not None else bgp.peers
        address = node.public_address or node.public_address6
        assert address is not None, "checked by check_inventory"
        speakers.append(Speaker(name, asn, router_id(address), tuple(map(_peer, peers))))
    return AnycastState(tuple(a.vip for a in inv.anycast), bfd, tuple(speakers))


def router_id(address: IPAddress) -> IPv4Address:
    """The node's IPv4 address; an IPv6-only node, the low 32 bits of its IPv6 one.

    Left to itself FRR takes the highest loopback address, which would be an anycast
    VIP: the same on every node, and gone when the VIP is withdrawn.
    """
    if isinstance(address, IPv4Address):
        return address
    return IPv4Address(int(address) & 0xFFFFFFFF)


def _peer(peer: BgpPeer) -> Peer:
    return Peer(peer.address, peer.asn, peer.password)
