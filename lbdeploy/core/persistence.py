"""Stick tables and the peers that sync them, derived once beside `core/vrrp.py`.

A service that asks for stickiness or a rate limit gets one table; the pair gets one
`peers` section listing every node by its name, over its own public address, so that
the same section is rendered on every node and each finds itself in it by `localpeer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lbdeploy.addresses import IPAddress
from lbdeploy.inventory.model import Inventory
from lbdeploy.inventory.persistence import RateLimit
from lbdeploy.inventory.proxy import Service

PEERS_SECTION = "lbdeploy"


@dataclass(frozen=True)
class StickTable:
    """One service's table: the server each client sticks to and/or its request rate."""

    key: Literal["ip", "ipv6"]  # ipv6 when the service has an IPv6 VIP (IPv4 clients mapped)
    size: str
    expire: str
    stick: bool
    rate: RateLimit | None


@dataclass(frozen=True)
class SyncPeer:
    """A node as its peers reach it: its name (HAProxy's local peer name) and address."""

    name: str
    address: IPAddress


@dataclass(frozen=True)
class PeersState:
    """The `peers` section every node renders alike."""

    name: str
    port: int
    peers: tuple[SyncPeer, ...]


def derive_table(svc: Service, vips: tuple[IPAddress, ...]) -> StickTable | None:
    """The table a service asks for, or None; its entries live as long as the longer need."""
    if svc.stick is None and svc.rate_limit is None:
        return None
    expire = svc.stick.expire if svc.stick is not None else None
    assert expire is not None or svc.rate_limit is not None
    return StickTable(
        key="ipv6" if any(v.version == 6 for v in vips) else "ip",
        size=svc.stick.size if svc.stick is not None else "100k",
        expire=expire or (svc.rate_limit.per if svc.rate_limit else ""),
        stick=svc.stick is not None,
        rate=svc.rate_limit,
    )


def derive_peers(inv: Inventory) -> PeersState | None:
    """Every node over its IPv4 address (else its IPv6 one), when any service has a table."""
    if not any(s.stick is not None or s.rate_limit is not None for s in inv.services):
        return None
    peers = []
    for name, node in inv.nodes.items():
        address = node.public_address or node.public_address6
        assert address is not None, "checked by check_inventory"
        peers.append(SyncPeer(name, address))
    return PeersState(PEERS_SECTION, inv.haproxy.peers_port, tuple(peers))
