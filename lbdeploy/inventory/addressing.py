"""Where nodes, gateways and VIPs stand on the public network, for IPv4 and IPv6 alike.

Each rule returns (path, message) pairs, as `checks.py` does, so the loader can point
at the line that is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Network, IPv6Address, IPv6Network

from lbdeploy.addresses import IPAddress
from lbdeploy.inventory.model import Inventory

Loc = tuple[str | int, ...]
Found = tuple[Loc, str]
IPNetwork = IPv4Network | IPv6Network

# desired.derive gives the preferred master 254 (core/vrrp.MASTER_PRIORITY) and the others
# 253, 252, ... in order (keepalived takes 1..254). VRRP elects among a handful of nodes
# on one LAN; 101 is far past any real pair and keeps every priority at 154 or more.
TOP_PRIORITY = 254
MAX_NODES = 101


def _not_unicast(address: IPAddress) -> str | None:
    """Why `address` cannot be a node, a VIP or a gateway on a LAN, if it cannot."""
    for test, what in (
        (address.is_unspecified, "the unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_multicast, "a multicast address"),
        (address.version == 6 and address.is_link_local, "a link-local address (fe80::/10)"),
        (address.version == 4 and address.is_reserved, "a reserved address (240.0.0.0/4)"),
    ):
        if test:
            return f"{address} is {what}, not a host on the LAN"
    return None


# RFC 2526 2: in a subnet of addresses with 64-bit EUI-64 interface identifiers (format
# prefixes 001 to 111: global and unique-local unicast), the highest 128 identifiers with
# the universal/local bit 0 are reserved subnet anycast addresses (0x7e: Mobile IPv6 home
# agents). An identifier with that bit 1, such as ffff:ffff:ffff:ffff, is a host's.
_SUBNET_ANYCAST = range(0xFDFF_FFFF_FFFF_FF80, 0xFDFF_FFFF_FFFF_FFFF + 1)


def _not_a_host(address: IPAddress, network: IPNetwork) -> str | None:
    """Why `address` is no host of `network`: IPv4's network or broadcast address, IPv6's
    subnet-router anycast address (RFC 4291 2.6.1) or a reserved subnet anycast one."""
    if isinstance(network, IPv4Network):
        if address in (network.network_address, network.broadcast_address):
            return f"{address} is not a host address in {network}"
        return None
    if address == network.network_address:
        return (
            f"{address} is the subnet-router anycast address of {network} (RFC 4291),"
            " which routers answer; not a host address"
        )
    if int(address) >> 125 and int(address) & (2**64 - 1) in _SUBNET_ANYCAST:
        return (
            f"{address} is a reserved subnet anycast address (RFC 2526: interface IDs"
            " fdff:ffff:ffff:ff80 to fdff:ffff:ffff:ffff); not a host address"
        )
    return None


def node_addresses(inv: Inventory, name: str) -> list[tuple[IPAddress, str]]:
    """The node's public addresses with the field each was written in."""
    node = inv.nodes[name]
    found: list[tuple[IPAddress, str]] = []
    for address in (node.public_address, node.public_address6):
        if address is None:
            continue
        if address == node.address6:
            field = "address6"
        else:
            field = "address" if node.address is not None else "host"
        found.append((address, field))
    return found


def _mask_of(inv: Inventory, version: int) -> str:
    iface = inv.interface
    return f"netmask {iface.netmask}" if version == 4 else f"prefix6 /{iface.prefix6}"


def check_nodes(inv: Inventory) -> Iterator[Found]:
    seen_addr: dict[IPAddress, str] = {}
    seen_ssh: dict[tuple[str, int | None], str] = {}
    networks = {4: inv.network, 6: inv.network6}
    names = list(inv.nodes)
    if len(names) > MAX_NODES:
        yield (
            ("nodes", names[MAX_NODES]),
            f"node {MAX_NODES + 1} of {len(names)}: lbdeploy takes at most {MAX_NODES} nodes,"
            f" one keepalived priority each, from {TOP_PRIORITY} (the preferred master) down"
            f" to {TOP_PRIORITY - MAX_NODES + 1}",
        )
    for name, node in inv.nodes.items():
        if node.address6 is not None and isinstance(node.address, IPv6Address):
            yield (
                ("nodes", name, "address6"),
                f"address is already IPv6 ({node.address}); address6 is the IPv6 address"
                " beside an IPv4 one",
            )
            continue
        addresses = node_addresses(inv, name)
        if not addresses:
            yield (
                ("nodes", name, "host"),
                f"host {node.host!r} is a name, so the node's address on "
                f"{inv.interface.name} must be given as 'address'",
            )
            continue
        target = (node.host, node.port or inv.ssh.port)
        if target in seen_ssh and not any(a in seen_addr for a, _ in addresses):
            yield (
                ("nodes", name, "host"),
                f"{node.host} port {target[1]} is also how node {seen_ssh[target]} is reached",
            )
        seen_ssh.setdefault(target, name)
        for address, field in addresses:
            yield from _check_node_address(inv, name, address, field, networks, seen_addr)


