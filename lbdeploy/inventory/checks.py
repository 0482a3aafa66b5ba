"""Rules that compare fields: subnets, duplicates, references between sections.

Each returns (path, message) pairs so the loader can point at the line that is wrong.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from ipaddress import ip_address

from lbdeploy.addresses import IPAddress, hostport
from lbdeploy.inventory.addressing import (
    MAX_NODES,
    Found,
    Loc,
    check_families,
    check_gateway,
    check_nodes,
    check_vip,
    owners,
)
from lbdeploy.inventory.anycast import check_anycast
from lbdeploy.inventory.model import Inventory, Service

__all__ = ["MAX_NODES", "check_inventory"]

Bind = tuple[IPAddress, int]


def check_inventory(inv: Inventory) -> list[Found]:
    """Every cross-field problem of a structurally valid inventory, in file order."""
    return [
        *check_nodes(inv),
        *check_gateway(inv),
        *_check_vrrp(inv),
        *check_anycast(inv),
        *_check_services(inv),
    ]


def _check_vrrp(inv: Inventory) -> Iterator[Found]:
    taken = owners(inv)
    seen_vrid: dict[int, int] = {}
    seen_vip: dict[IPAddress, int] = {}
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
        yield from check_vip(inv, loc, inst.vip, taken)
        if inst.vip.version == 6 and inst.auth_pass is not None:
            yield (
                (*loc, "auth_pass"),
                "an IPv6 VIP runs VRRP version 3, which has no authentication;"
                " remove auth_pass (keepalived would ignore it)",
            )
        if inst.master is not None and inst.master not in inv.nodes:
            hint = difflib.get_close_matches(inst.master, list(inv.nodes), n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            yield ((*loc, "master"), f"no node is named {inst.master!r}{suggestion}")
        yield from check_families(inv, loc, inst.vip, inst.unicast)
    yield from _check_sync(inv)


def _check_sync(inv: Inventory) -> Iterator[Found]:
    """VIPs of both families with one preferred master are one keepalived sync group, whose
    instances must agree on nopreempt."""
    first = next(iter(inv.nodes))
    by_master: dict[str, list[int]] = {}
    for i, inst in enumerate(inv.vrrp):
        by_master.setdefault(inst.master or first, []).append(i)
    for master, members in by_master.items():
        versions = {inv.vrrp[i].vip.version for i in members}
        flags = {inv.vrrp[i].nopreempt for i in members}
        if len(versions) == 2 and len(flags) == 2:
            odd = next(
                i for i in members if inv.vrrp[i].nopreempt != inv.vrrp[members[0]].nopreempt
            )
            yield (
                ("vrrp", odd, "nopreempt"),
                f"the IPv4 and IPv6 VIPs that {master} prefers move as one (a keepalived sync"
                f" group), so they must agree on nopreempt; vrrp[{members[0]}] says"
                f" {str(inv.vrrp[members[0]].nopreempt).lower()}",
            )


def _check_tls(
    loc: Loc, svc: Service, binds: list[Bind], seen_bind: dict[Bind, str]
) -> Iterator[Found]:
    """redirect_http and hsts belong to an HTTPS service; the redirect needs port 80 free."""
    for field, given in (("redirect_http", svc.redirect_http), ("hsts", svc.hsts is not None)):
        if given and svc.tls is None:
            yield ((*loc, field), f"{field} needs tls (a certificate) on this service")
        elif given and svc.mode != "http":
            yield ((*loc, field), f"{field} needs mode: http")
    if svc.redirect_http and svc.tls is not None:
        for vip, _ in binds:
            http = (vip, 80)
            if http in seen_bind:
                yield (
                    (*loc, "redirect_http"),
                    f"{hostport(vip, 80)} is already taken by service {seen_bind[http]}",
                )
            seen_bind.setdefault(http, f"{svc.name} (its redirect to https)")


def _check_services(inv: Inventory) -> Iterator[Found]:
    vips = [inst.vip for inst in inv.vrrp] + [a.vip for a in inv.anycast]
    seen_name: dict[str, int] = {}
    seen_bind: dict[Bind, str] = {}
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
        binds: list[Bind] = []
        for j, vip in enumerate(svc.vip or vips[:1]):
            if svc.vip is not None and vip not in vips:
                known = ", ".join(map(str, vips))
                yield ((*loc, "vip", j), f"{vip} is not one of the VIPs ({known})")
            elif (vip, svc.port) in binds:
                yield ((*loc, "vip", j), f"{vip} is listed twice")
                continue
            bind = (vip, svc.port)
            if bind in seen_bind:
                yield (
                    (*loc, "port"),
                    f"{hostport(*bind)} is already taken by service {seen_bind[bind]}",
                )
            seen_bind.setdefault(bind, svc.name)
            binds.append(bind)
        yield from _check_tls(loc, svc, binds, seen_bind)
        if svc.health_check is not None and svc.mode != "http":
            yield ((*loc, "health_check"), "an HTTP health check needs mode: http")
        yield from _check_servers(loc, svc, binds)


def _check_servers(loc: Loc, svc: Service, binds: list[Bind]) -> Iterator[Found]:
    seen_server: dict[str, int] = {}
    for j, server in enumerate(svc.servers):
        for vip, port in binds:
            if server.port == port and _same_address(server.address, vip):
                yield (
                    (*loc, "servers", j, "address"),
                    f"{hostport(vip, port)} is this service's own VIP and port; haproxy would "
                    "send every request back to itself",
                )
        if server.name in seen_server:
            yield (
                (*loc, "servers", j, "name"),
                f"{server.name!r} is already servers[{seen_server[server.name]}] of this service",
            )
        seen_server.setdefault(server.name, j)


def _same_address(host: str, vip: IPAddress) -> bool:
    try:
        return ip_address(host) == vip
    except ValueError:
        return False
