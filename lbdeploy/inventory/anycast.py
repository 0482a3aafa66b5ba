"""Anycast's inventory: the BGP speaker every node runs, and the VIPs it announces.

The shape is issue 22's, accepted as written (`bgp: {asn, peers, bfd}`, `anycast: [{vip}]`,
a node's own `bgp: {asn, peers}`); the ranges are FRR's own (docs/anycast.md), so a
value FRR would refuse is refused here, with its line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from lbdeploy.addresses import IPAddress
from lbdeploy.inventory.base import Strict
from lbdeploy.inventory.fields import SecretValue, between
from lbdeploy.inventory.ipfields import IP
from lbdeploy.scripts.shell import Secret

if TYPE_CHECKING:
    from lbdeploy.inventory.addressing import Found, Loc
    from lbdeploy.inventory.model import Inventory, Node

# RFC 6793's AS_TRANS stands in for a 4-byte ASN on old speakers; RFC 7300 reserves the
# last ASN of each range. FRR 8.4 and 10.3 take all three, so a typo would go unnoticed.
_RESERVED_ASN = {
    23456: "AS_TRANS (RFC 6793), a placeholder for 4-byte ASNs, not an ASN of its own",
    65535: "reserved (RFC 7300), the last 2-byte ASN",
    4294967295: "reserved (RFC 7300), the last 4-byte ASN",
}
TCP_MD5_MAX_KEY = 80  # the kernel's TCP_MD5SIG_MAXKEYLEN: a longer key fails the session


def _asn(value: int) -> int:
    if value in _RESERVED_ASN:
        raise ValueError(f"{value} is {_RESERVED_ASN[value]}")
    return value


# `router bgp (1-4294967295)` in FRR 8.4's bgpd/bgp_vty.c; 10.3 takes the same as ASNUM.
Asn = Annotated[int, between(1, 4294967295), AfterValidator(_asn)]


class BgpPeer(Strict):
    """An upstream router this node opens a BGP session with."""

    address: IP
    asn: Asn
    password: SecretValue | None = Field(None, description="TCP-MD5 key; {env: NAME}")

    @field_validator("password")
    @classmethod
    def _md5_key(cls, value: Secret | None) -> Secret | None:
        if value is not None and len(value.reveal().encode()) > TCP_MD5_MAX_KEY:
            raise ValueError(
                f"longer than {TCP_MD5_MAX_KEY} bytes, the kernel's limit for a TCP-MD5 key"
            )
        return value


class Bfd(Strict):
    """BFD on every session: a dead or frozen node is dropped in interval times multiplier."""

    # bfdd/bfdd_cli.c: receive/transmit-interval (10-60000) in 8.4 (10.3: 10-4294967),
    # detect-multiplier (2-255) in 8.4 (10.3: 1-255). The ranges both take.
    interval_ms: Annotated[int, between(10, 60000)] = 100
    multiplier: Annotated[int, between(2, 255)] = 3


def _off(value: object) -> object:
    """`bfd: false` turns BFD off; the model holds None (YAML's null is refused earlier)."""
    return None if value is False else value


class Bgp(Strict):
    """The BGP speaker of every node: its ASN, its upstream routers, BFD (false: off)."""

    asn: Asn
    peers: Annotated[list[BgpPeer], Field(min_length=1)]
    bfd: Annotated[Bfd | None, BeforeValidator(_off)] = Bfd()


class NodeBgp(Strict):
    """A node's own ASN or routers (another rack's leaves), instead of the shared ones."""

    asn: Asn | None = None
    peers: Annotated[list[BgpPeer], Field(min_length=1)] | None = None


class AnycastVip(Strict):
    """A VIP every healthy node announces as a /32 (/128) to its routers."""

    vip: IP


def check_anycast(inv: Inventory) -> Iterator[Found]:
    """Anycast VIPs and BGP sessions that could not work, each at its line."""
    if not inv.vrrp and not inv.anycast:
        yield (("vrrp",), "required, but missing: give vrrp VIPs, anycast VIPs, or both")
    if inv.anycast and inv.bgp is None:
        yield (("anycast",), "anycast VIPs need bgp (asn and peers) to be announced")
    if inv.bgp is not None and not inv.anycast:
        yield (("bgp",), "bgp is given, but no anycast VIP to announce")
    yield from _check_vips(inv)
    if inv.bgp is not None:
        yield from _check_peers(inv)


def _check_vips(inv: Inventory) -> Iterator[Found]:
    nodes = {a: n for n, node in inv.nodes.items() for a in _addresses(node)}
    vrrp = {inst.vip: i for i, inst in enumerate(inv.vrrp)}
    seen: dict[IPAddress, int] = {}
    for i, entry in enumerate(inv.anycast):
        loc, vip = ("anycast", i, "vip"), entry.vip
        network = inv.network if vip.version == 4 else inv.network6
        if vip in seen:
            yield (loc, f"{vip} is already anycast[{seen[vip]}]")
        elif vip in nodes:
            yield (loc, f"{vip} is the address of node {nodes[vip]}")
        elif vip.is_loopback or vip.is_multicast or vip.is_unspecified or vip.is_link_local:
            yield (loc, f"{vip} cannot be announced: it is not a routable unicast address")
        elif vip in vrrp:
            yield (
                loc,
                f"{vip} is already the VIP of vrrp[{vrrp[vip]}]; a VIP moves by VRRP or is"
                " announced by every node, not both",
            )
        elif network is not None and vip in network:
            yield (
                loc,
                f"{vip} is inside the nodes' subnet {network}; the routers reach that subnet"
                " directly, so an anycast VIP needs an address outside it",
            )
        seen.setdefault(vip, i)


def _check_peers(inv: Inventory) -> Iterator[Found]:
    """Each node's sessions: no peer is a node, an IPv6 VIP needs an IPv6 session."""
    assert inv.bgp is not None
    nodes = {a: n for n, node in inv.nodes.items() for a in _addresses(node)}
    where: dict[Loc, list[BgpPeer]] = {("bgp",): inv.bgp.peers}
    for name, node in inv.nodes.items():
        if node.bgp is not None and node.bgp.peers is not None:
            where[("nodes", name, "bgp")] = node.bgp.peers
    for loc, peers in where.items():
        for j, peer in enumerate(peers):
            if peer.address in nodes:
                yield (
                    (*loc, "peers", j, "address"),
                    f"{peer.address} is node {nodes[peer.address]}; a peer is an upstream router",
                )
    v6 = next((i for i, a in enumerate(inv.anycast) if a.vip.version == 6), None)
    if v6 is None:
        return
    for name, node in inv.nodes.items():
        own = node.bgp.peers if node.bgp is not None and node.bgp.peers is not None else None
        peers = own if own is not None else inv.bgp.peers
        if any(p.address.version == 6 for p in peers):
            continue
        vip = f"anycast[{v6}] is the IPv6 VIP {inv.anycast[v6].vip}"
        at: Loc
        if own is not None:
            at, whose = ("nodes", name, "bgp", "peers"), f"node {name}'s peers have"
        else:
            at, whose = ("bgp", "peers"), "bgp.peers has"
        yield (at, f"{vip}, but {whose} no IPv6 router to announce it to")
        if own is None:
            return  # one message for the shared list, not one per node


def _addresses(node: Node) -> tuple[IPAddress, ...]:
    return tuple(a for a in (node.public_address, node.public_address6) if a is not None)