def _check_node_address(
    inv: Inventory,
    name: str,
    address: IPAddress,
    field: str,
    networks: dict[int, IPNetwork | None],
    seen_addr: dict[IPAddress, str],
) -> Iterator[Found]:
    loc = ("nodes", name, field)
    unusable = _not_unicast(address)
    if unusable:
        yield (loc, unusable)
        return
    if address in seen_addr:
        yield (loc, f"{address} is also the address of node {seen_addr[address]}")
    seen_addr.setdefault(address, name)
    network = networks[address.version]
    if network is None and name == _first_with(inv, address.version):
        key = "netmask" if address.version == 4 else "prefix6"
        yield (
            ("interface", key),
            f"required, but missing: node {name} has the IPv{address.version} address"
            f" {address}, and its prefix on {inv.interface.name} comes from {key}",
        )
    elif network is None:
        return
    elif address not in network:
        yield (
            loc,
            f"{address} is outside the public subnet {network} "
            f"(from the first node and {_mask_of(inv, address.version)})",
        )
    elif not_a_host := _not_a_host(address, network):
        yield (loc, not_a_host)


def _first_with(inv: Inventory, version: int) -> str | None:
    """The first node with an address of this family: where a missing mask is reported."""
    return next(
        (n for n in inv.nodes if any(a.version == version for a, _ in node_addresses(inv, n))),
        None,
    )


def owners(inv: Inventory) -> dict[IPAddress, str]:
    """Each public address of a node, and that node's name."""
    return {a: name for name in inv.nodes for a, _ in node_addresses(inv, name)}


def check_gateway(inv: Inventory) -> Iterator[Found]:
    iface = inv.interface
    nodes = owners(inv)
    if not nodes:
        return  # no node has an address yet: check_nodes says so
    for key, gateway, network in (
        ("gateway", iface.gateway, inv.network),
        ("gateway6", iface.gateway6, inv.network6),
    ):
        loc = ("interface", key)
        if gateway is not None and _first_with(inv, gateway.version) is None:
            # The interface file only routes a family the node has: it would be dropped.
            yield (
                loc,
                f"{gateway} is an IPv{gateway.version} gateway, but no node has an"
                f" IPv{gateway.version} address, so no node would use it; give the nodes"
                f" {'address6' if gateway.version == 6 else 'an IPv4 address'} or remove {key}",
            )
            continue
        if network is None or gateway is None:
            continue
        unusable = _not_unicast(gateway)
        if unusable and not (gateway.version == 6 and gateway.is_link_local):
            yield (loc, unusable)  # an IPv6 router is often known by its link-local address
        elif gateway.version == 6 and gateway.is_link_local:
            continue
        elif gateway not in network:
            yield (loc, f"{gateway} is outside the public subnet {network}")
        elif not_a_host := _not_a_host(gateway, network):
            yield (loc, not_a_host)
        elif gateway in nodes:
            yield (loc, f"{gateway} is the address of node {nodes[gateway]}, not of the router")


def check_vip(
    inv: Inventory, loc: Loc, vip: IPAddress, owners: dict[IPAddress, str]
) -> Iterator[Found]:
    network = inv.network if vip.version == 4 else inv.network6
    gateways = (inv.interface.gateway, inv.interface.gateway6)
    if vip in owners:
        yield (
            (*loc, "vip"),
            f"{vip} is the address of node {owners[vip]}; the VIP must be an unused address",
        )
    elif unusable := _not_unicast(vip):
        yield ((*loc, "vip"), unusable)
    elif vip in gateways:
        yield ((*loc, "vip"), f"{vip} is the gateway's address; the VIP must be unused")
    elif network is not None and vip not in network:
        yield (
            (*loc, "vip"),
            f"{vip} is outside the subnet {network} of interface {inv.interface.name}",
        )
    elif network is not None and (not_a_host := _not_a_host(vip, network)):
        yield ((*loc, "vip"), not_a_host)


def check_families(inv: Inventory, loc: Loc, vip: IPAddress, unicast: bool) -> Iterator[Found]:
    """VRRP for an IPv6 VIP runs over IPv6: every node needs an address of the VIP's family."""
    for name, node in inv.nodes.items():
        has = node.public_address if vip.version == 4 else node.public_address6
        if has is not None or not node_addresses(inv, name):
            continue
        key = "address" if vip.version == 4 else "address6"
        why = "unicast peers" if unicast else "VRRP adverts"
        yield (
            ("nodes", name),
            f"has no IPv{vip.version} address ({key}), but {loc[0]}[{loc[1]}] moves the"
            f" IPv{vip.version} VIP {vip}, and its {why} need one on every node",
        )
