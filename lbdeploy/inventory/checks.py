"""Rules that compare fields: subnets, duplicates, references between sections.

Each returns (path, message) pairs so the loader can point at the line that is wrong.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from lbdeploy.addresses import IPAddress
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
from lbdeploy.inventory.model import Inventory
from lbdeploy.inventory.persistence import check_persistence
from lbdeploy.inventory.services import check_services
from lbdeploy.inventory.vrrp import VrrpInstance

__all__ = ["MAX_NODES", "check_inventory"]


def check_inventory(inv: Inventory) -> list[Found]:
    """Every cross-field problem of a structurally valid inventory, in file order."""
    return [
        *check_nodes(inv),
        *check_gateway(inv),
        *_check_vrrp(inv),
        *check_anycast(inv),
        *_check_stats(inv),
        *check_services(inv),
        *check_persistence(inv),
    ]


# templates/haproxy.cfg.j2: the exporter answers on the stats listener at this path,
# by an http-request rule, which HAProxy applies before it looks at the stats uri.
METRICS_PATH = "/metrics"


def _check_stats(inv: Inventory) -> Iterator[Found]:
    stats = inv.stats
    if stats is not None and stats.metrics and stats.uri.split("?")[0] == METRICS_PATH:
        yield (
            ("stats", "uri"),
            f"{METRICS_PATH} is where the Prometheus exporter answers (metrics: true), and it"
            " comes first: the stats page would never show; choose another uri, or set"
            " metrics: false",
        )


def _check_vrrp(inv: Inventory) -> Iterator[Found]:
    taken = owners(inv)
    seen_vrid: dict[tuple[int, int], int] = {}
    seen_vip: dict[IPAddress, int] = {}
    for i, inst in enumerate(inv.vrrp):
        loc = ("vrrp", i)
        # Per family: IPv4 and IPv6 virtual routers "do not overlap" (RFC 5798, abstract),
        # and keepalived compares VRIDs within a family only (vrrp.c, 2.2.7 and 2.3.3).
        vrid = (inst.vip.version, inst.virtual_router_id)
        if vrid in seen_vrid:
            yield (
                (*loc, "virtual_router_id"),
                f"{vrid[1]} is already used by vrrp[{seen_vrid[vrid]}];"
                " each VIP needs its own virtual_router_id",
            )
        seen_vrid.setdefault(vrid, i)
        if inst.vip in seen_vip:
            yield ((*loc, "vip"), f"{inst.vip} is already the VIP of vrrp[{seen_vip[inst.vip]}]")
        seen_vip.setdefault(inst.vip, i)
        yield from check_vip(inv, loc, inst.vip, taken)
        yield from _check_instance(inv, loc, inst)
        yield from check_families(inv, loc, inst.vip, inst.unicast)
    yield from _check_sync(inv)


# keepalived keeps a VRRPv3 interval in 12 bits of centiseconds and refuses 40.96 s or
# more ("VRRPv3 advertisement interval ... out of range", vrrp.c, 2.2.7 and 2.3.3);
# VRRPv2 (IPv4) takes 1..255 s, the model's range.
MAX_ADVERT_V3 = 40


def _check_instance(inv: Inventory, loc: Loc, inst: VrrpInstance) -> Iterator[Found]:
    """What keepalived makes of one instance's own settings."""
    if inst.vip.version == 6 and inst.advert_int > MAX_ADVERT_V3:
        yield (
            (*loc, "advert_int"),
            f"{inst.advert_int} s is past the longest VRRP version 3 interval (an IPv6 VIP),"
            f" 40.95 s; keepalived would refuse it: use {MAX_ADVERT_V3} or less",
        )
    if inst.vip.version == 6 and inst.auth_pass is not None:
        yield (
            (*loc, "auth_pass"),
            "an IPv6 VIP runs VRRP version 3, which has no authentication;"
            " remove auth_pass (keepalived would ignore it)",
        )
    elif inst.advert_ms is not None and inst.auth_pass is not None:
        # vrrp.c (2.2.7, 2.3.3): "VRRP version 3 does not support authentication. Ignoring."
        yield (
            (*loc, "auth_pass"),
            "advert_ms runs VRRP version 3, which has no authentication;"
            " remove auth_pass (keepalived would ignore it), or advert_ms",
        )
    yield from _check_advert_ms(loc, inst)
    if inst.unicast and len(inv.nodes) == 1:
        # keepalived 2.2.7 -t: "A unicast keyword has been specified without any unicast
        # peers. Defaulting to multicast", and exit status 5.
        yield (
            (*loc, "unicast"),
            f"unicast adverts go to the other nodes, and {next(iter(inv.nodes))} is the only"
            " one; keepalived would fall back to multicast: remove unicast",
        )
    if inst.master is not None and inst.master not in inv.nodes:
        hint = difflib.get_close_matches(inst.master, list(inv.nodes), n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
        yield ((*loc, "master"), f"no node is named {inst.master!r}{suggestion}")


def _check_advert_ms(loc: Loc, inst: VrrpInstance) -> Iterator[Found]:
    """Sub-second adverts: VRRPv3 counts in centiseconds (vrrp.c rounds anything else)."""
    if inst.advert_ms is None:
        return
    if "advert_int" in inst.model_fields_set:
        yield (
            (*loc, "advert_ms"),
            f"advert_int ({inst.advert_int} s) is given too; give one of them",
        )
    if inst.advert_ms % 10:
        yield (
            (*loc, "advert_ms"),
            f"{inst.advert_ms} ms is not a whole number of centiseconds, the unit of VRRP"
            " version 3 (keepalived would round it); use a multiple of 10",
        )


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
