"""Rules that compare fields: subnets, duplicates, references between sections.

Each returns (path, message) pairs so the loader can point at the line that is wrong.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from ipaddress import IPv4Address

from lbdeploy.inventory.model import Inventory, Service

Found = tuple[tuple[str | int, ...], str]

# desired.derive_states gives the preferred master 101 and the others 100, 99, ... in
# order; keepalived takes 1..254, so the 102nd node would get priority 0.
MAX_NODES = 101


def check_inventory(inv: Inventory) -> list[Found]:
    """Every cross-field problem of a structurally valid inventory, in file order."""
    return [*_check_nodes(inv), *_check_gateway(inv), *_check_vrrp(inv), *_check_services(inv)]


def _not_unicast(address: IPv4Address) -> str | None:
    """Why `address` cannot be a node, a VIP or a gateway on a LAN, if it cannot."""
    for test, what in (
        (address.is_unspecified, "the unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved address (240.0.0.0/4)"),
    ):
        if test:
            return f"{address} is {what}, not a host on the LAN"
    return None


def _check_nodes(inv: Inventory) -> Iterator[Found]:
    seen_addr: dict[IPv4Address, str] = {}
    seen_ssh: dict[tuple[str, int | None], str] = {}
    network = inv.network
    names = list(inv.nodes)
    if len(names) > MAX_NODES:
        yield (
            ("nodes", names[MAX_NODES]),
            f"node {MAX_NODES + 1} of {len(names)}: keepalived priorities run from 101 "
            f"(preferred master) down to 1, so at most {MAX_NODES} nodes fit",
        )
    for name, node in inv.nodes.items():
        address = node.public_address
        if address is None:
            yield (
                ("nodes", name, "host"),
                f"host {node.host!r} is a name, so the node's address on "
                f"{inv.interface.name} must be given as 'address'",
            )
            continue
        field = "address" if node.address is not None else "host"
        unusable = _not_unicast(address)
        if unusable:
            yield (("nodes", name, field), unusable)
            continue
        if address in seen_addr:
            yield (
                ("nodes", name, field),
                f"{address} is also the address of node {seen_addr[address]}",
            )
        target = (node.host, node.port or inv.ssh.port)
        if target in seen_ssh and address not in seen_addr:
            yield (
                ("nodes", name, "host"),
                f"{node.host} port {target[1]} is also how node {seen_ssh[target]} is reached",
            )
        seen_ssh.setdefault(target, name)
        seen_addr.setdefault(address, name)
        if network is not None and address not in network:
            yield (
                ("nodes", name, field),
                f"{address} is outside the public subnet {network} "
                f"(from the first node and netmask {inv.interface.netmask})",
            )
        elif network is not None and address in (
            network.network_address,
            network.broadcast_address,
        ):
            yield (("nodes", name, field), f"{address} is not a host address in {network}")


def _check_gateway(inv: Inventory) -> Iterator[Found]:
    network, gateway = inv.network, inv.interface.gateway
    if network is None or gateway is None:
        return
    nodes = {n.public_address: name for name, n in inv.nodes.items()}
    loc = ("interface", "gateway")
    unusable = _not_unicast(gateway)
    if unusable:
        yield (loc, unusable)
    elif gateway not in network:
        yield (loc, f"{gateway} is outside the public subnet {network}")
    elif gateway in (network.network_address, network.broadcast_address):
        yield (loc, f"{gateway} is not a host address in {network}")
    elif gateway in nodes:
        yield (loc, f"{gateway} is the address of node {nodes[gateway]}, not of the router")


def _check_vrrp(inv: Inventory) -> Iterator[Found]:
    network = inv.network
    node_addresses = {n.public_address: name for name, n in inv.nodes.items()}
    seen_vrid: dict[int, int] = {}
    seen_vip: dict[IPv4Address, int] = {}
    for i, inst in enumerate(inv.vrrp):
        loc = ("vrrp", i)
        vrid = inst.virtual_router_id
        if vrid in seen_vrid:
            yield (
                (*loc, "virtual_router_id"),
                f"{vrid} is already used by vrrp[{seen_vrid[vrid]}];"
                " each VIP needs its own virtual_router_id",
            )
        seen_vrid.setdefault(inst.virtual_router_id, i)
        if inst.vip in seen_vip:
            yield ((*loc, "vip"), f"{inst.vip} is already the VIP of vrrp[{seen_vip[inst.vip]}]")
        seen_vip.setdefault(inst.vip, i)
        if inst.vip in node_addresses:
            yield (
                (*loc, "vip"),
                f"{inst.vip} is the address of node {node_addresses[inst.vip]}; "
                "the VIP must be an unused address",
            )
        elif unusable := _not_unicast(inst.vip):
            yield ((*loc, "vip"), unusable)
        elif inst.vip == inv.interface.gateway:
            yield ((*loc, "vip"), f"{inst.vip} is the gateway's address; the VIP must be unused")
        elif network is not None and inst.vip not in network:
            yield (
                (*loc, "vip"),
                f"{inst.vip} is outside the subnet {network} of interface {inv.interface.name}",
            )
        elif network is not None and inst.vip in (
            network.network_address,
            network.broadcast_address,
        ):
            yield ((*loc, "vip"), f"{inst.vip} is not a host address in {network}")
        if inst.master is not None and inst.master not in inv.nodes:
            hint = difflib.get_close_matches(inst.master, list(inv.nodes), n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            yield ((*loc, "master"), f"no node is named {inst.master!r}{suggestion}")


def _check_tls(
    loc: tuple[str | int, ...],
    svc: Service,
    bind: tuple[IPv4Address, int],
    seen_bind: dict[tuple[IPv4Address, int], str],
) -> Iterator[Found]:
    """redirect_http and hsts belong to an HTTPS service; the redirect needs port 80 free."""
    for field, given in (("redirect_http", svc.redirect_http), ("hsts", svc.hsts is not None)):
        if given and svc.tls is None:
            yield ((*loc, field), f"{field} needs tls (a certificate) on this service")
        elif given and svc.mode != "http":
            yield ((*loc, field), f"{field} needs mode: http")
    if svc.redirect_http and svc.tls is not None:
        http = (bind[0], 80)
        if http in seen_bind:
            yield (
                (*loc, "redirect_http"),
                f"{http[0]}:80 is already taken by service {seen_bind[http]}",
            )
        seen_bind.setdefault(http, f"{svc.name} (its redirect to https)")


def _check_services(inv: Inventory) -> Iterator[Found]:
    vips = [inst.vip for inst in inv.vrrp]
    seen_name: dict[str, int] = {}
    seen_bind: dict[tuple[IPv4Address, int], str] = {}
    for i, svc in enumerate(inv.services):
        loc = ("services", i)
        if svc.name == "stats":
            yield ((*loc, "name"), "'stats' is reserved for HAProxy's stats listener")
        elif svc.name in seen_name:
            yield (
                (*loc, "name"),
                f"{svc.name!r} is already the name of services[{seen_name[svc.name]}]",
            )
        seen_name.setdefault(svc.name, i)
        if svc.vip is not None and svc.vip not in vips:
            yield ((*loc, "vip"), f"{svc.vip} is not one of the VIPs ({', '.join(map(str, vips))})")
        bind = (svc.vip or vips[0], svc.port)
        if bind in seen_bind:
            yield (
                (*loc, "port"),
                f"{bind[0]}:{bind[1]} is already taken by service {seen_bind[bind]}",
            )
        seen_bind.setdefault(bind, svc.name)
        yield from _check_tls(loc, svc, bind, seen_bind)
        if svc.health_check is not None and svc.mode != "http":
            yield ((*loc, "health_check"), "an HTTP health check needs mode: http")
        seen_server: dict[str, int] = {}
        for j, server in enumerate(svc.servers):
            if (server.address, server.port) == (str(bind[0]), bind[1]):
                yield (
                    (*loc, "servers", j, "address"),
                    f"{bind[0]}:{bind[1]} is this service's own VIP and port; haproxy would "
                    "send every request back to itself",
                )
            if server.name in seen_server:
                yield (
                    (*loc, "servers", j, "name"),
                    f"{server.name!r} is already servers[{seen_server[server.name]}]"
                    " of this service",
                )
            seen_server.setdefault(server.name, j)
